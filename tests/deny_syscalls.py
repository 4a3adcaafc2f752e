"""Run a command with some system calls refused, as a container's seccomp profile refuses them
(Docker's default one refuses namespaces to processes without CAP_SYS_ADMIN; older ones refuse
Landlock), so that the tests see how the grader degrades: it must say what is missing and
refuse where that makes it unsafe.

    python tests/deny_syscalls.py landlock,seccomp,namespaces -- COMMAND ARGS...

Groups: ``landlock`` (landlock_* system calls: ENOSYS, as on a kernel without it), ``seccomp``
(seccomp() and prctl(PR_SET_SECCOMP): EPERM), ``namespaces`` (unshare, clone with CLONE_NEWUSER:
EPERM, so bubblewrap cannot start).
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verify.grade._launcher import _ACT_ALLOW, _act_errno, _ArgCmp, seccomp_library  # noqa: E402

_CMP_EQ, _CMP_MASKED_EQ = 4, 7
GROUPS = {
    "landlock": [("landlock_create_ruleset", errno.ENOSYS, []),
                 ("landlock_add_rule", errno.ENOSYS, []),
                 ("landlock_restrict_self", errno.ENOSYS, [])],
    "seccomp": [("seccomp", errno.EPERM, []),
                ("prctl", errno.EPERM, [(0, _CMP_EQ, 22, 0)])],  # PR_SET_SECCOMP
    "namespaces": [("unshare", errno.EPERM, []),
                   ("clone", errno.EPERM, [(0, _CMP_MASKED_EQ, 0x10000000, 0x10000000)]),
                   ("clone3", errno.ENOSYS, [])],
}


def main() -> None:
    groups, cmd = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    lib = seccomp_library()
    ctx = lib.seccomp_init(_ACT_ALLOW)
    for group in groups.split(","):
        for name, code, cmps in GROUPS[group]:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            arr = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
            if lib.seccomp_rule_add_array(ctx, _act_errno(code), nr, len(cmps), arr) < 0:
                sys.exit(f"deny_syscalls: cannot add a rule for {name}")
    if lib.seccomp_load(ctx) < 0:
        sys.exit("deny_syscalls: seccomp_load failed")
    ctypes.CDLL(None)  # keep ctypes imported before exec (nothing else to do)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
