"""``python -m verify grade --sandbox-info``: what a child can really do here, per mode.

Not configuration: a probe child is started through the same :func:`~.sandbox.run_child` as a
submission and tries, from inside, everything the sandbox is meant to stop - reach a TCP
listener and an abstract unix socket the grader opens, signal the grader and read its
environment, read a file of the grader's that every user may read and one in the grader's
``/tmp``, start more processes than the cap, leave a detached process behind, write past the
disk limit - and the grader reports what succeeded.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from .isolation import remove_tree
from .limits import Limits
from .runners import runner_for
from .sandbox import SandboxMode, disk_message, run_child

__all__ = ["CHECKS", "probe"]

CHECKS = {
    "user": "runs as neither root nor the grader's uid",
    "network": "cannot reach a TCP listener or a UDP socket of the grader's (127.0.0.1)",
    "sockets": "cannot reach an abstract unix socket of the grader's",
    "processes": "cannot signal the grader or read its environment",
    "files": "cannot read a file of the grader's that every user may read",
    "temp_space": "cannot see the grader's /tmp; stopped past the disk limit",
    "process_cap": "cannot start more processes than the cap",
    "cleanup": "nothing it started survives it",
}
"""Each protection the probe tries, and what "active" means."""

_PROBE = r'''
import json, os, socket, sys, time

def say(key, **data):
    print("PROBE " + json.dumps({"check": key, **data}), flush=True)

say("user", uid=os.getuid(), gid=os.getgid())
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", __PORT__))
        say("network", reached=True, how="connected to the grader's listener on 127.0.0.1")
    except OSError as e:
        say("network", reached=False, how=f"socket() worked, connect failed: {e.strerror}")
except OSError as e:
    say("network", reached=False, how=f"socket() refused: {e.strerror}")
try:
    d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    d.sendto(b"probe", ("127.0.0.1", __UDP__))
    say("udp", sent=True, how="UDP: sent a datagram to 127.0.0.1")
except OSError as e:
    say("udp", sent=False, how=f"UDP: {e.strerror}")
try:
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        u.connect(__ABSTRACT__)
        say("sockets", reached=True, how="connected to the grader's abstract socket")
    except OSError as e:
        say("sockets", reached=False, how=f"socket() worked, connect failed: {e.strerror}")
except OSError as e:
    say("sockets", reached=False, how=f"socket() refused: {e.strerror}")
how = []
try:
    os.kill(__GRADER__, 0)
    signalled = True
    how.append("signalled the grader")
except OSError as e:
    signalled = False
    how.append(f"kill(grader) failed: {e.strerror}")
try:
    with open(f"/proc/{__GRADER__}/environ", "rb") as f:
        f.read(16)
    environ = True
    how.append("read its /proc/PID/environ")
except OSError as e:
    environ = False
    how.append(f"its environment: {e.strerror}")
say("processes", reached=signalled or environ, how="; ".join(how))
try:
    with open(__SECRET__) as f:
        f.read()
    say("files", reached=True, how="read a world-readable file of the grader's")
except OSError as e:
    say("files", reached=False, how=f"a world-readable file of the grader's: {e.strerror}")
try:
    with open(__PLANTED__) as f:
        f.read()
    say("tmp", reached=True, how="read a file in the grader's /tmp")
except OSError as e:
    say("tmp", reached=False, how=f"a file in the grader's /tmp: {e.strerror}")
r, w = os.pipe()
kids = []
for _ in range(__NPROC__ + 16):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.strerror
        break
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    kids.append(pid)
else:
    err = None
os.close(w)
for pid in kids:
    os.waitpid(pid, 0)
say("process_cap", started=len(kids), how=f"fork failed after {len(kids)} children: {err}"
    if err else f"started {len(kids)} children")
if os.fork() == 0:
    if os.fork() == 0:
        try:
            os.setsid()
        except OSError:
            pass
        os.execv("/bin/sleep", ["sleep", __MARKER__])
    os._exit(0)
os.wait()
say("disk", phase="start")
written = 0
try:
    for i in range(64):
        with open(f"probe-{i}.bin", "wb") as f:
            f.write(b"\0" * ((1 << 20) - 1))
            f.flush()
            os.fsync(f.fileno())
        written += (1 << 20) - 1
        time.sleep(0.06)  # let the launcher's watch see it
    say("disk", stopped=False, how=f"wrote {written >> 20} MiB")
except OSError as e:
    say("disk", stopped=True, how=f"a write failed after {written >> 20} MiB: {e.strerror}")
'''


def _survivors(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found


def probe(mode: SandboxMode, *, unsafe: bool = False, limits: Limits | None = None
          ) -> dict[str, Any]:
    """Start a probe child in ``mode`` and return ``{"mode", "uid", "checks": {name:
    {"active": bool, "how": str}}, "problem": str | None}`` (names: :data:`CHECKS`).
    ``limits`` default to the usual ones with an 8 MiB disk limit (so the probe is quick).
    Raises what :func:`~.sandbox.run_child` raises (a sandbox refused or broken here)."""
    limits = limits or Limits(wall_s=20, disk_bytes=8 << 20)
    token = secrets.token_hex(6)
    marker = f"7{int(token, 16) % 10**6:06d}.5"
    folder = Path(tempfile.mkdtemp(prefix="verify-grade-probe-"))
    planted = Path(tempfile.gettempdir()) / f"verify-grade-probe-{token}"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.chmod(folder, 0o755)
        secret = folder / "secret.txt"
        secret.write_text("grader secret\n")
        os.chmod(secret, 0o644)
        planted.write_text("grader /tmp\n")
        os.chmod(planted, 0o644)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        abstract = f"\0verify-grade-probe-{token}"
        unix.bind(abstract)
        unix.listen(8)
        for s in (listener, unix):
            threading.Thread(target=_accept, args=(s,), daemon=True).start()
        values = {"PORT": listener.getsockname()[1], "UDP": udp.getsockname()[1],
                  "ABSTRACT": repr(abstract), "GRADER": os.getpid(), "SECRET": repr(str(secret)),
                  "PLANTED": repr(str(planted)), "NPROC": limits.nproc, "MARKER": repr(marker)}
        source = _PROBE
        for key, value in values.items():
            source = source.replace(f"__{key}__", str(value))
        sub = folder / "probe.py"
        sub.write_text(source)
        os.chmod(sub, 0o644)
        outcome = run_child(runner_for(sub), sub, {"protocol": 1, "tasks": []}, limits=limits,
                            mode=mode, unsafe=unsafe)
        survivors = _survivors(marker)
        try:
            udp_reached = udp.recv(64) == b"probe"
        except OSError:
            udp_reached = False
    finally:
        listener.close()
        udp.close()
        unix.close()
        planted.unlink(missing_ok=True)
        remove_tree(folder)
    found: dict[str, dict[str, Any]] = {}
    for line in outcome.output.splitlines():
        if line.startswith("PROBE "):
            try:
                data = json.loads(line[6:])
                found.setdefault(data.pop("check"), {}).update(data)
            except (ValueError, KeyError):
                pass
    return {"mode": mode, "uid": outcome.isolation.get("uid"),
            "checks": _verdicts(found, outcome.info, limits, survivors,
                                outcome.isolation.get("uid"), udp_reached),
            "problem": outcome.problem if not found else None}


def _accept(s: socket.socket) -> None:
    try:
        while True:
            conn, _ = s.accept()
            conn.close()
    except OSError:
        pass


def _verdicts(found: dict[str, dict[str, Any]], info: dict[str, Any], limits: Limits,
              survivors: list[int], outer_uid: int | None, udp_reached: bool
              ) -> dict[str, dict[str, Any]]:
    def v(active: bool, how: str) -> dict[str, Any]:
        return {"active": bool(active), "how": how}

    out: dict[str, dict[str, Any]] = {}
    user = found.get("user")
    if user is None or outer_uid is None:
        out["user"] = v(False, "the probe did not run")
    else:
        inner = user.get("uid")
        how = f"uid {outer_uid}" + (f" (uid {inner} inside its namespace)" if inner != outer_uid
                                    else "")
        if outer_uid == 0:
            how += ": root!"
        elif outer_uid == os.getuid():
            how += ": the grader's own uid"
        out["user"] = v(outer_uid not in (0, os.getuid()), how)
    for key in ("network", "sockets", "processes", "files"):
        got = found.get(key)
        out[key] = v(got is not None and not got.get("reached"),
                     got.get("how", "") if got else "not measured (the probe stopped)")
    udp = found.get("udp", {})
    if udp_reached:
        said_udp = "UDP: a datagram reached the grader"
    elif udp.get("sent"):
        said_udp = "UDP: sent, but nothing reached the grader"
    else:
        said_udp = udp.get("how", "UDP: not measured")
    out["network"]["how"] = "TCP: " + out["network"]["how"] + "; " + said_udp
    out["network"]["active"] = out["network"]["active"] and bool(udp) and not udp_reached
    tmp, disk = found.get("tmp"), found.get("disk", {})
    stopped = info.get("disk_exceeded") or disk.get("stopped")
    said = [tmp.get("how", "") if tmp else "/tmp not measured"]
    if info.get("disk_exceeded"):
        said.append(f"stopped: {disk_message(limits)}")
    elif disk.get("how"):
        said.append(disk["how"])
    out["temp_space"] = v(tmp is not None and not tmp.get("reached") and bool(stopped),
                          "; ".join(said))
    cap = found.get("process_cap")
    out["process_cap"] = v(cap is not None and cap.get("started", 1 << 30) < limits.nproc + 16,
                           cap.get("how", "") if cap else "not measured")
    out["cleanup"] = v(not survivors, "no process of it left" if not survivors else
                       f"{len(survivors)} process(es) of it survived")
    return out
