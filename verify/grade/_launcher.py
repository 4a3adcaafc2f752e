"""The sandbox's launcher: a tiny trusted supervisor between the grader and one runner child.

Started by :mod:`verify.grade.sandbox` as ``python -I -S -B _launcher.py CONFIG_JSON -- ARGV...``
(standard library only, so it starts in ~20 ms). It

* becomes a *child subreaper* (``PR_SET_CHILD_SUBREAPER``), so every process the submission
  starts - double forks, ``setsid``, daemons - is re-parented to it when its parent dies;
* forks the target (bubblewrap, or the runner itself in the fallback), which in the child
  moves the result pipe to fd 3, applies the rlimits, and, where configured, drops to an
  unprivileged uid before ``exec``;
* waits for it up to the wall-clock limit, then kills its process group, and finally kills and
  reaps every remaining descendant until it has no child left: nothing outlives a grading;
* reports the outcome (exit code or signal, timed out or not, CPU time) as one JSON line on
  its status fd. A SIGTERM from the grader does the same kill-everything clean-up.

Why a separate process rather than ``preexec_fn``: the grader grades several submissions from
threads, and ``preexec_fn`` is not safe with threads; and the subreaper must outlive the child.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
_RLIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "fsize": resource.RLIMIT_FSIZE,
    "nproc": resource.RLIMIT_NPROC,
    "core": resource.RLIMIT_CORE,
    "nofile": resource.RLIMIT_NOFILE,
}


def _children(me: int) -> list[int]:
    """PIDs whose parent is ``me`` (from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        # Field 4 is the ppid; the command name (field 2) may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(me):
            out.append(int(name))
    return out


def _kill_all(pgid: int) -> None:
    """Kill the child's process group, then every descendant until none is left; reap all."""
    me = os.getpid()
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        for pid in _children(me):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no child left at all
        if pid == 0:
            time.sleep(0.005)


def main() -> None:
    config = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1:]
    status_fd = config["status_fd"]
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: fall back to the process group alone
        libc = None
    me = os.getpid()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the target
        try:
            os.setpgid(0, 0)
            os.dup2(config["result_fd"], 3)
            os.set_inheritable(3, True)
            for name, value in config["rlimits"].items():
                resource.setrlimit(_RLIMITS[name], (value[0], value[1]))
            if config.get("gid") is not None:
                os.setgroups([])
                os.setgid(config["gid"])
            if config.get("uid") is not None:
                os.setuid(config["uid"])
            if libc is not None:  # after setuid, which clears it: die if we are killed
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != me:  # killed already, before the line above
                os._exit(127)
            os.chdir(config["cwd"])
            os.closerange(4, 65536)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.execve(argv[0], argv, config["env"])
        except BaseException as exc:  # noqa: BLE001
            os.write(2, f"verify-grade launcher: cannot start {argv[0]}: {exc}\n".encode())
        os._exit(127)
    os.close(config["result_fd"])

    terminated = []

    def on_term(signum: int, frame: object) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    timed_out = False
    status = None
    try:
        deadline = start + float(config["wall_s"])
        while True:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                break
            if time.monotonic() >= deadline:
                timed_out = True
                break
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    wall = time.monotonic() - start
    _kill_all(pid)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {
        "exit_code": os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "terminated": bool(terminated),
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_kb": usage.ru_maxrss,
    }
    try:
        os.write(status_fd, (json.dumps(report) + "\n").encode())
    except OSError:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
