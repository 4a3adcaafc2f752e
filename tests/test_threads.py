"""verify.threads: worker threads only on idle cores, one BLAS thread during a check."""

from __future__ import annotations

import os

import pytest

from verify import threads


@pytest.mark.parametrize(("load", "want"), [(0.0, threads.WORKERS), (1e6, 1)])
def test_idle_workers_follow_the_load_average(monkeypatch: pytest.MonkeyPatch, load: float,
                                              want: int) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert threads.idle_workers() == want


def test_idle_workers_is_one_without_a_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", unavailable)
    assert threads.idle_workers() == 1
    assert 1 <= threads.WORKERS <= 4


def test_single_threaded_blas_limits_blas_inside_the_context() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threads.single_threaded_blas():
        blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        assert all(p["num_threads"] == 1 for p in blas)


def test_worker_pool_is_started_once_and_kept() -> None:
    pool = threads.worker_pool(2)
    assert threads.worker_pool(2) is pool
    assert list(pool.map(lambda v: v * v, range(5))) == [0, 1, 4, 9, 16]
    assert threads.worker_pool(3) is not pool
