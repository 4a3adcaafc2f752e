"""``python -m verify bench``: this checker against a per-parameter loop and torch gradcheck.

Everything runs side by side in one process, on the same networks and data, so the ratios are
meaningful even on a shared, noisy machine (absolute times are not: re-run to see the spread).

* ``central (structured)``: :func:`verify.check_gradients` with central differences, timed
  twice: on every weight and bias (``kinds=("weights", "biases")``: the very entries the loop
  and gradcheck check, so every ratio compares like with like), and as the default check,
  which also checks every layer's input gradient (more entries than the others check);
* ``per-parameter loop``: central differences one parameter at a time, each a full forward pass
  from the input in NumPy (what a hand-written checker does); it is timed on a sample of
  parameters and extrapolated to all of them (the table says so);
* ``torch gradcheck slow`` / ``fast``: ``torch.autograd.gradcheck`` of the same loss with respect
  to every weight and bias, float64 (``fast_mode=True`` checks one random projection);
* ``directional``: ``check_gradients(method="directional")``.

Contenders are timed best of ``--repeats`` (gradcheck's single-threaded slow mode best of 2).
Peak memory of the structured (default) check is measured with :mod:`tracemalloc` (NumPy reports its
allocations to it) in a separate run, so tracing does not slow the timed one. Every contender
runs with one BLAS / torch thread (the structured check adds worker threads only on idle
cores), so a busy machine does not punish one of them with oversubscription; gradcheck's slow
mode is also timed with torch's default threads, and the target uses the faster of the two.
Progress is shown on stderr (a tqdm bar, only when stderr is a terminal).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference_mlp import MLP

from .check import check_gradients
from .compare import GradientCheck
from .loop import central_loop
from .reference import SquaredError, loss_scale, reference_net
from .threads import single_threaded_blas

__all__ = ["BenchRow", "main", "run"]

BIG = (784, 128, 64, 10)
MEDIUM = (256, 64, 32, 10)
QUICK = (64, 32, 16, 10)

TARGETS = {
    "big_seconds": 2.5,
    "big_memory_mib": 1024.0,
    "big_speedup_vs_loop": 25.0,
    "medium_speedup_vs_gradcheck_slow": 30.0,
    "big_directional_ms": 50.0,
}


PARAMS = ("weights", "biases")

@dataclass
class BenchRow:
    network: str
    checker: str
    parameters: int
    seconds: float
    note: str = ""
    peak_mib: float | None = None
    checks: str = "W, b"
    baseline: bool = False  # the row every ratio of its network is taken against


class _Progress:
    """A tqdm bar on stderr over the benchmark's steps (silent when stderr is not a terminal)."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="step", file=sys.stderr, disable=None, leave=False,
                        dynamic_ncols=True, bar_format="{l_bar}{bar}| {n}/{total} [{elapsed}]")

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        self.bar.set_description(label)
        yield
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _problem(sizes: Sequence[int], batch: int, seed: int = 0) -> tuple[MLP, Any, Any]:
    model = MLP.build(list(sizes), ["relu"] * (len(sizes) - 2) + ["linear"], seed=seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        layer.biases = 0.1 * rng.standard_normal(layer.biases.shape)
    return model, rng.standard_normal((batch, sizes[0])), rng.standard_normal((batch, sizes[-1]))


def _best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _peak_mib(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def _loop_estimate(model: MLP, x: Any, y: Any, sample: int) -> tuple[float, int]:
    """Seconds per parameter of the plain loop (full forward from the input), on a sample."""
    net = reference_net(model, x, y)
    per_kind: list[float] = []
    counts: list[int] = []
    for layer in range(net.n_layers):
        for kind in ("weights", "biases"):
            size = net.parameter(layer, kind).size
            idx = np.linspace(0, size - 1, min(size, sample)).astype(int)
            with single_threaded_blas():
                t0 = time.perf_counter()
                central_loop(net, layer, kind, indices=idx, full_forward=True)
                per_kind.append((time.perf_counter() - t0) / idx.size)
            counts.append(size)
    total = sum(p * c for p, c in zip(per_kind, counts, strict=True))
    return total, sum(counts)


def _gradcheck(model: MLP, x: Any, y: Any, fast: bool, threads: int | None = 1) -> float:
    """Seconds of ``torch.autograd.gradcheck`` on the model's loss; ``threads=None``: torch's
    default intra-op thread count."""
    import torch

    params = []
    for layer in model.layers:
        params.append(torch.tensor(layer.weights, dtype=torch.float64, requires_grad=True))
        params.append(torch.tensor(layer.biases, dtype=torch.float64, requires_grad=True))
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    acts = [layer.activation.name for layer in model.layers]
    squared_error = SquaredError(loss_scale("exact", y.shape))  # the loss check_gradients uses

    def loss(*ps: Any) -> Any:
        a = xt
        for i, name in enumerate(acts):
            a = a @ ps[2 * i] + ps[2 * i + 1]
            if name == "relu":
                a = torch.relu(a)
        return squared_error.value(a, yt)

    default = torch.get_num_threads()
    torch.set_num_threads(threads or default)
    try:
        t0 = time.perf_counter()
        ok = torch.autograd.gradcheck(loss, tuple(params), fast_mode=fast)
        seconds = time.perf_counter() - t0
    finally:
        torch.set_num_threads(default)
    if not ok:  # pragma: no cover - gradcheck raises on failure by default
        raise RuntimeError("torch gradcheck failed on the reference network")
    return seconds


def _steps(quick: bool, gradcheck_big: bool) -> int:
    # per network: ours (W, b), ours (default), peak memory, loop; gradcheck slow x2 + fast
    gradcheck = 3 if (quick or gradcheck_big) else 1
    big = 4 + 1 + gradcheck  # + directional
    return big if quick else big + 4 + 3


@dataclass(frozen=True)
class _Network:
    """One benchmark network and its data: ``x: (batch, n_in)``, ``y: (batch, n_out)``."""

    model: MLP
    x: Any
    y: Any
    name: str  # "784-128-64-10, batch 32"
    short: str  # "784-128-64-10"

    @classmethod
    def make(cls, sizes: Sequence[int], batch: int) -> _Network:
        model, x, y = _problem(sizes, batch)
        short = "-".join(map(str, sizes))
        return cls(model, x, y, f"{short}, batch {batch}", short)

    def row(self, checker: str, seconds: float, note: str, **kw: Any) -> BenchRow:
        return BenchRow(self.name, checker, self.model.n_parameters, seconds, note, **kw)

    def check(self, **kw: Any) -> GradientCheck:
        return check_gradients(self.model, self.x, self.y, **kw)


Step = Callable[[str], contextlib.AbstractContextManager[None]]


def _ours(net: _Network, step: Step, repeats: int, sample: int
          ) -> tuple[list[BenchRow], dict[str, float]]:
    """Our central check on the weights and biases, by default (with inputs), its peak memory,
    and the per-parameter loop; -> (rows, seconds ``ours``, ``full``, ``loop``; ``peak`` MiB)."""
    with step(f"{net.short}: ours, weights and biases"):
        net.check()  # warm up (caches, lazy imports), untimed
        ours, check = _best_of(lambda: net.check(kinds=PARAMS), repeats)
    assert check.passed, check.message()
    rows = [net.row("central (structured), this project", ours,
                    f"best of {repeats}; the entries the loop and gradcheck check; "
                    f"{check.info['kinks']} kink stencils", baseline=True)]
    with step(f"{net.short}: ours, default check (with input gradients)"):
        full, check = _best_of(net.check, repeats)
    assert check.passed, check.message()
    n_inputs = sum(r.size for r in check.rows if r.parameter == "inputs")
    with step(f"{net.short}: ours, peak memory"):
        peak = _peak_mib(net.check)
    rows.append(net.row("central (structured), this project", full,
                        f"best of {repeats}; default check: also the {n_inputs:,} "
                        f"input-gradient entries", peak_mib=peak, checks="W, b, inputs"))
    with step(f"{net.short}: per-parameter loop ({sample} per tensor)"):
        loop_s, _ = _loop_estimate(net.model, net.x, net.y, sample)
    rows.append(net.row("per-parameter NumPy loop", loop_s,
                        f"extrapolated from {sample} sampled parameters per tensor"))
    return rows, {"ours": ours, "full": full, "peak": peak, "loop": loop_s}


def _directional(net: _Network, step: Step) -> tuple[BenchRow, float]:
    with step(f"{net.short}: directional"):
        seconds, check = _best_of(lambda: net.check(method="directional", seed=0), 5)
    assert check.passed, check.message()
    return net.row("directional (screen), this project", seconds,
                   "best of 5; one Gaussian direction per row", checks="W, b, inputs"), seconds


def _gradcheck_rows(net: _Network, step: Step, quick: bool) -> tuple[list[BenchRow], float]:
    """gradcheck's slow mode (1 thread, then torch's default threads) and fast mode;
    -> (rows, the faster slow-mode seconds)."""
    import torch

    model, x, y = net.model, net.x, net.y
    runs = 1 if quick else 2
    with step(f"{net.short}: gradcheck slow mode, 1 thread"):
        _gradcheck(model, x, y, fast=True)  # warm torch up: the first call pays setup
        slow = min(_gradcheck(model, x, y, fast=False) for _ in range(runs))
    rows = [net.row("torch.autograd.gradcheck (slow mode)", slow,
                    f"float64, weights and biases; 1 thread, best of {runs}")]
    with step(f"{net.short}: gradcheck slow mode, default threads"):
        slow_default = _gradcheck(model, x, y, fast=False, threads=None)
    rows.append(net.row("torch.autograd.gradcheck (slow mode)", slow_default,
                        f"as above, torch's default {torch.get_num_threads()} threads"))
    with step(f"{net.short}: gradcheck fast mode"):
        fast = _gradcheck(model, x, y, fast=True)
    rows.append(net.row("torch.autograd.gradcheck (fast mode)", fast,
                        "one random projection: a screen, like directional"))
    return rows, min(slow, slow_default)


def _gradcheck_fast_row(net: _Network, step: Step) -> BenchRow:
    with step(f"{net.short}: gradcheck fast mode"):
        _gradcheck(net.model, net.x, net.y, fast=True)  # warm torch up
        fast = _gradcheck(net.model, net.x, net.y, fast=True)
    return net.row("torch.autograd.gradcheck (fast mode)", fast,
                   "one random projection: a screen, like directional")


def run(*, quick: bool = False, gradcheck_big: bool = False, repeats: int = 3,
        loop_sample: int = 200, progress: _Progress | None = None,
        ) -> tuple[list[BenchRow], dict[str, float]]:
    """Run the benchmark; -> (table rows, measured target quantities)."""
    big, medium = (QUICK, QUICK) if quick else (BIG, MEDIUM)
    rows: list[BenchRow] = []
    measured: dict[str, float] = {}
    step = (progress or _Progress(0)).step
    for label, sizes in (("big", big), ("medium", medium)):
        if quick and label == "medium":
            break
        net = _Network.make(sizes, batch=32)
        ours_rows, t = _ours(net, step, repeats, 20 if quick else loop_sample)
        rows += ours_rows
        if label == "big":
            measured.update(big_seconds=t["full"], big_seconds_params=t["ours"],
                            big_memory_mib=t["peak"], big_speedup_vs_loop=t["loop"] / t["ours"])
            row, seconds = _directional(net, step)
            rows.append(row)
            measured["big_directional_ms"] = seconds * 1e3
        if label == "medium" or quick or gradcheck_big:
            gradcheck_rows, slow = _gradcheck_rows(net, step, quick)
            rows += gradcheck_rows
            if label == "medium":
                measured.update(medium_speedup_vs_gradcheck_slow=slow / t["ours"],
                                medium_speedup_vs_gradcheck_slow_full=slow / t["full"],
                                medium_seconds=t["ours"])
        elif label == "big":
            rows.append(_gradcheck_fast_row(net, step))
    return rows, measured


def _table(rows: list[BenchRow]) -> str:
    from tabulate import tabulate

    ours = {r.network: r.seconds for r in rows if r.baseline}
    body = []
    for r in rows:
        ratio = r.seconds / ours[r.network]
        body.append([
            r.network, r.checker, r.checks, f"{r.parameters:,}", f"{r.seconds:.3g}",
            "1x" if r.baseline else f"{ratio:.3g}x",
            "" if r.peak_mib is None else f"{r.peak_mib:.0f}", r.note,
        ])
    return tabulate(body, headers=["network", "checker", "checks", "parameters", "seconds",
                                   "time vs ours (W, b)", "peak MiB", "note"],
                    tablefmt="github")


def _targets(measured: dict[str, float]) -> tuple[str, bool]:
    checks = [
        ("big_seconds", "784-128-64-10 central, default check (W, b and inputs)", "s", "<="),
        ("big_memory_mib", "784-128-64-10 peak memory (default check)", "MiB", "<="),
        ("big_speedup_vs_loop", "speed-up vs per-parameter loop (both W, b)", "x", ">="),
        ("medium_speedup_vs_gradcheck_slow",
         "256-64-32-10 speed-up vs gradcheck slow (both W, b)", "x", ">="),
        ("big_directional_ms", "784-128-64-10 directional", "ms", "<="),
    ]
    extra = {"medium_speedup_vs_gradcheck_slow": "medium_speedup_vs_gradcheck_slow_full"}
    lines, ok_all = [], True
    for key, label, unit, op in checks:
        if key not in measured:
            continue
        value, target = measured[key], TARGETS[key]
        ok = value <= target if op == "<=" else value >= target
        ok_all &= ok
        line = (f"  {'ok  ' if ok else 'MISS'} {label}: {value:.3g} {unit} "
                f"(target {op} {target:g} {unit})")
        if extra.get(key) in measured:
            line += f"; ours with input gradients too: {measured[extra[key]]:.3g} {unit}"
        lines.append(line)
    return "\n".join(lines), ok_all


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify bench",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small network only (CI smoke test); targets are not applied")
    parser.add_argument("--gradcheck-big", action="store_true",
                        help="also run gradcheck's slow mode on the big network (minutes)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of our check (best)")
    parser.add_argument("--loop-sample", type=int, default=200,
                        help="parameters per tensor timed in the per-parameter loop")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a speed or memory target is missed")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.repeats < 1 or args.loop_sample < 1:
        parser.error("--repeats and --loop-sample must be at least 1")
    progress = _Progress(_steps(args.quick, args.gradcheck_big))
    try:
        rows, measured = run(quick=args.quick, gradcheck_big=args.gradcheck_big,
                             repeats=args.repeats, loop_sample=args.loop_sample,
                             progress=progress)
    finally:
        progress.close()
    print(_table(rows))
    if args.quick:
        print("\n(quick run: small network, targets not applied)")
        return 0
    text, ok = _targets(measured)
    print("\ntargets:\n" + text)
    return 1 if (args.strict and not ok) else 0
