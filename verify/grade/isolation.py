"""What a child leaves behind, removed whatever it made of it.

* :func:`remove_tree` removes whatever a child left (any depth, any file names), never raising.
"""

from __future__ import annotations

import os
import shutil
import subprocess

__all__ = ["remove_tree"]


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
