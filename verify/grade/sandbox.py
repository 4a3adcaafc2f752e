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

The module is the sandbox's policy and entry point (what a mode needs, what was in force, run
one child); :mod:`.sandbox_host` measures the machine and picks the mode, :mod:`.sandbox_setup`
prepares a child, :mod:`.sandbox_child` follows it to its end. Their public names are
re-exported here.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .isolation import UidLease, interpreter_env, process_cap_turn, reachable, remove_tree
from .limits import Limits
from .runners import Runner
from .sandbox_child import (
    Watch,
    _drain_output,
    _kill_group,
    _kill_leftovers,
    _outcome,
    _read_channel,
    _replace_in,
)
from .sandbox_child import disk_message as disk_message
from .sandbox_host import (
    _LAUNCHER,
    _RUNTIME_BROKEN_LINE,
    _SANDBOX_CWD,
    RUNTIME_BROKEN_EXIT,
    ChildOutcome,
    SandboxError,
    SandboxMode,
    SandboxRefused,
    _launcher_python,
    _mib,
    _read_capped,
    _root,
    bwrap_unavailable_reason,
    capabilities,
)
from .sandbox_host import ENV_MODE as ENV_MODE
from .sandbox_host import SANDBOX_MODES as SANDBOX_MODES
from .sandbox_host import available_modes as available_modes
from .sandbox_host import resolve_mode as resolve_mode
from .sandbox_setup import _prepare, _Setup
from .sandbox_setup import _safe_name as _safe_name

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
        ("RLIMIT_NPROC: counted with the grader's user (its tasks when the child starts + "
         f"{limits.nproc}); children of this uid run one at a time")
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


def shares_grader_uid() -> bool:
    """True when children run as the grader's own uid (the grader is not root): they share
    one ``RLIMIT_NPROC`` count, so they run one at a time
    (:func:`~verify.grade.isolation.process_cap_turn`)."""
    return not _root()


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
        with process_cap_turn(shares_grader_uid()):  # its cap counted alone
            setup = _prepare(runner, submission, limits, mode, workdir,
                             lease.uid if lease else None, helpers,
                             best_effort=bool(missing))
            return _launch(setup, request, limits, mode, workdir,
                           limits.wall_s if wall_s is None else wall_s, watch)
    finally:
        remove_tree(workdir)
        if lease is not None:
            lease.release()


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
                env=interpreter_env(), cwd=str(workdir),
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
