"""Preparing one child: its folder, the submission's copy, argv, environment, mounts, Landlock."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .isolation import reachable, runtime_copy
from .limits import Limits
from .runners import Runner
from .sandbox_child import _user_tasks
from .sandbox_host import (
    _BASE_RO,
    _DEVICES,
    _FALLBACK_RO,
    _SANDBOX_CWD,
    _SANDBOX_ROOT,
    _SHARED_TMP,
    SandboxError,
    SandboxMode,
    _bwrap_base_args,
    capabilities,
)


def _safe_name(path: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in path.stem)[:64] or "submission"
    if stem[0].isdigit():
        stem = "s_" + stem
    suffix = "".join(c for c in path.suffix.lower() if c.isalnum() or c == ".")[:16]
    return stem + suffix


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
        **runner.env(root, limits),
        **extra_env,  # the fallback's copies of the runtime win over the runner's own paths
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
