"""How the checker uses the CPU: worker threads on idle cores only, and one BLAS thread each.

The structured finite differences evaluate many small, independent chunks. NumPy releases the
GIL in its loops, so a few worker threads speed them up on idle cores; on a busy machine, extra
threads only contend for the cores already in use. The matrix products of a chunk are small, and
a multi-threaded BLAS spends more time synchronising than multiplying, so BLAS runs one thread
per caller during a check (:func:`single_threaded_blas`, through threadpoolctl when installed).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

__all__ = ["WORKERS", "idle_workers", "single_threaded_blas"]

WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else (os.cpu_count() or 1))
"""Most threads evaluating chunks in parallel (the cores this process may use, at most 4)."""


def idle_workers() -> int:
    """Threads worth starting now: the cores not already busy (by the 1-minute load average),
    between 1 and :data:`WORKERS`; 1 where the load average is unavailable."""
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 1
    return max(1, min(WORKERS, int(WORKERS - busy + 1.5)))


_BLAS_CONTROLLER: Any = None


def single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """A context manager limiting BLAS to one thread (a no-op without threadpoolctl)."""
    global _BLAS_CONTROLLER
    try:
        if _BLAS_CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER = ThreadpoolController()
        return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")
    except ImportError:
        return contextlib.nullcontext()
