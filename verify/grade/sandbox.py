"""Run one runner child on one submission, contained.

Two modes, same guarantees where the kernel allows:

``bwrap`` (bubblewrap, where user namespaces work)
    No network, a private PID space (everything the submission starts dies with it), a private
    ``/tmp``, a read-only view of the base system plus exactly what the runner needs (its
    interpreter, numpy, its own script); the grader, the reference implementation, the results
    file and other submissions are simply not there. Runs as uid 65534 inside the namespace
    with every capability dropped.
``rlimits`` (fallback: inside Docker, as on Gradescope, where namespaces are refused)
    The same rlimits, private working directory, clean environment and runner isolation
    (``python -I -S`` with only numpy importable, grader imports refused), and the launcher's
    subreaper kills every descendant. When the grader runs as root (Gradescope) and the
    interpreter is world-readable, the child runs as an unprivileged uid of its own
    (62000-62999, group nogroup), so files only root can read (the bundle makes the grader's
    folder mode 700) stay unreadable, and children graded at the same time cannot read each
    other's files.
    There is no network isolation in this mode. Where the child keeps the grader's uid (a
    grader run by an ordinary user) it can signal the launcher: a launcher that dies without
    reporting voids the child's results, and the grader kills what it can still find (the
    launcher's session, processes whose environment holds the child's private ``$HOME``).

Both modes: wall-clock, CPU-time, address-space (or runner-enforced) memory, file-size/output
and process-count limits; a clean environment; a private, empty working directory deleted
afterwards; stdout/stderr to a size-capped file that is never parsed; results on fd 3.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from .isolation import remove_tree
from .limits import Limits
from .runners import Runner

__all__ = [
    "SANDBOX_MODES",
    "ChildOutcome",
    "Limits",
    "available_modes",
    "bwrap_unavailable_reason",
    "resolve_mode",
    "Watch",
    "run_child",
]

SandboxMode = Literal["bwrap", "rlimits"]
SANDBOX_MODES = ("auto", "bwrap", "rlimits")
ENV_MODE = "VERIFY_GRADE_SANDBOX"
"""Environment variable that forces a mode (``bwrap``, ``rlimits`` or ``auto``)."""

_LAUNCHER = Path(__file__).resolve().parent / "_launcher.py"
_SANDBOX_ROOT = "/opt/verify"
_SANDBOX_CWD = "/sandbox"
_NOBODY = 65534
_BASE_RO = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
            "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime")


@dataclass
class ChildOutcome:
    """What came back from one child. ``response`` is the parsed fd-3 document of a runner
    that answers at the end (or None); ``events`` the lines of a streaming one; ``problem``
    says in words why there is no (valid) response or what limit was hit. ``output`` is what
    the child printed (the first ``output_bytes``; ``output_dropped`` bytes more were not kept);
    ``stopped``: a :class:`Watch` deadline passed and the grader stopped the child."""

    response: dict[str, Any] | None
    problem: str | None
    output: str
    output_dropped: int
    exit_code: int | None
    signal: int | None
    timed_out: bool
    wall_s: float
    cpu_s: float
    mode: SandboxMode
    events: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    supervisor_lost: bool = False
    garbage: int = 0
    info: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ modes


def _bwrap_base_args() -> list[str]:
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    for path in _BASE_RO:
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    args += ["--uid", str(_NOBODY), "--gid", str(_NOBODY)]
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
    return args


@lru_cache(maxsize=1)
def bwrap_unavailable_reason() -> str | None:
    """Why bubblewrap cannot be used here (not installed, namespaces refused), or None."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        proc = subprocess.run(
            [exe, *_bwrap_base_args(), "--", "/bin/true"],
            capture_output=True, timeout=10, env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start: {exc}"
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap cannot create namespaces here: {err[-1] if err else proc.returncode}"
    return None


def available_modes() -> dict[str, str | None]:
    """Each concrete mode with the reason it is unavailable (None: usable)."""
    return {"bwrap": bwrap_unavailable_reason(), "rlimits": None}


def resolve_mode(requested: str | None = None) -> SandboxMode:
    """``auto`` (default; or ``$VERIFY_GRADE_SANDBOX``) picks bwrap where it works, else rlimits.

    Asking for ``bwrap`` where it cannot work is an error that says why.
    """
    mode = (requested or os.environ.get(ENV_MODE) or "auto").strip().lower()
    if mode not in SANDBOX_MODES:
        raise ValueError(f"unknown sandbox {mode!r}; expected one of {', '.join(SANDBOX_MODES)}")
    if mode == "auto":
        return "bwrap" if bwrap_unavailable_reason() is None else "rlimits"
    if mode == "bwrap":
        reason = bwrap_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"--sandbox bwrap is not usable: {reason}; use --sandbox rlimits")
    return mode  # type: ignore[return-value]


# ------------------------------------------------------------------------------ helpers


def _world_readable(path: Path) -> bool:
    """True when uid nobody could read ``path`` (o+x on every folder above, o+r on it)."""
    try:
        p = Path(os.path.realpath(path))
        for parent in reversed(p.parents):
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(p).st_mode
        need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
        return mode & need == need
    except OSError:
        return False


_UID_POOL = range(62000, 63000)
_uid_counter = itertools.count()
_uid_lock = threading.Lock()


def _fallback_uid(command: list[str], linked: list[Path]) -> int | None:
    """An unprivileged uid for the child in the fallback, when the grader is root and
    everything the child reads allows it (the interpreter and the folders it reaches through
    symlinks are world-readable); None otherwise.

    Each child gets its own uid from ``_UID_POOL`` (no passwd entry needed), so children graded
    at the same time cannot read each other's working directories, nor signal each other."""
    if os.geteuid() != 0 or os.environ.get("VERIFY_GRADE_NO_DROP"):
        return None
    if not all(_world_readable(p) for p in [Path(command[0]), *linked]):
        return None
    with _uid_lock:
        return _UID_POOL[next(_uid_counter) % len(_UID_POOL)]


def _safe_name(path: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)[:64] or "submission"
    if stem[0].isdigit():
        stem = "s_" + stem
    return stem + path.suffix.lower()


def _read_capped(fd: int, cap: int, sink: dict[str, Any]) -> None:
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            size += len(data)
            if size > cap:
                sink["overflow"] = True
                break
            chunks.append(data)
    finally:
        os.close(fd)
    sink["data"] = b"".join(chunks)


def _signal_name(sig: int | None) -> str:
    if sig is None:
        return ""
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


# ------------------------------------------------------------------------------ run


class Watch(Protocol):
    """Follows a streaming child (``"stream": true`` in the request, PROTOCOL.md): gets every
    line the child writes on the result channel, and says by when the next one must come."""

    def event(self, message: dict[str, Any]) -> None:
        """One JSON object the child wrote (a line of the result channel)."""

    def deadline(self) -> float | None:
        """``time.monotonic()`` by which the next line must arrive, or None for no limit.
        Past it, the child is stopped (``ChildOutcome.stopped``)."""


@dataclass
class _Setup:
    """A child ready to start: its argv (launcher included), environment and paths."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    child_cwd: str
    uid: int | None
    rlimits: dict[str, tuple[int, int]]


def run_child(
    runner: Runner,
    submission: str | Path,
    request: dict[str, Any],
    *,
    limits: Limits = Limits(),
    mode: SandboxMode = "rlimits",
    wall_s: float | None = None,
    watch: Watch | None = None,
) -> ChildOutcome:
    """Run ``runner`` on ``submission`` with ``request`` on stdin, for at most ``wall_s``
    seconds (default ``limits.wall_s``); never raises for anything the submission does.
    Everything the child may have started is dead, and everything it wrote is removed, when
    this returns.

    A streaming request's result lines go to ``watch`` as they arrive (and are kept in
    ``ChildOutcome.events``); when the watch's deadline passes, the child is stopped."""
    submission = Path(submission)
    workdir = Path(tempfile.mkdtemp(prefix="verify-grade-"))
    try:
        setup = _prepare(runner, submission, limits, mode, workdir)
        return _launch(setup, request, limits, mode, workdir,
                       limits.wall_s if wall_s is None else wall_s, watch)
    finally:
        remove_tree(workdir)  # whatever the child made of it: any depth, any names


def _prepare(runner: Runner, submission: Path, limits: Limits, mode: SandboxMode,
             workdir: Path) -> _Setup:
    cwd = workdir / "sandbox"
    cwd.mkdir()
    name = _safe_name(submission)
    shutil.copyfile(submission, cwd / name)
    if mode == "bwrap":
        root, child_cwd = _SANDBOX_ROOT, _SANDBOX_CWD
        argv = _bwrap_argv(runner, cwd, runner.command(root, f"{child_cwd}/{name}", limits))
        uid = None
    else:
        rootdir = workdir / "root"
        rootdir.mkdir()
        root, child_cwd = str(rootdir), str(cwd)
        argv = runner.command(root, f"{child_cwd}/{name}", limits)
        uid = _materialise_fallback_root(runner, argv, rootdir, workdir, cwd, name)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": child_cwd,
        "TMPDIR": child_cwd if mode != "bwrap" else "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "VERIFY_RESULT_FD": "3",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        **runner.env(root, limits),
    }
    rlimits: dict[str, tuple[int, int]] = {
        "cpu": (int(limits.cpu_s), int(limits.cpu_s) + 1),
        # Files the child writes; printed output goes to a pipe and is capped by the reader.
        "fsize": (int(limits.file_bytes), int(limits.file_bytes)),
        "core": (0, 0),
        "nofile": (256, 256),
    }
    if runner.memory_limit == "rlimit_as":
        rlimits["as"] = (limits.memory_mb << 20, limits.memory_mb << 20)
    if mode != "bwrap" and uid is not None:
        # Counted per real uid: only meaningful once we are not root. (Inside bubblewrap the
        # PID namespace and the wall limit bound what a fork bomb can do.)
        rlimits["nproc"] = (limits.nproc, limits.nproc)
    return _Setup(argv, env, cwd, child_cwd, uid, rlimits)


def _bwrap_argv(runner: Runner, cwd: Path, command: list[str]) -> list[str]:
    args = [shutil.which("bwrap") or "bwrap", *_bwrap_base_args()]
    args += ["--bind", str(cwd), _SANDBOX_CWD, "--chdir", _SANDBOX_CWD]
    for m in runner.mounts():
        target = m.target if m.target.startswith("/") else f"{_SANDBOX_ROOT}/{m.target}"
        if m.kind == "tmpfs":
            args += ["--tmpfs", target]
        else:
            args += ["--ro-bind", str(m.source), target]
    return [*args, "--", *command]


def _materialise_fallback_root(runner: Runner, argv: list[str], root: Path, workdir: Path,
                               cwd: Path, name: str) -> int | None:
    """The fallback's private root (runner files copied, folders linked); the uid the child
    will run as (None: the grader's own), with the permissions that uid needs."""
    linked: list[Path] = []
    for m in runner.mounts():
        if m.kind != "ro" or m.target.startswith("/"):
            continue
        dest = root / m.target
        dest.parent.mkdir(parents=True, exist_ok=True)
        if Path(m.source).is_file():
            # The runner's own files are copied, so the grader's folder itself may be
            # unreadable to the child (mode 700, as the Gradescope bundle sets it).
            shutil.copyfile(m.source, dest)
        else:
            dest.symlink_to(m.source)
            linked.append(Path(m.source))
    uid = _fallback_uid(argv, linked)
    if uid is not None:
        os.chmod(workdir, 0o711)
        for p in root.rglob("*"):
            if not p.is_symlink():
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        os.chmod(root, 0o755)
        os.chown(cwd, uid, _NOBODY)
        os.chmod(cwd, 0o700)
        os.chown(cwd / name, uid, _NOBODY)
    return uid


def _launch(setup: _Setup, request: dict[str, Any], limits: Limits, mode: SandboxMode,
            workdir: Path, wall_s: float, watch: Watch | None) -> ChildOutcome:
    request_path = workdir / "request.json"
    request_path.write_text(json.dumps(request, allow_nan=False))
    os.chmod(request_path, 0o600)
    result_r, result_w = os.pipe()
    status_r, status_w = os.pipe()
    config = {
        "result_fd": result_w, "status_fd": status_w, "rlimits": setup.rlimits,
        "wall_s": max(0.05, wall_s), "cwd": str(setup.cwd), "env": setup.env,
        "uid": setup.uid, "gid": _NOBODY if setup.uid is not None else None,
    }
    base = getattr(sys, "_base_executable", None)  # a venv's python is a link to it
    launcher = [os.path.realpath(base) if base else sys.executable,
                "-I", "-S", "-B", str(_LAUNCHER), json.dumps(config), "--", *setup.argv]
    start = time.monotonic()
    with open(request_path, "rb") as stdin:
        try:
            proc = subprocess.Popen(
                launcher, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(result_w, status_w), start_new_session=True,
                env={"PATH": "/usr/bin:/bin"}, cwd=str(workdir),
            )
        except OSError as exc:
            for fd in (result_r, result_w, status_r, status_w):
                os.close(fd)
            return ChildOutcome(None, f"the grader could not start the sandbox: {exc}", "",
                                0, None, None, False, 0.0, 0.0, mode)
    os.close(result_w)
    os.close(status_w)
    assert proc.stdout is not None
    output_sink: dict[str, Any] = {}
    status_sink: dict[str, Any] = {}
    readers = [
        threading.Thread(target=_drain_output, args=(proc.stdout, limits.output_bytes, output_sink)),
        threading.Thread(target=_read_capped, args=(status_r, 65536, status_sink)),
    ]
    for t in readers:
        t.daemon = True
        t.start()
    rewrite = (setup.child_cwd, _SANDBOX_CWD) if setup.child_cwd != _SANDBOX_CWD else None
    channel = _read_channel(result_r, proc, limits, watch, stream=bool(request.get("stream")),
                            wall_s=wall_s, rewrite=rewrite)
    try:
        proc.wait(timeout=wall_s + 10)
    except subprocess.TimeoutExpired:  # the launcher itself is stuck: kill its whole group
        _kill_group(proc.pid)
        proc.wait()
    readers[1].join(timeout=5)
    try:
        status = json.loads(status_sink.get("data", b"").decode() or "null") or {}
    except ValueError:
        status = {}
    if not status:
        # The launcher died without reporting: killed by the submission (possible where the
        # child has the grader's uid) or by us above. Nothing supervised what it left behind.
        _kill_leftovers(proc.pid, setup.env["HOME"] if mode != "bwrap" else None)
    readers[0].join(timeout=5)
    outcome = _outcome(channel, status, output_sink, limits, mode, time.monotonic() - start,
                       setup.uid)
    if setup.child_cwd != _SANDBOX_CWD:  # the same feedback in every mode and run
        outcome.output = outcome.output.replace(setup.child_cwd, _SANDBOX_CWD)
        try:
            outcome.response = _replace_in(outcome.response, setup.child_cwd, _SANDBOX_CWD)
        except RecursionError:  # absurdly nested data from the child: leave it as sent
            pass
        if outcome.problem:
            outcome.problem = outcome.problem.replace(setup.child_cwd, _SANDBOX_CWD)
    return outcome


def _replace_in(value: Any, old: str, new: str) -> Any:
    """``value`` (parsed JSON) with ``old`` replaced by ``new`` in every string."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_in(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace_in(v, old, new) for k, v in value.items()}
    return value


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


@dataclass
class _Channel:
    """What the result channel held."""

    data: bytes = b""
    events: list[dict[str, Any]] = field(default_factory=list)
    overflow: bool = False
    stopped: bool = False
    garbage: int = 0


def _read_channel(fd: int, proc: subprocess.Popen[bytes], limits: Limits, watch: Watch | None,
                  *, stream: bool, wall_s: float, rewrite: tuple[str, str] | None) -> _Channel:
    """Read the result channel to its end (capped). In streaming mode, hand each line to
    ``watch`` and stop the child (SIGTERM to the launcher: it kills everything and reports)
    when the watch's deadline passes without a new line.

    Never blocks for long after the launcher is gone: a process that outlived it (possible
    only where the child could kill the launcher) may hold the channel open."""
    ch = _Channel()
    chunks: list[bytes] = []
    pending = b""
    size = 0
    hard = time.monotonic() + wall_s + 10
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            limit = hard
            if proc.poll() is not None:
                exited_at = exited_at or now
                limit = min(limit, exited_at + 2.0)
            if stream and watch is not None and not ch.stopped:
                deadline = watch.deadline()
                if deadline is not None and deadline < limit:
                    limit = deadline
            ready, _, _ = select.select([fd], [], [], max(0.0, min(limit - now, 0.25)))
            if not ready:
                now = time.monotonic()
                if now >= hard or (exited_at is not None and now >= exited_at + 2.0):
                    break
                if stream and watch is not None and not ch.stopped:
                    deadline = watch.deadline()
                    if deadline is not None and now >= deadline:
                        ch.stopped = True
                        _terminate(proc)
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            size += len(data)
            if size > limits.result_bytes:
                ch.overflow = True
                _terminate(proc)
                break
            if not stream:
                chunks.append(data)
                continue
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip() and not ch.stopped:
                    _take_line(line, ch, watch, rewrite)
    finally:
        os.close(fd)
    ch.data = b"".join(chunks)
    return ch


def _take_line(line: bytes, ch: _Channel, watch: Watch | None,
               rewrite: tuple[str, str] | None) -> None:
    try:
        message = json.loads(line.decode("utf-8"))
        if rewrite is not None:  # the same feedback in every mode and run
            message = _replace_in(message, *rewrite)
    except (ValueError, UnicodeDecodeError, RecursionError):
        message = None
    if not isinstance(message, dict):
        ch.garbage += 1
        return
    ch.events.append(message)
    if watch is not None:
        watch.event(message)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Ask the launcher to stop the child (it kills every descendant, then reports)."""
    try:
        proc.send_signal(signal.SIGTERM)
    except OSError:
        pass


def _drain_output(stream: Any, cap: int, sink: dict[str, Any]) -> None:
    """Keep the first ``cap`` bytes of the child's stdout+stderr; read and drop the rest, so
    that printing past the limit never blocks or fails the submission."""
    kept = bytearray()
    dropped = 0
    try:
        while True:
            data = stream.read1(65536)
            if not data:
                break
            room = cap - len(kept)
            if room > 0:
                kept += data[:room]
            dropped += max(0, len(data) - max(room, 0))
    except (OSError, ValueError):
        pass
    finally:
        stream.close()
    sink["data"], sink["dropped"] = bytes(kept), dropped


def _outcome(ch: _Channel, status: dict[str, Any], output_sink: dict[str, Any], limits: Limits,
             mode: SandboxMode, wall: float, uid: int | None) -> ChildOutcome:
    output = output_sink.get("data", b"").decode("utf-8", errors="replace")
    exit_code, sig = status.get("exit_code"), status.get("signal")
    if mode == "bwrap" and exit_code is not None and exit_code > 128:
        sig, exit_code = exit_code - 128, None  # bubblewrap reports a signalled child so
    timed_out = bool(status.get("timed_out"))
    cpu = float(status.get("cpu_s") or 0.0)

    response, problem = None, None
    if not status:
        problem = ("the sandbox's supervisor ended without reporting (killed? a submission may "
                   "not signal the grader's processes), so the child's results are not accepted")
    elif ch.overflow:
        problem = f"the result channel exceeded {limits.result_bytes >> 20} MiB"
    elif ch.data:
        try:
            response = json.loads(ch.data.decode("utf-8"))
            if not isinstance(response, dict) or response.get("protocol") != 1 \
                    or not isinstance(response.get("results"), list):
                raise ValueError("not a protocol-1 response")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            response, problem = None, f"the result channel held invalid data ({exc})"
    limit_hit = None if ch.stopped else _limit_hit(limits, timed_out, sig, cpu, status)
    if response is None and not ch.events:
        why = problem or "it produced no results"
        if limit_hit:
            why += f"; {limit_hit}"
        elif sig is not None:
            why += f"; it was killed by {_signal_name(sig)}"
        elif exit_code not in (None, 0):
            why += f"; it exited with status {exit_code}"
        problem = f"the submission corrupted or did not produce results: {why}"
    elif limit_hit and problem is None:
        problem = limit_hit
    return ChildOutcome(
        response=response, problem=problem, output=output,
        output_dropped=int(output_sink.get("dropped", 0)), exit_code=exit_code, signal=sig,
        timed_out=timed_out, wall_s=float(status.get("wall_s") or wall), cpu_s=cpu, mode=mode,
        events=ch.events, stopped=ch.stopped, supervisor_lost=not status, garbage=ch.garbage,
        info={"max_rss_kb": status.get("max_rss_kb"), "uid": uid},
    )


def _kill_leftovers(session: int, home: str | None) -> None:
    """SIGKILL every process in the launcher's session and, where ``home`` is the child's own
    (unique) ``$HOME``, every process still carrying it in its environment: what a child that
    killed its launcher may have left running. Repeated until a sweep finds none (forks race)."""
    marker = f"HOME={home}".encode() if home else None
    me = os.getpid()
    for _ in range(50):
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                if fields[0] == b"Z":  # dead already, waiting to be reaped
                    continue
                hit = int(fields[3]) == session
                if not hit and marker is not None:
                    with open(f"/proc/{name}/environ", "rb") as f:
                        hit = marker in f.read().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if hit:
                found.append(int(name))
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


def _limit_hit(limits: Limits, timed_out: bool, sig: int | None, cpu: float,
               status: dict[str, Any]) -> str | None:
    if timed_out:
        return f"it ran past the time limit of {limits.wall_s:g} s for the submission and was stopped"
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_s - 0.05):
        return f"it used more than the CPU-time limit of {limits.cpu_s} s and was stopped"
    if status.get("terminated"):
        return "the grader stopped it"
    return None
