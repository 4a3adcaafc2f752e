"""Process helpers shared by the sandbox tests."""

from __future__ import annotations

import os


def survivors(marker: str) -> list[int]:
    """PIDs (other than this one) whose command line mentions ``marker``."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        pids.append(int(name))
            except OSError:
                pass
    return pids
