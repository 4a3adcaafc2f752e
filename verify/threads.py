"""How the checker uses the CPU: worker threads on idle cores only, and one BLAS thread each.

The structured finite differences evaluate many small, independent chunks. NumPy releases the
GIL in its loops, so a few worker threads speed them up on idle cores; on a busy machine, extra
threads only contend for the cores already in use. The matrix products of a chunk are small, and
a multi-threaded BLAS spends more time synchronising than multiplying, so BLAS runs one thread
per caller during a check (:func:`single_threaded_blas`, through threadpoolctl when installed).
The worker threads are started once per process and kept (:func:`worker_pool`): starting them
for every tensor cost a few milliseconds each, a tenth of a small network's whole check.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["WORKERS", "idle_workers", "single_threaded_blas", "worker_pool"]

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


_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def worker_pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads, started on first use and kept for this process (a forked
    child gets pools of its own: the parent's threads do not exist there)."""
    key = (os.getpid(), workers)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="verify")
        return pool
