"""Run one runner child on one submission, contained.

Two modes (``docs/sandbox.md`` has the full table of what each enforces, and with what):

``bwrap`` (bubblewrap, where user namespaces work)
    No network, a private PID space (everything the submission starts dies with it), its own
    ``/tmp`` and ``/dev/shm``, a read-only view of the base system plus exactly what the runner
    needs (its interpreter, numpy, its own script); the grader, the reference implementation,
    the results file and other submissions are simply not there. Runs as uid 65534 inside the
    namespace with every capability dropped; when the grader is root, bubblewrap itself is
    started as a uid of the child's own, so that outside the namespace the child is that uid,
    never root.
``rlimits`` (fallback: inside Docker, as on Gradescope, where namespaces are refused)
    The launcher confines the child itself: a uid of its own when the grader is root (never
    root), ``no_new_privs``, Landlock (read the base system and the runtime, write only its own
    folder; no signals, ptrace or abstract sockets outside; no TCP), a seccomp filter (no
    sockets, no new session or process group, no namespaces, no io_uring), and the process
    group that the filter keeps it in is killed at the end. Refused (:class:`SandboxRefused`)
    where that cannot be made safe for untrusted code, unless the caller says ``unsafe``.

Both modes: wall-clock, CPU-time, address-space (or runner-enforced) memory, file-size, output,
process-count and disk (bytes and files written) limits; a clean environment; a private
working directory with a copy of the submission, deleted afterwards whatever is in it; results
on fd 3; everything the child started killed before :func:`run_child` returns.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from .isolation import UidLease, reachable, remove_tree, runtime_copy
from .limits import Limits
from .runners import Runner

__all__ = [
    "SANDBOX_MODES",
    "ChildOutcome",
    "Limits",
    "SandboxError",
    "SandboxRefused",
    "available_modes",
    "bwrap_unavailable_reason",
    "capabilities",
    "check_isolation",
    "protections",
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
_FALLBACK_RO = ("/etc/ssl/openssl.cnf",)
"""Read also in the fallback: Node reads OpenSSL's configuration at start-up and stops on a
"permission denied" (bubblewrap does not mount it: "not found" is fine)."""
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")


class SandboxRefused(RuntimeError):
    """The sandbox cannot be made safe for untrusted code on this machine: the message says
    what is missing and what to do (raised before any child starts)."""


RUNTIME_BROKEN_EXIT = 86
"""python_runner.py's exit status when numpy cannot be imported before the student's code runs
(``RUNTIME_BROKEN`` there: the runner is a standalone script and cannot import this)."""
_RUNTIME_BROKEN_LINE = re.compile(r"verify-grade runner: numpy cannot be imported[^\n]*")


class SandboxError(RuntimeError):
    """A child's sandbox could not be set up (a protection the grader requires could not be
    applied, a runtime could not be provided): a fault of the grading machine, never of the
    submission."""


@dataclass
class ChildOutcome:
    """What came back from one child. ``response`` is the parsed fd-3 document of a runner
    that answers at the end (or None); ``events`` the lines of a streaming one; ``problem``
    says in words why there is no (valid) response or what limit was hit. ``output`` is what
    the child printed (the first ``output_bytes``; ``output_dropped`` bytes more were not kept);
    ``stopped``: a :class:`Watch` deadline passed and the grader stopped the child.
    ``isolation``: the mode, the uid the child ran as and the protections in force
    (:func:`protections`)."""

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
    isolation: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ the machine


def _root() -> bool:
    return os.geteuid() == 0


@dataclass(frozen=True)
class Capabilities:
    """What this machine lets the sandbox apply, measured (not configured): the Landlock ABI
    (0: none), why seccomp cannot be used (None: it can), the ``pids`` cgroup the grader can
    make children's cgroups in (None: none, ``cgroup_why`` says why)."""

    root: bool
    landlock_abi: int
    seccomp: str | None
    cgroup: str | None
    cgroup_why: str | None


def _launcher_python() -> str:
    base = getattr(sys, "_base_executable", None)  # a venv's python is a link to it
    return os.path.realpath(base) if base else sys.executable


@lru_cache(maxsize=1)
def capabilities() -> Capabilities:
    """Measured once per process (the launcher's self-test: ~30 ms)."""
    try:
        out = subprocess.run([_launcher_python(), "-I", "-S", "-B", str(_LAUNCHER), "--self-test"],
                             capture_output=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
        found = json.loads(out.stdout.decode() or "{}")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        found = {"landlock": 0, "seccomp": f"the launcher's self-test failed: {exc}"}
    cgroup, why = _pids_cgroup()
    return Capabilities(_root(), int(found.get("landlock") or 0),
                        found.get("seccomp") if "seccomp" in found else "not tested",
                        cgroup, why)


def _pids_cgroup() -> tuple[str | None, str | None]:
    """A ``pids`` cgroup the grader may create children's cgroups in, or (None, why not)."""
    if not _root():
        return None, "needs root"
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError as exc:
        return None, f"/proc/self/cgroup: {exc.strerror}"
    parent = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):  # cgroup v1
            parent = f"/sys/fs/cgroup/pids{path.rstrip('/')}"
            break
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():  # v2
            candidate = f"/sys/fs/cgroup{path.rstrip('/')}"
            try:
                if "pids" in Path(candidate, "cgroup.subtree_control").read_text().split():
                    parent = candidate
            except OSError:
                pass
    if parent is None:
        return None, "no pids controller this process may use (cgroup v2 delegates none here)"
    test = Path(parent, f"verify-grade-test-{os.getpid()}")
    try:
        test.mkdir()
        try:
            Path(test, "pids.max").write_text("8")
        finally:
            test.rmdir()
    except OSError as exc:
        return None, f"{parent}: {exc.strerror}"
    return parent, None


def _bwrap_base_args() -> list[str]:
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    for path in _BASE_RO:
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--uid", str(_NOBODY), "--gid", str(_NOBODY), "--cap-drop", "ALL"]
    return args


@lru_cache(maxsize=1)
def bwrap_unavailable_reason() -> str | None:
    """Why bubblewrap cannot be used here (not installed, namespaces refused), or None. When
    the grader is root, bubblewrap is tried as a uid of the children's own, as it will run."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    argv = [exe, *_bwrap_base_args(), "--", "/bin/true"]
    try:
        if _root():
            lease = UidLease()
            try:
                status = _run_launcher(argv, {"uid": lease.uid, "gid": lease.uid}, timeout=20)
            finally:
                lease.release()
            if status.get("exit_code") != 0:
                err = status.get("output", "").strip().splitlines()
                return ("bubblewrap cannot create namespaces as an unprivileged uid here: "
                        f"{err[-1] if err else status}")
            return None
        proc = subprocess.run(argv, capture_output=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap failed to start: {exc}"
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap cannot create namespaces here: {err[-1] if err else proc.returncode}"
    return None


def _run_launcher(argv: list[str], extra: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``argv`` through the launcher (no sandboxing beyond ``extra``); its status report
    plus ``output`` (what it printed)."""
    status_r, status_w = os.pipe()
    result_r, result_w = os.pipe()
    config = {"result_fd": result_w, "status_fd": status_w, "rlimits": {}, "wall_s": timeout,
              "cwd": "/", "env": {"PATH": "/usr/bin:/bin"}, **extra}
    try:
        proc = subprocess.run([_launcher_python(), "-I", "-S", "-B", str(_LAUNCHER),
                               json.dumps(config), "--", *argv],
                              pass_fds=(status_w, result_w), capture_output=True,
                              timeout=timeout + 10, env={"PATH": "/usr/bin:/bin"}, cwd="/")
    finally:
        os.close(status_w)
        os.close(result_w)
        os.close(result_r)
    sink: dict[str, Any] = {}
    _read_capped(status_r, 65536, sink)
    try:
        status = json.loads(sink.get("data", b"").decode() or "{}")
    except ValueError:
        status = {}
    status["output"] = (proc.stdout + proc.stderr).decode(errors="replace")
    return dict(status)


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


# ------------------------------------------------------------------------------ policy

_GRADER_DIRS = tuple(Path(__file__).resolve().parents[i] / name
                     for i, name in ((2, "reference_mlp"), (1, "grade")))


def missing_protections(mode: SandboxMode, *, batch: bool = False) -> list[str]:
    """The protections that grading untrusted code in ``mode`` needs and this machine cannot
    give, each with what to do (empty: none missing).

    ``bwrap`` needs only itself (:func:`bwrap_unavailable_reason`). ``rlimits`` needs the
    seccomp filter (no network, no sockets between children, nothing leaves its process group)
    always; Landlock when the grader is not root (the child then shares its uid: only Landlock
    keeps it from the grader's files, memory and processes; ABI 6 for signals) and for a
    batch (children reaching each other's files or /tmp); as root without Landlock, the
    grader's own files must not be readable by other users (the Gradescope bundle makes them
    root-only)."""
    if mode == "bwrap":
        reason = bwrap_unavailable_reason()
        return [f"bubblewrap: {reason}"] if reason else []
    caps = capabilities()
    missing = []
    if caps.seccomp is not None:
        missing.append(f"the seccomp filter (no network, no sockets between children): "
                       f"{caps.seccomp}; install libseccomp2 (apt-get install libseccomp2), "
                       f"or run where seccomp filters are allowed")
    if not caps.root and caps.landlock_abi < 6:
        have = f"ABI {caps.landlock_abi}" if caps.landlock_abi else "not available"
        missing.append(f"Landlock ABI 6 or newer (Linux 6.12+), which alone keeps a child that "
                       f"shares the grader's uid from its files, memory and processes (Landlock "
                       f"here: {have}); grade as root, or with bubblewrap")
    elif batch and caps.landlock_abi < 1:
        missing.append("Landlock (Linux 5.13+, enabled), which keeps students' children from "
                       "each other's files and /tmp in a batch; use bubblewrap, or grade "
                       "each submission in a container of its own (as Gradescope does)")
    elif caps.landlock_abi < 1:
        readable = [str(p) for p in _GRADER_DIRS if reachable(p)]
        if readable:
            missing.append(f"Landlock, or grader files that only root can read: "
                           f"{', '.join(readable)} can be read by every user, so a submission "
                           f"could read the reference; chmod -R go-rwx the grader's folder "
                           f"(as the Gradescope bundle does), or use bubblewrap")
    return missing


@lru_cache(maxsize=8)
def _checked(mode: SandboxMode, batch: bool) -> tuple[str, ...]:
    return tuple(missing_protections(mode, batch=batch))


def check_isolation(mode: SandboxMode, *, batch: bool = False, unsafe: bool = False) -> list[str]:
    """Refuse (:class:`SandboxRefused`) to grade untrusted code in ``mode`` when a protection
    it needs is missing here (:func:`missing_protections`), unless ``unsafe`` (the
    ``--unsafe-sandbox`` flag: only for code you trust); then return what is missing."""
    missing = list(_checked(mode, batch))
    if missing and not unsafe:
        raise SandboxRefused(
            f"the {mode} sandbox cannot isolate untrusted code on this machine: missing "
            + "; ".join(missing)
            + ". (--unsafe-sandbox grades anyway, without them: only for code you trust.)")
    return missing


# ------------------------------------------------------------------------------ protections


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def protections(mode: SandboxMode, applied: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """What was in force for a child: ``{"mode", "uid", "protections": {name: {"active": bool,
    "how": str}}}``, from what its launcher reports it applied (``applied``) and what the mode
    gives by construction. Names: ``user``, ``network``, ``sockets``, ``processes``,
    ``files``, ``process_cap``, ``temp_space``, ``cleanup``."""
    uid = applied.get("uid")
    seccomp = applied.get("seccomp") is True
    ll = applied.get("landlock") if isinstance(applied.get("landlock"), dict) else None
    scoped = bool(ll and ll.get("scoped"))
    cgroup = applied.get("cgroup") is True
    own_uid = uid is not None and uid != 0 and uid != os.geteuid()
    cap = f"{limits.nproc} processes per child: RLIMIT_NPROC of its own uid" if own_uid else \
        "RLIMIT_NPROC: shared with the grader's user (a bound, not an exact cap)"
    if cgroup:
        cap += f", and a pids cgroup (pids.max {limits.nproc})"
    disk = f"{_mib(limits.disk_bytes)} and {limits.disk_files} files in all"
    p: dict[str, tuple[bool, str]] = {}
    if mode == "bwrap":
        p["user"] = (own_uid,
                     "uid 65534 with no capabilities in a user namespace; outside it "
                     + ("a uid of its own" if own_uid else "the grader's uid"))
        p["network"] = (True, "none: a network namespace of its own")
        p["sockets"] = (True, "none shared: its own network namespace (abstract sockets), no "
                              "folder of anyone else mounted (path sockets)")
        p["processes"] = (True, "a PID namespace of its own: it sees and signals only its own")
        p["files"] = (True, "a mount namespace: the base system, the runtime (read-only) and its "
                            "own folders only")
        p["temp_space"] = (True, f"/sandbox, /tmp and /dev/shm are its own folders: {disk} "
                                 f"(watched)")
        p["cleanup"] = (True, "its PID namespace dies with it; the launcher kills its uid too"
                        if own_uid else "its PID namespace dies with it")
    else:
        p["user"] = (own_uid, "a uid of its own, no_new_privs" if own_uid else
                     "the grader's uid" + (" (Landlock confines it)" if ll else ""))
        p["network"] = (seccomp, "none: socket() refused (seccomp)" if seccomp else
                        "UDP open; " + ("TCP refused (Landlock)" if ll and ll.get("tcp") else
                                        "TCP open") + f" ({applied.get('seccomp', 'no seccomp')})")
        p["sockets"] = (seccomp, "none: socket() refused, socketpair() only for its own pipes "
                                 "(seccomp)" + ("; Landlock scopes abstract sockets" if scoped
                                                else "") if seccomp else "not blocked")
        how = []
        if own_uid:
            how.append("its own uid: cannot signal or trace other processes")
        if scoped:
            how.append("Landlock: no signals or ptrace outside its sandbox")
        p["processes"] = (own_uid or scoped, "; ".join(how) or "can signal and trace the "
                                                              "grader's processes")
        p["files"] = (ll is not None, f"Landlock (ABI {ll['abi']}): reads the base system and "
                                      f"the runtime, writes only its own folder" if ll else
                      "permissions only: it can read whatever every user may read")
        p["temp_space"] = (ll is not None, f"its own folder, the only one it can write: {disk} "
                                           f"(watched)" if ll else
                           f"its own folder: {disk} (watched); /tmp and /dev/shm are shared and "
                           f"not bounded (cleaned after)")
        p["cleanup"] = (seccomp or own_uid, ", ".join(
            (["the process group it cannot leave (seccomp)"] if seccomp else [])
            + (["every process of its uid"] if own_uid else [])) + " killed"
            if seccomp or own_uid else "only what the launcher can find")
    p["process_cap"] = (True, cap)
    return {"mode": mode, "uid": uid,
            "protections": {k: {"active": bool(v[0]), "how": v[1]} for k, v in p.items()}}


# ------------------------------------------------------------------------------ helpers


def _safe_name(path: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)[:64] or "submission"
    if stem[0].isdigit():
        stem = "s_" + stem
    suffix = "".join(c for c in path.suffix.lower() if c.isalnum() or c == ".")[:16]
    return stem + suffix


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


def _user_tasks(uid: int) -> int:
    """How many tasks (threads included: what RLIMIT_NPROC counts) ``uid`` has now."""
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                st = os.stat(f"/proc/{name}")
                if st.st_uid == uid:
                    n += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                pass
    return n


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
    """A child ready to start: its argv, environment, paths and the launcher's config."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    child_cwd: str
    uid: int | None
    rlimits: dict[str, tuple[int, int]]
    config: dict[str, Any] = field(default_factory=dict)


def run_child(
    runner: Runner,
    submission: str | Path,
    request: dict[str, Any],
    *,
    limits: Limits = Limits(),
    mode: SandboxMode = "rlimits",
    wall_s: float | None = None,
    watch: Watch | None = None,
    helpers: Sequence[Path] = (),
    unsafe: bool = False,
) -> ChildOutcome:
    """Run ``runner`` on ``submission`` with ``request`` on stdin, for at most ``wall_s``
    seconds (default ``limits.wall_s``); never raises for anything the submission does.
    Everything the child may have started is dead, and everything it wrote is removed, when
    this returns.

    A streaming request's result lines go to ``watch`` as they arrive (and are kept in
    ``ChildOutcome.events``); when the watch's deadline passes, the child is stopped.
    ``helpers`` (modules the submission imports) are copied beside it, and nothing else.

    Raises :class:`SandboxRefused` if ``mode`` cannot isolate untrusted code here (unless
    ``unsafe``), :class:`SandboxError` if this child's sandbox could not be set up."""
    missing = check_isolation(mode, unsafe=unsafe) if mode == "rlimits" else []
    submission = Path(submission)
    workdir = Path(tempfile.mkdtemp(prefix="verify-grade-"))
    lease = None
    try:
        if _root():
            try:
                lease = UidLease()
            except OSError as exc:
                raise SandboxError(f"no uid for the child: {exc}") from None
        setup = _prepare(runner, submission, limits, mode, workdir,
                         lease.uid if lease else None, helpers,
                         best_effort=bool(missing))
        return _launch(setup, request, limits, mode, workdir,
                       limits.wall_s if wall_s is None else wall_s, watch)
    finally:
        remove_tree(workdir)
        if lease is not None:
            lease.release()


def _effective(source: Path, uid: int | None) -> Path:
    """``source``, or a copy of it that ``uid`` can read (:func:`isolation.runtime_copy`)."""
    if uid is None or reachable(source):
        return source
    try:
        return runtime_copy(source)
    except OSError as exc:
        raise SandboxError(
            f"{source} is not readable by an unprivileged uid (a folder above it is private, "
            f"e.g. /root, mode 700) and no readable copy could be made ({exc}); install the "
            f"runtime under a folder every user can read (e.g. python3 -m venv /opt/venv)"
        ) from None


def _prepare(runner: Runner, submission: Path, limits: Limits, mode: SandboxMode,
             workdir: Path, uid: int | None, helpers: Sequence[Path] = (), *,
             best_effort: bool = False) -> _Setup:
    os.chmod(workdir, 0o711)  # the child's uid may pass through to its own folders, no more
    cwd = workdir / "sandbox"
    cwd.mkdir()
    name = _safe_name(submission)
    shutil.copyfile(submission, cwd / name)
    copied = [cwd / name]
    for helper in helpers:  # the modules it imports, copied beside it, and nothing else
        if not (cwd / _safe_name(helper)).exists():
            shutil.copyfile(helper, cwd / _safe_name(helper))
            copied.append(cwd / _safe_name(helper))
    writable = [cwd]
    config: dict[str, Any] = {}
    extra_env: dict[str, str] = {}
    if mode == "bwrap":
        root, child_cwd = _SANDBOX_ROOT, _SANDBOX_CWD
        tmp, shm = workdir / "tmp", workdir / "shm"
        tmp.mkdir()
        shm.mkdir()
        writable += [tmp, shm]
        argv = _bwrap_argv(runner, uid, cwd, tmp, shm,
                           runner.command(root, f"{child_cwd}/{name}", limits), workdir)
    else:
        rootdir = workdir / "root"
        rootdir.mkdir(mode=0o755)
        root, child_cwd = str(rootdir), str(cwd)
        argv = runner.command(root, f"{child_cwd}/{name}", limits)
        argv, read, extra_env = _fallback_root(runner, argv, rootdir, uid)
        caps = capabilities()
        if caps.landlock_abi >= 1:
            config["landlock"] = {"read": [*_BASE_RO, *_FALLBACK_RO, *read],
                                  "write": [str(cwd)], "devices": list(_DEVICES),
                                  "required": True}
        elif uid is not None:
            config["clean_shared"] = list(_SHARED_TMP)
        config["seccomp"] = "best" if best_effort else "required"
    for folder in writable:
        if uid is not None:
            os.chown(folder, uid, uid)
        os.chmod(folder, 0o700)
    if uid is not None:
        for path in copied:  # the submission and its helper modules
            os.chown(path, uid, uid)
    config["disk"] = {"paths": [str(p) for p in writable], "bytes": limits.disk_bytes,
                      "entries": limits.disk_files}
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
        **extra_env,
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
    if uid is not None:  # counted per real uid: exact for a uid of the child's own
        rlimits["nproc"] = (limits.nproc, limits.nproc)
        caps = capabilities()
        if caps.cgroup is not None:
            config["cgroup"] = {"parent": caps.cgroup, "max": limits.nproc}
    else:  # the grader's own uid: a bound on top of what it runs already
        n = _user_tasks(os.getuid()) + limits.nproc
        rlimits["nproc"] = (n, n)
    return _Setup(argv, env, cwd, child_cwd, uid, rlimits, config)


def _bwrap_argv(runner: Runner, uid: int | None, cwd: Path, tmp: Path, shm: Path,
                command: list[str], workdir: Path) -> list[str]:
    args = [shutil.which("bwrap") or "bwrap", *_bwrap_base_args()]
    # Its folders are on disk, where the launcher watches bytes *and* files (a tmpfs bounds
    # bytes only, and millions of empty files would cost the kernel memory).
    args += ["--bind", str(tmp), "/tmp", "--bind", str(shm), "/dev/shm",
             "--bind", str(cwd), _SANDBOX_CWD, "--chdir", _SANDBOX_CWD]
    for i, m in enumerate(runner.mounts()):
        target = m.target if m.target.startswith("/") else f"{_SANDBOX_ROOT}/{m.target}"
        if m.kind == "tmpfs":
            args += ["--tmpfs", target]
            continue
        source = Path(m.source)
        if uid is not None and not reachable(source) and source.is_file():
            # A runner's own file under a private folder: a copy bubblewrap (as uid) can read.
            copy = workdir / f"mount{i}{source.suffix}"
            shutil.copyfile(source, copy)
            os.chmod(copy, 0o644)
            source = copy
        args += ["--ro-bind", str(_effective(source, uid)), target]
    return [*args, "--", *command]


def _fallback_root(runner: Runner, argv: list[str], root: Path, uid: int | None
                   ) -> tuple[list[str], list[str], dict[str, str]]:
    """Materialise the fallback's private root (runner files copied, folders linked), with
    sources ``uid`` cannot read replaced by copies it can; returns the argv (paths into such
    copies rewritten), what the child must be allowed to read, and extra environment."""
    read = [str(root)]
    env: dict[str, str] = {}
    for m in runner.mounts():
        if m.kind != "ro":
            continue
        source = Path(m.source)
        if m.target.startswith("/"):  # wanted at its own path, which the child cannot reach
            eff = _effective(source, uid)
            read.append(str(eff))
            if eff != source:
                argv = [str(eff) + a[len(str(source)):] if a == str(source)
                        or a.startswith(str(source) + "/") else a for a in argv]
                if (eff / "lib").is_dir():  # shared libraries found by an absolute rpath
                    env["LD_LIBRARY_PATH"] = str(eff / "lib")
            continue
        dest = root / m.target
        for parent in reversed(dest.relative_to(root).parents):
            (root / parent).mkdir(mode=0o755, exist_ok=True)
        if source.is_file():
            # The runner's own files are copied, so the grader's folder itself may be
            # unreadable to the child (mode 700, as the Gradescope bundle sets it).
            shutil.copyfile(source, dest)
            os.chmod(dest, 0o644)
        else:
            eff = _effective(source, uid)
            dest.symlink_to(eff)
            read.append(str(eff))
    exe = Path(argv[0])
    read.append(str(exe))
    if uid is not None and not reachable(exe):
        raise SandboxError(f"the child's program {exe} is not readable by an unprivileged uid; "
                           f"install it under a folder every user can read")
    return argv, read, env


def _launch(setup: _Setup, request: dict[str, Any], limits: Limits, mode: SandboxMode,
            workdir: Path, wall_s: float, watch: Watch | None) -> ChildOutcome:
    request_path = workdir / "request.json"
    request_path.write_text(json.dumps(request, allow_nan=False))
    os.chmod(request_path, 0o600)
    result_r, result_w = os.pipe()
    status_r, status_w = os.pipe()
    config = {
        "result_fd": result_w, "status_fd": status_w, "rlimits": setup.rlimits,
        "wall_s": max(0.05, wall_s), "cwd": str(setup.cwd) if mode != "bwrap" else "/",
        "env": setup.env, "uid": setup.uid, "gid": setup.uid, **setup.config,
    }
    launcher = [_launcher_python(), "-I", "-S", "-B", str(_LAUNCHER), json.dumps(config), "--",
                *setup.argv]
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
            raise SandboxError(f"the grader could not start the sandbox: {exc}") from None
    os.close(result_w)
    os.close(status_w)
    assert proc.stdout is not None
    output_sink: dict[str, Any] = {}
    status_sink: dict[str, Any] = {}
    readers = [
        threading.Thread(target=_drain_output,
                         args=(proc.stdout, limits.output_bytes, output_sink)),
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
        # The launcher died without reporting: killed by the submission (possible only where
        # it shares the grader's uid without Landlock, i.e. --unsafe-sandbox) or by us above.
        _kill_leftovers(proc.pid, setup.env["HOME"] if mode != "bwrap" else None)
    readers[0].join(timeout=5)
    if status.get("setup_error"):
        raise SandboxError(f"the sandbox could not be set up: {status['setup_error']}")
    broken = _RUNTIME_BROKEN_LINE.search(output_sink.get("data", b"").decode("utf-8", "replace"))
    if status.get("exit_code") == RUNTIME_BROKEN_EXIT and not channel.data \
            and not channel.events and broken:
        raise SandboxError(f"the runner's runtime is broken in the sandbox ({broken.group(0)}); "
                           f"fix the grading machine: no submission can be graded here")
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
    outcome.isolation = protections(mode, status.get("applied") or {"uid": setup.uid}, limits)
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
    poller = select.poll()  # not select.select: a busy batch may hold descriptors past 1023
    poller.register(fd, select.POLLIN)
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
            ready = poller.poll(1000 * max(0.0, min(limit - now, 0.25)))
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
        info={"max_rss_kb": status.get("max_rss_kb"), "uid": uid,
              "disk_exceeded": bool(status.get("disk_exceeded"))},
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
    if status.get("disk_exceeded"):
        return disk_message(limits)
    if timed_out:
        return (f"it ran past the time limit of {limits.wall_s:g} s for the submission and was "
                f"stopped")
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_s - 0.05):
        return f"it used more than the CPU-time limit of {limits.cpu_s} s and was stopped"
    if status.get("terminated"):
        return "the grader stopped it"
    return None


def disk_message(limits: Limits) -> str:
    """Why a child that wrote too much was stopped (limits only: a regrade says the same)."""
    return (f"it wrote more than the disk limit allows ({_mib(limits.disk_bytes)} and "
            f"{limits.disk_files} files or folders in all, in its working directory and "
            f"temporary folders) and was stopped")
