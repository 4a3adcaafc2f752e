"""The sandbox's launcher: a tiny trusted supervisor between the grader and one runner child.

Started by :mod:`verify.grade.sandbox` as ``python -I -S -B _launcher.py CONFIG_JSON -- ARGV...``
(standard library only, so it starts in ~20 ms). It

* becomes a *child subreaper* (``PR_SET_CHILD_SUBREAPER``), so every process the submission
  starts - double forks, ``setsid``, daemons - is re-parented to it when its parent dies;
* forks the target (bubblewrap, or the runner itself in the fallback), which before ``exec``
  moves the result pipe to fd 3, applies the rlimits, joins a ``pids`` cgroup (where the
  grader is root and one can be had), sets ``no_new_privs``, restricts itself with Landlock
  (fallback: read the base system and the runtime, write its own folder; no signals or
  abstract sockets outside; no TCP), drops to the child's own uid, and loads a seccomp filter
  (fallback: no sockets but ``socketpair(AF_UNIX, SOCK_STREAM)``, no new session or process
  group, no namespaces, no io_uring, no ptrace). A protection the grader requires that cannot
  be applied stops the target before ``exec`` (fail closed) and is reported;
* waits for it up to the wall-clock limit, checking the size of its writable folder, then
  kills everything it started: the process group (which a fallback child cannot leave), every
  process of the child's uid, the cgroup, every remaining descendant, until none is left;
* reports the outcome (exit code or signal, timed out or not, CPU time, what was applied) as
  one JSON line on its status fd. A SIGTERM from the grader does the same clean-up.

Why a separate process rather than ``preexec_fn``: the grader grades several submissions from
threads, and ``preexec_fn`` is not safe with threads; and the subreaper must outlive the child.

The functions :func:`landlock_abi`, :func:`seccomp_library` are also used by the grader (to say
what this machine offers) by importing this module.

One file on purpose, over the project's ~500 lines per module: the sandbox executes it by path
with ``python -I -S``, outside the grader's package and before any protection is in force, so
it may import nothing but the standard library and nothing of its own; split, it would need a
package on its path (or a copy in every child's view) and a longer trusted start-up.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import signal
import stat
import sys
import time
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
_RLIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "fsize": resource.RLIMIT_FSIZE,
    "nproc": resource.RLIMIT_NPROC,
    "core": resource.RLIMIT_CORE,
    "nofile": resource.RLIMIT_NOFILE,
}

_libc: Any = None


def _lib() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


# ------------------------------------------------------------------------------ Landlock

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # every architecture
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 2, 4, 8
_FS_MAKE_CHAR, _FS_MAKE_SOCK, _FS_MAKE_BLOCK = 1 << 6, 1 << 9, 1 << 11
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The Landlock ABI version the kernel offers (0: none, or refused, e.g. by a seccomp
    profile)."""
    try:
        abi = int(_lib().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    except (OSError, AttributeError):
        return 0
    return max(abi, 0)


def _fs_handled(abi: int) -> int:
    mask = (1 << 13) - 1
    if abi >= 2:
        mask |= _FS_REFER
    if abi >= 3:
        mask |= _FS_TRUNCATE
    if abi >= 5:
        mask |= _FS_IOCTL_DEV
    return mask


def _landlock(read: list[str], write: list[str], devices: list[str]) -> dict[str, Any]:
    """Restrict this process (and what it starts) to reading ``read``, writing ``write``
    and reading/writing the device files ``devices``; with ABI >= 4 no TCP at all; with
    ABI >= 6 no signals and no abstract unix sockets outside this sandbox. Needs
    ``no_new_privs``. Returns what was applied; raises OSError if it could not be."""
    libc = _lib()
    abi = landlock_abi()
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available (kernel, or refused)")
    handled = _fs_handled(abi)
    attr = _RulesetAttr(handled, _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0,
                        _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = int(libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                               ctypes.c_uint32(0)))
    if ruleset < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"landlock_create_ruleset: {os.strerror(e)}")
    read_rights = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    write_rights = handled & ~(_FS_MAKE_CHAR | _FS_MAKE_BLOCK | _FS_MAKE_SOCK | _FS_IOCTL_DEV)
    file_only = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
    device_rights = (_FS_READ_FILE | _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0))
    rules = 0
    try:
        for paths, rights in ((read, read_rights), (write, write_rights), (devices, device_rights)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # not on this machine (e.g. /lib32): nothing to allow
                try:
                    allowed = rights & handled
                    if not stat.S_ISDIR(os.fstat(fd).st_mode):
                        allowed &= file_only
                    rule = _PathBeneath(allowed, fd)
                    if libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1),
                                    ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                        e = ctypes.get_errno()
                        raise OSError(e, f"landlock_add_rule({path}): {os.strerror(e)}")
                    rules += 1
                finally:
                    os.close(fd)
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"landlock_restrict_self: {os.strerror(e)}")
    finally:
        os.close(ruleset)
    return {"abi": abi, "rules": rules, "tcp": abi >= 4, "scoped": abi >= 6}


# ------------------------------------------------------------------------------ seccomp

_ACT_ALLOW = 0x7FFF0000


def _act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


_CMP_NE, _CMP_EQ, _CMP_MASKED_EQ = 1, 4, 7
_AF_UNIX, _SOCK_STREAM = 1, 1
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_CLONE_NEW = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
              0x40000000, 0x00000080)
_DENIED = {
    # syscall: errno. Sockets: no network, no unix sockets between children (socketpair,
    # which Node uses for its own pipes, is allowed below for AF_UNIX stream pairs only).
    "socket": errno.EACCES,
    # A new session or process group would let a process leave the group the launcher kills:
    # both "succeed" without doing anything (a daemon that detaches carries on, still inside).
    "setsid": 0, "setpgid": 0,
    # Namespaces, mounts: nothing to gain but ways around the rest.
    "unshare": errno.EPERM, "setns": errno.EPERM, "mount": errno.EPERM, "umount2": errno.EPERM,
    "pivot_root": errno.EPERM, "chroot": errno.EPERM,
    "clone3": errno.ENOSYS,  # its flags cannot be inspected; libc falls back to clone
    # io_uring can open sockets without socket(); the rest reach other processes or the kernel.
    "io_uring_setup": errno.ENOSYS, "io_uring_enter": errno.ENOSYS,
    "io_uring_register": errno.ENOSYS,
    "ptrace": errno.EPERM, "process_vm_readv": errno.EPERM, "process_vm_writev": errno.EPERM,
    "bpf": errno.EPERM, "userfaultfd": errno.EPERM, "perf_event_open": errno.EPERM,
    "keyctl": errno.EPERM, "add_key": errno.EPERM, "request_key": errno.EPERM,
}


def seccomp_library() -> Any:
    """libseccomp (``libseccomp.so.2``) through ctypes; OSError if it is not installed."""
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.restype = ctypes.c_int
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def _seccomp_filter() -> tuple[Any, Any]:
    """(library, filter context) of the fallback's filter, built but not loaded."""
    lib = seccomp_library()
    ctx = lib.seccomp_init(_ACT_ALLOW)  # other architectures (int 0x80...): killed by default
    if not ctx:
        raise OSError(errno.ENOMEM, "seccomp_init failed")

    def rule(name: str, action: int, *cmps: tuple[int, int, int, int]) -> None:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            return  # not a syscall on this architecture
        arr = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if rc < 0:
            raise OSError(-rc, f"seccomp_rule_add({name}): {os.strerror(-rc)}")

    for name, code in _DENIED.items():
        rule(name, _act_errno(code))
    deny = _act_errno(errno.EACCES)
    rule("socketpair", deny, (0, _CMP_NE, _AF_UNIX, 0))
    for kind in range(16):  # the socket type's low bits; flags (CLOEXEC, NONBLOCK) above them
        if kind != _SOCK_STREAM:
            rule("socketpair", deny, (1, _CMP_MASKED_EQ, 0xF, kind))
    for flag in _CLONE_NEW:
        rule("clone", _act_errno(errno.EPERM), (0, _CMP_MASKED_EQ, flag, flag))
    return lib, ctx


# ------------------------------------------------------------------------------ processes


def _children(me: int) -> list[int]:
    """PIDs whose parent is ``me`` (from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                text = f.read().decode("ascii", "replace")
        except OSError:
            continue
        # Field 4 is the ppid; the command name (field 2) may contain spaces and parentheses.
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(me):
            out.append(int(name))
    return out


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` (the child's own): ``kill(-1)`` from a helper running
    as that uid is atomic with respect to fork, so a process that keeps forking cannot
    outrun it."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(2):  # kill(-1) reports success even when it found none
                os.kill(-1, signal.SIGKILL)
        except BaseException:  # noqa: BLE001
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _kill_cgroup(path: str) -> None:
    """SIGKILL what is left in the cgroup (nothing, once every descendant is reaped)."""
    for _ in range(100):
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids = [int(p) for p in f.read().split()]
        except (OSError, ValueError):
            return
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.002)


def _kill_all(pgid: int, uid: int | None, cgroup: str | None) -> None:
    """Kill the child's process group, its uid, its cgroup, then every descendant until none
    is left; reap all."""
    me = os.getpid()
    for _ in range(3):  # atomic with respect to fork: a racing fork is aborted
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            break
    if uid is not None:
        _kill_uid(uid)
    deadline = time.monotonic() + 5.0
    done = False
    while not done and time.monotonic() < deadline:
        while True:  # reap all that are dead already
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                done = True  # no child left at all
                break
            if pid == 0:
                break
        if not done:
            for pid in _children(me):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.002)
    if cgroup is not None:
        _kill_cgroup(cgroup)


# ------------------------------------------------------------------------------ cgroup


def _make_cgroup(spec: dict[str, Any]) -> str:
    """A fresh ``pids`` cgroup with ``pids.max`` set; its path. OSError if none can be had."""
    # A random part too: a cgroup left by a killed launcher whose pid is reused (pid_max can be
    # 32768) must not cost this child its cgroup.
    path = os.path.join(spec["parent"], f"verify-grade-{os.getpid()}-{os.urandom(4).hex()}")
    os.mkdir(path, 0o700)
    try:
        with open(os.path.join(path, "pids.max"), "w") as f:
            f.write(str(int(spec["max"])))
    except OSError:
        os.rmdir(path)
        raise
    return path


def _remove_cgroup(path: str) -> None:
    for _ in range(200):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.005)


# ------------------------------------------------------------------------------ disk


def _usage(path: str, max_entries: int) -> tuple[int, int]:
    """(bytes on disk, entries) under ``path``, without following links, whatever the depth
    (directory descriptors, not path names, so depth is not bounded by PATH_MAX); stops
    counting past ``max_entries``."""
    used = entries = 0
    try:
        root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return 0, 0
    stack = [root]
    try:
        while stack and entries <= max_entries:
            fd = stack.pop()
            try:
                with os.scandir(fd) as it:
                    for entry in it:
                        entries += 1
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        used += st.st_blocks * 512
                        if stat.S_ISDIR(st.st_mode) and entries <= max_entries:
                            try:
                                stack.append(os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY
                                                     | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd))
                            except OSError as exc:
                                if exc.errno in (errno.EMFILE, errno.ENFILE):
                                    return used, max_entries + 1  # too deep to check: too much
            except OSError:
                pass
            finally:
                os.close(fd)
    finally:
        for fd in stack:
            os.close(fd)
    return used, entries


def _clean_shared(dirs: list[str], uid: int) -> None:
    """Remove what ``uid`` left at the top of the shared temporary folders (/tmp, ...)."""
    import subprocess

    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        doomed = []
        for name in names:
            try:
                if os.lstat(os.path.join(d, name)).st_uid == uid:
                    doomed.append(os.path.join(d, name))
            except OSError:
                pass
        if doomed:
            subprocess.run(["rm", "-rf", "--one-file-system", "--", *doomed],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


# ------------------------------------------------------------------------------ main


def _setup_target(config: dict[str, Any], argv: list[str], me: int, report_fd: int,
                  cgroup: str | None) -> None:
    """In the forked target: apply everything, then exec. Never returns."""
    applied: dict[str, Any] = {}
    try:
        os.setpgid(0, 0)
        os.dup2(config["result_fd"], 3)
        os.set_inheritable(3, True)
        for name, value in config["rlimits"].items():
            resource.setrlimit(_RLIMITS[name], (value[0], value[1]))
        if cgroup is not None:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write("0")
            applied["cgroup"] = True
        seccomp = None
        if config.get("seccomp"):
            try:
                seccomp = _seccomp_filter()  # built while the library is surely readable
            except OSError as exc:
                if config["seccomp"] == "required":
                    raise OSError(exc.errno, f"seccomp filter: {exc}") from None
                applied["seccomp"] = f"not active: {exc}"
        libc = _lib()
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        applied["no_new_privs"] = True
        ll = config.get("landlock")
        if ll:
            try:
                applied["landlock"] = _landlock(ll["read"], ll["write"], ll["devices"])
            except OSError as exc:
                if ll.get("required"):
                    raise
                applied["landlock"] = f"not active: {exc.strerror or exc}"
        if config.get("gid") is not None:
            os.setgroups([])
            os.setgid(config["gid"])
        if config.get("uid") is not None:
            os.setuid(config["uid"])
        applied["uid"] = os.getuid()
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
        if os.getppid() != me:  # killed already, before the line above
            os._exit(127)
        os.chdir(config["cwd"])
        if seccomp is not None:
            lib, ctx = seccomp
            rc = lib.seccomp_load(ctx)
            if rc < 0:
                if config["seccomp"] == "required":
                    raise OSError(-rc, f"seccomp_load: {os.strerror(-rc)}")
                applied["seccomp"] = f"not active: seccomp_load: {os.strerror(-rc)}"
            else:
                applied["seccomp"] = True
        os.write(report_fd, (json.dumps({"applied": applied}) + "\n").encode())
        os.closerange(4, 65536)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.execve(argv[0], argv, config["env"])
    except BaseException as exc:  # noqa: BLE001
        message = f"{type(exc).__name__}: {exc}"
        try:
            line = json.dumps({"applied": applied, "error": message}) + "\n"
            os.write(report_fd, line.encode())
        except OSError:
            pass
        try:
            os.write(2, f"verify-grade launcher: cannot start {argv[0]}: {message}\n".encode())
        except OSError:
            pass
    os._exit(127)


def _read_report(fd: int) -> dict[str, Any]:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except InterruptedError:
            continue
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    # An exec that failed after the "applied" line wrote a second line: keep the last.
    lines = b"".join(chunks).decode("utf-8", "replace").splitlines()
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {"error": "the target's setup report was unreadable"}


def self_test() -> dict[str, Any]:
    """What this machine lets the launcher apply, tried for real in a throw-away process:
    ``{"landlock": ABI (0: none), "seccomp": None or why it cannot be used}``."""
    out: dict[str, Any] = {"landlock": landlock_abi(), "seccomp": None}
    try:
        lib, ctx = _seccomp_filter()
    except OSError as exc:
        out["seccomp"] = f"libseccomp: {exc}"
        return out
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        message = ""
        try:
            if _lib().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                message = "prctl(PR_SET_NO_NEW_PRIVS) refused"
            else:
                rc = lib.seccomp_load(ctx)
                if rc < 0:
                    message = f"seccomp_load: {os.strerror(-rc)}"
                else:
                    try:
                        import socket

                        socket.socket().close()
                        message = "the filter was loaded but socket() still works"
                    except OSError:
                        pass
        except BaseException as exc:  # noqa: BLE001
            message = f"{type(exc).__name__}: {exc}"
        os.write(w, message.encode())
        os._exit(0)
    os.close(w)
    message = os.read(r, 4096).decode("utf-8", "replace")
    os.close(r)
    os.waitpid(pid, 0)
    out["seccomp"] = message or None
    return out


def main() -> None:
    """Supervise one target: fork it (:func:`_setup_target`), wait for it within the wall-clock
    and disk limits, kill everything it started, report on the status fd.

    Long on purpose (~100 lines): it is the launcher's whole life cycle in the order it
    happens, the sequence a reviewer has to check for leaks (descriptors closed, signals,
    every exit path reaching the clean-up and the report); the steps it calls are helpers."""
    if sys.argv[1:] == ["--self-test"]:
        print(json.dumps(self_test()))
        return
    config = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1:]
    status_fd = config["status_fd"]
    try:
        _lib().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: fall back to the process group alone
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:  # the disk check holds one descriptor per level of the child's folder tree
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 20000)), hard))
    except (ValueError, OSError):
        pass
    me = os.getpid()
    uid = config.get("uid")
    cgroup = None
    cgroup_error = None
    if config.get("cgroup"):
        try:
            cgroup = _make_cgroup(config["cgroup"])
        except OSError as exc:
            cgroup_error = f"not active: {exc.strerror or exc}"
    start = time.monotonic()
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the target
        os.close(report_r)
        _setup_target(config, argv, me, report_w, cgroup)
    os.close(report_w)
    os.close(config["result_fd"])
    setup = _read_report(report_r)
    applied = setup.get("applied", {})
    if cgroup_error is not None:
        applied["cgroup"] = cgroup_error

    terminated = []

    def on_term(signum: int, frame: object) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    timed_out = False
    disk_exceeded = None
    status = None
    disk = config.get("disk")
    next_disk = start
    try:
        deadline = start + float(config["wall_s"])
        while True:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                break
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if disk and now >= next_disk:
                used = entries = 0
                for path in disk["paths"]:
                    u, e = _usage(path, int(disk["entries"]) - entries)
                    used, entries = used + u, entries + e
                if used > int(disk["bytes"]) or entries > int(disk["entries"]):
                    disk_exceeded = {"bytes": used, "entries": entries}
                    break
                # Every 50 ms, or less often when the tree is large: at most ~20% of a core.
                next_disk = time.monotonic() + max(0.05, 4 * (time.monotonic() - now))
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    wall = time.monotonic() - start
    _kill_all(pid, uid, cgroup)
    if cgroup is not None:
        _remove_cgroup(cgroup)
    if uid is not None and config.get("clean_shared"):
        _clean_shared(config["clean_shared"], uid)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {
        "exit_code": (os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status)
                      else None),
        "signal": os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "terminated": bool(terminated),
        "disk_exceeded": disk_exceeded,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_kb": usage.ru_maxrss,
        "applied": applied,
        "setup_error": setup.get("error"),
    }
    try:
        os.write(status_fd, (json.dumps(report) + "\n").encode())
    except OSError:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
