"""Who a child runs as and what it can reach: per-child uids, a runtime it can read, clean-up.

* When the grader is root, every child runs as a uid of its own (:class:`UidLease`, 62000-62999,
  group the same number), in both sandboxes, never as root: a lock file per uid keeps two
  grader processes on one machine from handing out the same uid at the same time.
* That uid must be able to read what the child runs: the interpreter, its standard library,
  numpy, the runner's files. Where one of them sits under a folder it cannot enter (pyenv or a
  venv under ``/root``, mode 700), :func:`runtime_copy` makes a copy it can read (hard links
  where the file system allows, so it costs ~0.2 s and no space), once per grader process, in
  a folder that only root can write and that is removed when the grader exits.
* When the grader is not root, every child shares its uid, and with it one ``RLIMIT_NPROC``
  count: :func:`process_cap_turn` runs such children one at a time, so that one child's
  processes never take another's room.
* :func:`remove_tree` removes whatever a child left (any depth, any file names), never raising.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["UID_POOL", "UidLease", "interpreter_env", "process_cap_turn", "reachable",
           "remove_tree", "runtime_copy", "shared_library_dir"]

UID_POOL = range(62000, 63000)
"""The uids children run as when the grader is root (no passwd entry needed)."""

_lock = threading.Lock()
_next = [os.getpid() % len(UID_POOL)]


def _lock_dir() -> Path:
    """A folder only root can write, shared by every grader process on the machine."""
    path = Path(tempfile.gettempdir()) / "verify-grade-uids"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        # Someone else made it (a child, before Landlock was there?): do not trust it.
        raise OSError(f"{path} is not a folder that only root can write; remove it")
    return path


class UidLease:
    """A uid from :data:`UID_POOL` that no other child on this machine holds until
    :meth:`release` (a ``flock`` on ``<tmp>/verify-grade-uids/<uid>``, dropped if the grader
    dies). OSError if every uid is taken or the lock folder cannot be trusted."""

    def __init__(self) -> None:
        folder = _lock_dir()
        for _ in range(len(UID_POOL)):
            with _lock:
                uid = UID_POOL[_next[0] % len(UID_POOL)]
                _next[0] += 1
            fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise OSError(f"all {len(UID_POOL)} child uids are in use")

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


_turn = threading.Lock()
_turn_held = threading.local()


def _turn_file() -> int | None:
    """An open descriptor of ``<tmp>/verify-grade-nproc-<uid>``, the lock file every grader
    process of this uid takes turns on; None where it cannot be trusted (not a plain file of
    this uid: made by another user), and then the turns are kept within this process only."""
    path = Path(tempfile.gettempdir()) / f"verify-grade-nproc-{os.getuid()}"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
        os.close(fd)
        return None
    return fd


@contextmanager
def process_cap_turn(shared: bool) -> Iterator[float]:
    """Within it, no other child that shares the grader's uid runs (``shared``: this one
    would; otherwise nothing is waited for). Yields the seconds spent waiting for the turn, so
    that a caller can extend its deadlines by them. Re-entrant within a thread.

    Why: ``RLIMIT_NPROC`` counts every task of the real uid. Children of the grader's own uid
    (the grader not root) draw on one count: two at once, one child's processes (a student's
    fork loop) made another's ``fork()`` fail with EAGAIN, which cost that student the tests
    of a child that happened to run beside it. One at a time, each child's cap (the user's
    tasks when it starts + ``Limits.nproc``) is its own. Other grader processes of the uid
    wait on the same lock file (``flock``); other programs of the user are not covered."""
    if not shared or getattr(_turn_held, "held", False):  # nothing to wait for, or ours
        yield 0.0
        return
    start = time.monotonic()
    with _turn:
        fd = _turn_file()
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            _turn_held.held = True
            try:
                yield time.monotonic() - start
            finally:
                _turn_held.held = False
        finally:
            if fd is not None:
                os.close(fd)  # drops the flock


def reachable(path: str | os.PathLike[str]) -> bool:
    """True when a uid of its own (not the owner, not in the group) could read ``path``:
    ``o+x`` on every folder above it, ``o+r`` (and ``o+x`` for a folder) on it."""
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


def shared_library_dir(prefix: str | os.PathLike[str]) -> Path | None:
    """``<prefix>/lib`` when it holds the interpreter's shared ``libpython`` (a build with
    ``--enable-shared``, as pyenv's), else None. Such an interpreter finds its library through
    an absolute RUNPATH into the folder it was built in; started from a copy, or in a sandbox
    where that folder is unreachable, it needs ``LD_LIBRARY_PATH`` set to this folder, or it
    fails before running a line ("error while loading shared libraries: libpython3.10.so")."""
    lib = Path(prefix) / "lib"
    try:
        if any(lib.glob("libpython*.so*")):
            return lib
    except OSError:
        pass
    return None


def interpreter_env(prefix: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The environment the grader starts its own interpreter with (the launcher, its
    self-test): a fixed ``PATH``, plus ``LD_LIBRARY_PATH`` where the interpreter of ``prefix``
    (default: this process's ``sys.base_prefix``) needs it (:func:`shared_library_dir`)."""
    env = {"PATH": "/usr/bin:/bin"}
    lib = shared_library_dir(os.path.realpath(sys.base_prefix if prefix is None else prefix))
    if lib is not None:
        env["LD_LIBRARY_PATH"] = str(lib)
    return env


# ------------------------------------------------------------------------------ runtime

_copies: dict[str, Path] = {}
_copies_lock = threading.Lock()
_runtime_root: list[Path] = []
_parents: dict[str, Path] = {}
"""The folder each source folder's copies go to (so that siblings stay siblings)."""

_EMPTIED = {"site-packages", "dist-packages"}
"""Folders kept empty in a copy: an interpreter's own packages are not the child's business
(bubblewrap hides them with a tmpfs; that needs the folder to exist)."""


def _root() -> Path:
    if not _runtime_root:
        base = "/var/tmp" if os.path.isdir("/var/tmp") else None  # a disk: hard links work
        path = Path(tempfile.mkdtemp(prefix="verify-grade-runtime-", dir=base))
        atexit.register(remove_tree, path)
        _runtime_root.append(path)
    return _runtime_root[0]


def _skipped(rel: Path) -> bool:
    # The standard library's own test suite: 120 MB that no submission needs.
    parts = rel.parts
    return len(parts) == 3 and parts[0] == "lib" and parts[1].startswith("python") \
        and parts[2] == "test"


def _link_or_copy(src: str, dst: str) -> None:
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def runtime_copy(source: str | os.PathLike[str]) -> Path:
    """A copy of ``source`` (a file or a folder) that any uid can read, made once per grader
    process; the same path on later calls. Sources in one folder are copied side by side into
    one folder, so relative paths between them still hold (numpy's extension modules find the
    wheel's OpenBLAS in ``../../numpy.libs`` of their own location). OSError if it cannot be
    made."""
    real = os.path.realpath(source)
    with _copies_lock:
        if real in _copies:
            return _copies[real]
        root = _root()
        parent = os.path.dirname(real)
        if parent not in _parents:
            _parents[parent] = root / f"{len(_parents):03d}"
            _parents[parent].mkdir(mode=0o755)
        dest = _parents[parent] / (os.path.basename(real) or "root")
        if os.path.isdir(real):
            for dirpath, dirnames, filenames in os.walk(real):
                rel = Path(dirpath).relative_to(real)
                os.mkdir(dest / rel, 0o755)
                if rel.name in _EMPTIED and rel != Path("."):
                    dirnames[:] = []
                    continue
                keep = [d for d in dirnames if not _skipped(rel / d)]
                for d in dirnames:
                    if os.path.islink(os.path.join(dirpath, d)):
                        os.symlink(os.readlink(os.path.join(dirpath, d)), dest / rel / d)
                dirnames[:] = [d for d in keep if not os.path.islink(os.path.join(dirpath, d))]
                for f in filenames:
                    _link_or_copy(os.path.join(dirpath, f), str(dest / rel / f))
        else:
            _link_or_copy(real, str(dest))
        os.chmod(root, 0o755)
        _copies[real] = dest
        return dest


# ------------------------------------------------------------------------------ clean-up


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` and everything below it, whatever a child made of it: thousands of
    levels deep (``shutil.rmtree`` recurses), names that are not UTF-8, folders it made
    unreadable. Never raises; a leftover is left where it could not be removed."""
    path = os.fspath(path)
    try:  # the usual case, in-process
        shutil.rmtree(path)
    except Exception:  # noqa: BLE001 - RecursionError, names too long, unreadable folders
        pass
    if not os.path.lexists(path):
        return
    for attempt in range(2):
        try:
            subprocess.run(["rm", "-rf", "--one-file-system", "--", path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                           timeout=120)
        except (OSError, subprocess.SubprocessError):
            break
        if not os.path.lexists(path):
            return
        if attempt == 0:  # folders made unreadable (mode 000) by their owner: give them back
            try:
                subprocess.run(["chmod", "-R", "u+rwx", "--", path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False, timeout=120)
            except (OSError, subprocess.SubprocessError):
                break
