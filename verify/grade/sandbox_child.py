"""Following one child: its result channel and output, its end, and what came back."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .limits import Limits
from .sandbox_host import ChildOutcome, SandboxMode, _mib


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


class Watch(Protocol):
    """Follows a streaming child (``"stream": true`` in the request, PROTOCOL.md): gets every
    line the child writes on the result channel, and says by when the next one must come."""

    def event(self, message: dict[str, Any]) -> None:
        """One JSON object the child wrote (a line of the result channel)."""

    def deadline(self) -> float | None:
        """``time.monotonic()`` by which the next line must arrive, or None for no limit.
        Past it, the child is stopped (``ChildOutcome.stopped``)."""


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
