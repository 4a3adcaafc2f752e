"""scripts/setup.sh picks where torch comes from (``--dry-run``: the real script, no install).

Plain PyPI's ``torch==2.13.0`` is the CUDA build (~2.6 GB with ~20 nvidia-* packages and triton);
PyTorch's CPU wheel index has the CPU build. setup.sh installs torch from the CPU index when it
answers within a few seconds, else the plain pin, and VERIFY_TORCH_INDEX chooses outright. Here a
server on 127.0.0.1 stands in for the CPU index (VERIFY_TORCH_CPU_INDEX points at it).
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"
TORCH = "torch==2.13.0"
PROJECT = 'python -m pip install -e .[test]'
PROBE_S = 4  # setup.sh's PROBE_S


def _dry_run(**env_vars: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
           and not k.startswith("VERIFY_TORCH")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(env_vars)
    start = time.monotonic()
    result = subprocess.run(["bash", str(SETUP), "--dry-run"], env=env, capture_output=True,
                            text=True, timeout=60)
    return result, time.monotonic() - start


def _pip_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


class _Index(http.server.BaseHTTPRequestHandler):
    status = 200
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        type(self).requests.append(self.path)
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body><a href='torch-2.13.0+cpu.whl'>torch</a></body></html>")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[tuple[str, type[_Index]]]:
    """A package index on 127.0.0.1 that answers (set ``.status`` for its torch page)."""
    handler = type("Index", (_Index,), {"status": 200, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_index() -> Iterator[str]:
    """An index that accepts connections and never answers (a firewall that drops, a hung proxy)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/whl/cpu"
    finally:
        sock.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_reachable_cpu_index_installs_torch_from_it_then_the_project(index) -> None:
    url, handler = index
    result, _ = _dry_run(VERIFY_TORCH_CPU_INDEX=url)
    assert _pip_lines(result) == [f"python -m pip install --index-url {url} {TORCH}", PROJECT]
    assert handler.requests == ["/whl/cpu/torch/"]


@pytest.mark.parametrize("where", ["silent", "closed port", "no torch there"])
def test_an_unreachable_cpu_index_costs_seconds_and_falls_back_to_the_pin(
        where: str, index, silent_index: str) -> None:
    url, handler = index
    if where == "silent":
        url = silent_index
    elif where == "closed port":
        url = f"http://127.0.0.1:{_closed_port()}/whl/cpu"
    else:
        handler.status = 404
    result, elapsed = _dry_run(VERIFY_TORCH_CPU_INDEX=url)
    assert _pip_lines(result) == [f"python -m pip install {TORCH}", PROJECT]
    assert f"CPU wheel index ({url}) is unreachable" in result.stderr
    assert "CUDA build" in result.stderr and "VERIFY_TORCH_INDEX=cpu" in result.stderr
    assert elapsed < PROBE_S + 4, f"the probe took {elapsed:.1f}s"  # pip would retry for minutes
    if where != "silent":
        assert elapsed < PROBE_S


def test_verify_torch_index_chooses_without_probing(index, silent_index: str) -> None:
    url, handler = index
    # cpu: the CPU index even when it does not answer now (no wait: it is not probed)
    result, elapsed = _dry_run(VERIFY_TORCH_INDEX="cpu", VERIFY_TORCH_CPU_INDEX=silent_index)
    assert _pip_lines(result)[0] == f"python -m pip install --index-url {silent_index} {TORCH}"
    assert elapsed < PROBE_S
    # pypi: the plain pin even when the CPU index answers
    result, _ = _dry_run(VERIFY_TORCH_INDEX="pypi", VERIFY_TORCH_CPU_INDEX=url)
    assert _pip_lines(result) == [f"python -m pip install {TORCH}", PROJECT]
    assert handler.requests == [] and result.stderr == ""
    # a URL: that index
    result, _ = _dry_run(VERIFY_TORCH_INDEX="https://mirror.example/torch-cpu")
    assert _pip_lines(result)[0] == f"python -m pip install --index-url " \
                                    f"https://mirror.example/torch-cpu {TORCH}"
    result, _ = _dry_run(VERIFY_TORCH_INDEX="gpu")
    assert result.returncode == 2 and "must be auto, cpu, pypi or an index URL" in result.stderr


def test_the_cpu_index_is_pytorchs() -> None:
    result, _ = _dry_run(VERIFY_TORCH_INDEX="cpu")
    assert _pip_lines(result)[0] == \
        f"python -m pip install --index-url https://download.pytorch.org/whl/cpu {TORCH}"
