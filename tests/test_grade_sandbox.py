"""The sandbox and the wire protocol, child by child (no grading): what the child can see,
what it is sent, how its answers are converted, and what is left after it."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest

from verify.grade.limits import Limits
from verify.grade.runners import RUNNER_DIR, Mount, Runner, runner_for, supported_extensions
from verify.grade.runners.python import PythonRunner
from verify.grade.sandbox import (
    SandboxError,
    available_modes,
    bwrap_unavailable_reason,
    resolve_mode,
    run_child,
)

NO_BWRAP = bwrap_unavailable_reason()
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    NO_BWRAP is not None, reason=f"bwrap: {NO_BWRAP}"))]
PY = runner_for("x.py")
FAST = Limits(wall_s=5.0, cpu_s=5)
CORRECT = Path(__file__).parent / "submissions" / "python" / "correct_snake_exact.py"


def _run(source: str, tasks: list[dict], tmp_path: Path, mode: str, limits: Limits = FAST):
    sub = tmp_path / "sub.py"
    sub.write_text(textwrap.dedent(source))
    return run_child(PY, sub, {"protocol": 1, "tasks": tasks}, limits=limits, mode=mode)


def _result(outcome, tid: str) -> dict:  # noqa: ANN001
    assert outcome.response is not None, outcome.problem
    return next(r for r in outcome.response["results"] if r["id"] == tid)


# ------------------------------------------------------------------------------ registry


def test_runner_registry() -> None:
    assert ".py" in supported_extensions()
    assert runner_for("Alice.PY").name == "python"
    with pytest.raises(ValueError,
                       match=r"no runner for 'a\.txt' \(extension '\.txt'\); expected one of"):
        runner_for("a.txt")
    assert PY.unavailable_reason() is None
    assert (RUNNER_DIR / "python_runner.py").is_file()
    assert (Path(RUNNER_DIR).parent / "PROTOCOL.md").is_file()


def test_limits_and_modes_validate() -> None:
    with pytest.raises(ValueError, match="Limits.wall_s must be a positive finite number"):
        Limits(wall_s=0)
    with pytest.raises(ValueError, match="unknown sandbox 'docker'"):
        resolve_mode("docker")
    assert resolve_mode("rlimits") == "rlimits"
    assert available_modes()["rlimits"] is None
    assert resolve_mode("auto") == ("bwrap" if NO_BWRAP is None else "rlimits")


def test_env_var_forces_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIFY_GRADE_SANDBOX", "rlimits")
    assert resolve_mode(None) == "rlimits"


# ------------------------------------------------------------------------------ protocol


@pytest.mark.parametrize("mode", MODES)
def test_protocol_round_trip(mode: str, tmp_path: Path) -> None:
    tasks = [
        {"id": "api", "op": "api"},
        {"id": "m", "op": "mse", "y_true": [[1.0, 2.0]], "y_pred": [[1.5, "nan"]]},
        {"id": "d", "op": "mse_derivative", "y_true": [[0.0], [1.0]], "y_pred": [["inf"], [2.0]]},
        {"id": "l", "op": "layer", "n_inputs": 2, "n_neurons": 1, "activation": "linear",
         "weights": [[2.0], [3.0]], "biases": [[1.0]],
         "rounds": [{"inputs": [[1.0, 1.0]], "d_outputs": [[1.0]]},
                    {"inputs": [[0.0, 1.0]], "d_outputs": None}]},
        {"id": "x", "op": "teleport"},
        {"id": "n", "op": "mlp", "layers": [
            {"n_inputs": 1, "n_neurons": 1, "activation": "relu", "weights": [[2.0]],
             "biases": [[0.0]]}],
         "rounds": [{"x": [[3.0]], "d_loss": [[1.0]]}]},
    ]
    out = run_child(PY, CORRECT, {"protocol": 1, "tasks": tasks}, limits=FAST, mode=mode)
    assert out.problem is None and out.exit_code == 0 and out.mode == mode
    api = _result(out, "api")["value"]
    assert api["names"]["mse_derivative"] == "mse_derivative" and api["MLP"] is True
    assert _result(out, "m")["value"] == {"value": "nan"}
    assert _result(out, "d")["value"] == {"value": [["inf"], [1.0]]}
    rounds = _result(out, "l")["value"]["rounds"]
    assert rounds[0]["output"] == [[6.0]] and rounds[0]["d_inputs"] == [[2.0, 3.0]]
    assert rounds[0]["d_weights"] == [[1.0], [1.0]]
    assert rounds[0]["d_biases"] == [[1.0]]  # returned with shape (n,), sent as (1, n)
    assert rounds[1]["d_weights"] is None and rounds[1]["output"] == [[4.0]]
    assert rounds[1]["weights_after"] == [[2.0], [3.0]]
    bad = _result(out, "x")
    assert bad["ok"] is False and bad["error"]["type"] == "UnknownOp"
    net = _result(out, "n")["value"]["rounds"][0]
    assert net["prediction"] == [[6.0]] and net["d_x"] == [[2.0]]
    assert net["layers"][0]["d_weights"] == [[3.0]]


def test_expected_values_are_never_sent(tmp_path: Path) -> None:
    """The request holds inputs only: a submission that dumps it learns no answer."""
    from verify.grade.cases import draw_cases

    text = json.dumps([p.case.task(p.task_id) for t in draw_cases(1) for p in t.parts])
    for key in ("expected", "d_weights", "d_inputs", "prediction", "output", "value"):
        assert f'"{key}"' not in text


def test_bad_results_name_the_field(tmp_path: Path) -> None:
    src = """
    import numpy as np
    class DenseLayer:
        def __init__(self, a, b, c):
            self.weights, self.biases = np.zeros((a, b)), np.zeros((1, b))
        def forward(self, x):
            return np.zeros((2, 2, 2))
    def mse(a, b):
        return "1.0"
    """
    tasks = [{"id": "l", "op": "layer", "n_inputs": 1, "n_neurons": 1, "activation": "relu",
              "weights": [[1.0]], "biases": [[0.0]],
              "rounds": [{"inputs": [[1.0]], "d_outputs": None}]},
             {"id": "m", "op": "mse", "y_true": [[1.0]], "y_pred": [[1.0]]},
             {"id": "d", "op": "mse_derivative", "y_true": [[1.0]], "y_pred": [[1.0]]}]
    out = _run(src, tasks, tmp_path, "rlimits")
    err = _result(out, "l")["error"]
    assert err["type"] == "BadResult"
    assert err["message"] == ("round 0: forward(inputs): expected a 2-D matrix of shape (1, 1), "
                              "got 3-D shape (2, 2, 2)")
    assert _result(out, "m")["error"]["message"].startswith(
        "mse(y_true, y_pred): expected a single number, got str")
    assert _result(out, "d")["error"] == {
        "type": "MissingAPI",
        "message": "the submission defines no mse_derivative or mseDerivative",
        "traceback": _result(out, "d")["error"]["traceback"]}


# ------------------------------------------------------------------------------ isolation


PROBE = """
import os, socket, sys
found = {
    "cwd": os.getcwd(),
    "cwd_files": sorted(os.listdir(".")),
    "env": sorted(os.environ),
    "secret": os.environ.get("GRADER_SECRET"),
    "sys_path_has_grader": any("site-packages" in p
                               or os.path.isdir(os.path.join(p, "reference_mlp"))
                               or os.path.isdir(os.path.join(p, "verify", "grade"))
                               for p in sys.path),
}
try:
    found["fd3_is_pipe"] = __import__("stat").S_ISFIFO(os.fstat(3).st_mode)
except OSError:
    found["fd3_is_pipe"] = False
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1)
    found["network"] = True
except OSError:
    found["network"] = False
try:
    import reference_mlp
    found["reference"] = True
except ImportError as exc:
    found["reference"] = str(exc)
print("PROBE", __import__("json").dumps(found))
"""


def _probe(tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("GRADER_SECRET", "hunter2")
    out = _run(PROBE, [{"id": "api", "op": "api"}], tmp_path, mode)
    line = next(ln for ln in out.output.splitlines() if ln.startswith("PROBE "))
    return json.loads(line[6:])


@pytest.mark.parametrize("mode", MODES)
def test_child_sees_a_clean_private_world(mode: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    found = _probe(tmp_path, mode, monkeypatch)
    assert found["secret"] is None and "GRADER_SECRET" not in found["env"]
    assert found["cwd_files"] == ["sub.py"]  # a private working directory with only the file
    assert found["sys_path_has_grader"] is False
    assert "not available to submissions" in str(found["reference"])
    assert found["fd3_is_pipe"] is False  # the runner took the result channel over
    if mode == "bwrap":
        assert found["cwd"] == "/sandbox"
        assert found["network"] is False


def test_fallback_drops_to_nobody_and_hides_root_only_files(tmp_path: Path) -> None:
    """As root without namespaces (Gradescope), a child whose interpreter is world-readable
    runs as nobody: files only root can read (the bundle's mode-700 grader) stay unreadable."""
    if os.geteuid() != 0 or not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("needs root and a system /usr/bin/python3")

    class Probe(Runner):
        name, extensions = "probe", (".probe",)

        def mounts(self) -> list[Mount]:
            return [Mount(tmp_path / "probe.py", "runner/probe.py")]

        def command(self, root: str, submission: str, limits: Limits) -> list[str]:
            return [os.path.realpath("/usr/bin/python3"), "-I", "-S", f"{root}/runner/probe.py"]

    secret = tmp_path / "secret.txt"
    secret.write_text("answers")
    secret.chmod(0o600)
    (tmp_path / "probe.py").write_text(textwrap.dedent(f"""
        import json, os
        try:
            open({str(secret)!r}).read(); readable = True
        except OSError:
            readable = False
        os.write(3, json.dumps({{"protocol": 1, "results": [{{"id": "p", "ok": True,
                 "value": {{"uid": os.getuid(), "readable": readable}}}}]}}).encode())
    """))
    (tmp_path / "sub.probe").write_text("")
    tmp_path.chmod(0o755)
    out = run_child(Probe(), tmp_path / "sub.probe", {"protocol": 1, "tasks": []},
                    limits=FAST, mode="rlimits")
    value = _result(out, "p")["value"]
    assert 62000 <= value["uid"] < 63000 and value["readable"] is False


@pytest.mark.parametrize("mode", MODES)
def test_invalid_channel_data_is_a_clear_problem(mode: str, tmp_path: Path) -> None:
    src = """
    import os
    for fd in range(3, 30):
        try:
            if __import__("stat").S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, b"{not json")
        except OSError:
            pass
    """
    out = _run(src, [{"id": "api", "op": "api"}], tmp_path, mode)
    assert out.response is None
    assert out.problem.startswith("the submission corrupted or did not produce results: "
                                  "the result channel held invalid data")


def test_result_channel_size_is_capped(tmp_path: Path) -> None:
    src = """
    import os
    for fd in range(3, 30):
        try:
            if __import__("stat").S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, b"[" * 100_000)
        except OSError:
            pass
    """
    out = _run(src, [{"id": "api", "op": "api"}], tmp_path, "rlimits",
               Limits(wall_s=5, cpu_s=5, result_bytes=50_000))
    assert out.response is None and "exceeded" in out.problem


@pytest.mark.parametrize("mode", MODES)
def test_cpu_limit(mode: str, tmp_path: Path) -> None:
    out = _run("while True: pass", [{"id": "api", "op": "api"}], tmp_path, mode,
               Limits(wall_s=20, cpu_s=1))
    assert out.response is None
    assert "CPU-time limit of 1 s" in out.problem
    assert out.wall_s < 10


def test_private_workdir_is_removed(tmp_path: Path) -> None:
    src = "import os\nprint('CWD', os.getcwd())\n"
    out = _run(src, [{"id": "api", "op": "api"}], tmp_path, "rlimits")
    cwd = next(ln for ln in out.output.splitlines() if ln.startswith("CWD "))[4:]
    assert not Path(cwd).exists()


def test_world_readable_helper() -> None:
    import tempfile

    from verify.grade.isolation import reachable as _world_readable

    folder = Path(tempfile.mkdtemp(prefix="verify-grade-test-"))
    try:
        f = folder / "f"
        f.write_text("x")
        folder.chmod(0o755)
        f.chmod(0o644)
        assert _world_readable(f)
        f.chmod(0o600)
        assert not _world_readable(f)
        f.chmod(0o644)
        folder.chmod(0o700)  # a folder above that others cannot enter hides everything below
        assert not _world_readable(f)
        assert stat.S_IMODE(f.stat().st_mode) == 0o644
    finally:
        import shutil

        shutil.rmtree(folder)


@pytest.mark.parametrize("payload", [b"[" * 200_000 + b"]" * 200_000,
                                     b'{"protocol": 1, "results": 5}',
                                     b'{"protocol": 2, "results": []}', b"\xff\xfe"],
                         ids=["deeply-nested", "results-not-a-list", "wrong-protocol", "not-utf8"])
def test_hostile_channel_payloads_never_crash_the_parent(payload: bytes, tmp_path: Path) -> None:
    src = f"""
    import os, stat
    for fd in range(3, 30):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, {payload!r})
                os._exit(0)
        except OSError:
            pass
    """
    out = _run(src, [{"id": "api", "op": "api"}], tmp_path, "rlimits")
    assert out.response is None
    assert out.problem.startswith("the submission corrupted or did not produce results")


def test_forged_results_in_a_valid_response_are_checked_not_trusted(tmp_path: Path) -> None:
    """A response that parses but holds nonsense values becomes failing checks, not a crash."""
    from verify.grade import grade_submission

    src = """
    import os, stat, json
    ids = ["api", "forward_linear", "forward_relu", "forward_sigmoid", "forward_tanh",
           "mse_0", "mse_1", "mse_derivative_0", "mse_derivative_1", "backward_linear",
           "backward_relu", "backward_sigmoid", "backward_tanh", "network", "rounds_mlp",
           "rounds_layer", "edge_batch1", "edge_width1", "edge_square", "edge_mixed"]
    lines = [{"event": "loaded"}] + [
        {"id": i, "ok": True, "value": {"rounds": [{"output": [[{"x": 1}]]}], "names": [1]}}
        for i in ids] + [{"event": "done"}]
    for fd in range(3, 30):  # the runner's private copy of the result channel
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fd != 1 and fd != 2:
                os.write(fd, "".join(json.dumps(m) + chr(10) for m in lines).encode())
        except OSError:
            pass
    os._exit(0)
    """
    sub = tmp_path / "forger.py"
    sub.write_text(textwrap.dedent(src))
    report = grade_submission(sub, seed=1, sandbox="rlimits", limits=FAST)
    assert report.score == 0
    assert "malformed result" in "\n".join(t.output for t in report.tests)


class _BrokenNumpyRunner(PythonRunner):
    """The Python runner with a numpy that cannot be imported (a runtime copied without its
    shared libraries, as happened to a venv under a mode-700 folder)."""

    def __init__(self, numpy_dir: Path) -> None:
        self._broken = numpy_dir

    @property
    def _numpy_dir(self) -> Path:  # type: ignore[override]
        return self._broken


@pytest.mark.parametrize("mode", MODES)
def test_a_broken_runtime_is_the_graders_fault_not_a_zero(mode: str, tmp_path: Path) -> None:
    """Every student got 0 ('the process exited with status 1') when the runner's numpy could
    not load its OpenBLAS: the grader must say its own runtime is broken instead."""
    fake = tmp_path / "site" / "numpy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('libscipy_openblas64_.so: cannot open')\n")
    for p in (tmp_path, tmp_path / "site", fake, fake / "__init__.py"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    with pytest.raises(SandboxError, match="runtime is broken.*libscipy_openblas64_"):
        run_child(_BrokenNumpyRunner(fake), CORRECT, {"protocol": 1, "tasks": []}, limits=FAST,
                  mode=mode)


def test_runtime_copies_of_one_folder_stay_side_by_side(tmp_path: Path) -> None:
    """numpy's extension modules find the wheel's OpenBLAS at ../../numpy.libs of their own
    location: copied into different folders (a venv under a mode-700 folder, as root), numpy
    could not be imported by any child and every student scored 0."""
    from verify.grade.isolation import runtime_copy

    site = tmp_path / "private" / "site-packages"
    (site / "numpy" / "_core").mkdir(parents=True)
    (site / "numpy" / "_core" / "ext.so").write_text("x")
    (site / "numpy.libs").mkdir()
    (site / "numpy.libs" / "libopenblas.so").write_text("y")
    numpy, libs = runtime_copy(site / "numpy"), runtime_copy(site / "numpy.libs")
    assert numpy.parent == libs.parent and libs.name == "numpy.libs"
    assert (numpy / "_core" / ".." / ".." / "numpy.libs" / "libopenblas.so").read_text() == "y"
    assert runtime_copy(site / "numpy") == numpy  # made once


def test_a_shared_libpython_build_is_given_its_library_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyenv's Pythons load libpython through an absolute RUNPATH into the folder they were
    built in: run as an ordinary user from a readable copy, the launcher and every child died
    with 'error while loading shared libraries: libpython3.10.so.1.0' (each student scored 0,
    and the fallback was refused as 'Landlock here: not available')."""
    from verify.grade.isolation import interpreter_env, shared_library_dir

    prefix = tmp_path / "3.10.13"
    (prefix / "lib").mkdir(parents=True)
    assert shared_library_dir(prefix) is None  # a static build needs nothing
    assert "LD_LIBRARY_PATH" not in interpreter_env(prefix)
    (prefix / "lib" / "libpython3.10.so.1.0").write_text("")
    assert shared_library_dir(prefix) == prefix / "lib"
    assert interpreter_env(prefix) == {"PATH": "/usr/bin:/bin",
                                       "LD_LIBRARY_PATH": str(prefix / "lib")}
    monkeypatch.setattr("sys.base_prefix", str(prefix))
    assert PythonRunner().env("/root", FAST)["LD_LIBRARY_PATH"] == str(prefix / "lib")


def test_a_launcher_that_cannot_start_is_named_not_taken_for_a_missing_protection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher's self-test failing to start read as 'seccomp: not tested, Landlock: not
    available': the refusal named the wrong cause."""
    from verify.grade import sandbox_host

    fake = tmp_path / "python3.10"
    fake.write_text("#!/bin/sh\necho 'python3.10: error while loading shared libraries: "
                    "libpython3.10.so.1.0: cannot open shared object file' >&2\nexit 127\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox_host, "_launcher_python", lambda: str(fake))
    found = sandbox_host.capabilities.__wrapped__()
    assert found.landlock_abi == 0
    assert found.seccomp is not None
    assert "self-test failed" in found.seccomp and "exit code 127" in found.seccomp
    assert "libpython3.10.so.1.0" in found.seccomp


def test_children_sharing_the_graders_uid_take_turns() -> None:
    """process_cap_turn: one shared-uid child at a time across threads and grader processes;
    the wait is reported (the caller's deadline moves by it); re-entrant; nothing waits for a
    child of a uid of its own."""
    import subprocess
    import sys
    import threading
    import time

    from verify.grade.isolation import process_cap_turn

    inside, most, waits = [0], [0], []
    guard = threading.Lock()

    def child() -> None:
        with process_cap_turn(True) as waited:
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            with process_cap_turn(True) as again:  # the same thread: no wait, no deadlock
                assert again == 0.0
            time.sleep(0.2)
            with guard:
                inside[0] -= 1
        waits.append(waited)

    threads = [threading.Thread(target=child) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert most[0] == 1 and len(waits) == 3
    assert sorted(waits)[-1] >= 0.3  # the last waited for the two before it

    # Another grader process of this uid holds the turn for 1.5 s: this one waits for it.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from verify.grade.isolation import process_cap_turn\n"
         "with process_cap_turn(True):\n"
         "    print('held', flush=True); time.sleep(1.5)\n"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with process_cap_turn(True) as waited:
            assert waited >= 0.5
        with process_cap_turn(False) as free:  # a uid of its own: no turn to wait for
            assert free == 0.0
    finally:
        holder.wait(timeout=30)


@pytest.mark.parametrize("probe", ["capabilities", "bwrap_unavailable_reason"])
def test_a_probe_asked_by_several_threads_at_once_runs_once(
        probe: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A grading starts its children from two threads. With lru_cache alone both ran
    capabilities(): both tried the same cgroup name, one got "File exists", and the process
    kept "no pids cgroup" for every child it started (a regrade on a loaded CI differed)."""
    import threading
    import time
    import types

    from verify.grade import sandbox_host

    calls: list[int] = []

    def slow(*_: object) -> Any:
        calls.append(threading.get_ident())
        time.sleep(0.2)  # the window in which the other threads ask
        return (None, "a stand-in") if probe == "capabilities" else None

    if probe == "capabilities":
        monkeypatch.setattr(sandbox_host, "_pids_cgroup", slow)
    else:  # bubblewrap "not installed": the probe ends there
        monkeypatch.setattr(sandbox_host, "shutil", types.SimpleNamespace(which=slow))
    measured = getattr(sandbox_host, probe)
    measured.cache_clear()
    start = threading.Barrier(4)
    got: list[Any] = []

    def ask() -> None:
        start.wait()
        got.append(measured())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        monkeypatch.undo()
        measured.cache_clear()  # the next caller measures this machine again
    assert len(calls) == 1, f"{probe} ran {len(calls)} times"
    assert len({id(g) for g in got}) == 1 and len(got) == 4


def test_the_cgroup_probe_does_not_collide_with_another_threads() -> None:
    """Two probes of one process at the same moment used to try one cgroup name."""
    import threading

    from verify.grade import sandbox_host

    parent, why = sandbox_host._pids_cgroup()
    if parent is None:
        pytest.skip(f"no pids cgroup here: {why}")
    answers: list[tuple[str | None, str | None]] = []
    start = threading.Barrier(8)

    def probe() -> None:
        start.wait()
        for _ in range(25):
            answers.append(sandbox_host._pids_cgroup())

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [(parent, None)] * 200, {a for a in answers if a != (parent, None)}
    # Only this process's probes: other graders (another worker, another checkout) probe there
    # too, and theirs may be alive at this moment.
    mine = f"verify-grade-test-{os.getpid()}-"
    assert not [p for p in Path(parent).iterdir() if p.name.startswith(mine)]
