"""``python -m verify bench``: this checker against its arithmetic bound, a per-parameter loop
and torch gradcheck.

Everything runs in one session, on the same networks and data (relu hidden layers, a linear
output, batch 32, float64), so the ratios are meaningful even on a shared, noisy machine
(absolute times are not: re-run to see the spread).

* ``central (structured)``: :func:`verify.check_gradients` with central differences on every
  weight and bias (``kinds=("weights", "biases")``: the very entries the loop and gradcheck
  check), each network in a fresh process of its own, which also reports the process's peak
  resident memory (RSS); on the smaller networks also the default check, which adds every
  layer's input gradient;
* ``bound``: the arithmetic that check needs (:mod:`verify.cost`: every perturbed loss
  evaluated through the forward math, with the savings the structure allows) divided by this
  machine's matrix-product rate measured in the same run, on one thread (a 1024 x 1024
  float64 product, the best of several measurements spread over the run): the time a
  single-threaded evaluation that did nothing but that arithmetic, at full speed, would take.
  ``x bound`` is ours divided by it; the checker may use a second core where one is idle
  (:mod:`verify.threads`), so it can go below 1. ``CPU x bound`` uses CPU time on both sides
  instead, which the machine's other load does not inflate (it sums the threads).
  ``floor x bound``: what the check does before its first perturbation, whatever its method
  (the model's own forward and backward, for the analytic gradients, and one reference forward
  pass), best of several, divided by the same bound: on the small networks that work is
  mostly per-call overhead, not arithmetic, and it alone can exceed the bound's target;
* ``per-parameter loop``: central differences one parameter at a time, each a full forward pass
  from the input in NumPy (what a hand-written checker does); timed on a sample of parameters
  and extrapolated (the table says so);
* ``torch gradcheck slow`` / ``fast``: ``torch.autograd.gradcheck`` of the same loss with respect
  to every weight and bias, float64, one thread (``fast_mode=True`` checks one random
  projection). On 256-64-32-10 its slow mode and ours are run alternately, ``--rounds`` times,
  and the ratio is that of the medians;
* ``directional``: ``check_gradients(method="directional")``.

Progress is shown on stderr (a tqdm bar, only when stderr is a terminal).

One module (~560 lines, a little over the project's ~500) on purpose: it is one command, whose
networks, measurements, targets and table are read together when a figure is questioned.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference_mlp import MLP

from .check import analytic_gradients, check_gradients
from .compare import GradientCheck
from .loop import central_loop
from .reference import SquaredError, loss_scale, reference_net
from .structured import DEFAULT_MAX_MEMORY
from .threads import single_threaded_blas

__all__ = ["BenchRow", "main", "matmul_rate", "measure", "peak_rss_mib", "run"]

GRADCHECK_NET = (256, 64, 32, 10)
LOOP_NET = (784, 128, 64, 10)
NETWORKS = (GRADCHECK_NET, LOOP_NET, (784, 512, 256, 10), (3072, 1024, 512, 10))
LARGEST = NETWORKS[-1]
QUICK = (64, 32, 16, 10)
BATCH = 32

TARGETS = {
    "largest_seconds": 30.0,
    "bound_ratio": 2.0,
    "memory_ratio": 1.5,
    "speedup_vs_gradcheck_slow": 100.0,
    "loop_net_default_seconds": 2.5,
    "speedup_vs_loop": 25.0,
    "directional_ms": 50.0,
}

PARAMS = ("weights", "biases")


@dataclass
class BenchRow:
    network: str
    checker: str
    parameters: int
    seconds: float
    note: str = ""
    checks: str = "W, b"
    baseline: bool = False  # the row every ratio of its network is taken against
    cpu_seconds: float | None = None
    gflop: float | None = None  # the arithmetic the check needs (verify.cost)
    bound_ratio: float | None = None
    cpu_bound_ratio: float | None = None
    peak_mib: float | None = None
    limit_mib: float | None = None  # 1.5 x (max_memory + model + data)
    floor_ratio: float | None = None  # the work before any perturbation (_floor_work) / bound


@dataclass
class Rate:
    """The best single-threaded matrix-product rate seen in this run (FLOP/s)."""

    wall: float = 0.0
    cpu: float = 0.0
    samples: list[float] = field(default_factory=list)

    def measure(self) -> None:
        wall, cpu = matmul_rate()
        self.samples.append(wall)
        self.wall, self.cpu = max(self.wall, wall), max(self.cpu, cpu)


def matmul_rate(n: int = 1024, repeats: int = 3) -> tuple[float, float]:
    """FLOP/s of an ``n x n`` float64 matrix product on one thread: (by wall time, by CPU
    time), the best of ``repeats``."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    out = np.empty((n, n))
    best_wall = best_cpu = float("inf")
    with single_threaded_blas():
        np.matmul(a, b, out=out)
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            np.matmul(a, b, out=out)
            best_wall = min(best_wall, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    return 2 * n**3 / best_wall, 2 * n**3 / max(best_cpu, 1e-9)


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


def _name(sizes: Sequence[int]) -> str:
    return "-".join(map(str, sizes))


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of one call."""
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def measure(sizes: Sequence[int], kinds: Sequence[str], repeats: int) -> dict[str, Any]:
    """Our central check of ``kinds`` on the benchmark network ``sizes``, ``repeats`` times
    (best of), in this process: seconds (wall, CPU), the arithmetic it needs (FLOPs), kinks,
    peak RSS of the process (MiB) and its memory limit. Run in a fresh process by
    :func:`_measure_in_child`, so that the peak belongs to this check alone."""
    from .cost import check_flops

    model, x, y = _problem(sizes, BATCH)
    net = reference_net(model, x, y)
    flops = check_flops(net, tuple(kinds))
    del net
    before = peak_rss_mib()
    runs = []
    check: GradientCheck | None = None
    for _ in range(repeats):
        wall, cpu, check = _timed(lambda: check_gradients(model, x, y, kinds=tuple(kinds)))
        runs.append((wall, cpu))
    assert check is not None and check.passed, check.message() if check else "no run"
    peak = peak_rss_mib()
    floor = min(_timed(lambda: _floor_work(model, x, y))[0] for _ in range(max(3, repeats)))
    data = (x.size + y.size) * 8
    limit = 1.5 * (DEFAULT_MAX_MEMORY + model.n_parameters * 8 + data) / 2**20
    return {
        "seconds": min(w for w, _ in runs), "cpu_seconds": min(c for _, c in runs),
        "flops": flops, "kinks": check.info["kinks"], "peak_mib": peak,
        "before_mib": before, "limit_mib": limit, "parameters": model.n_parameters,
        "entries": check.entries[1], "load": os.getloadavg()[0], "floor_seconds": floor,
    }


def _floor_work(model: MLP, x: Any, y: Any) -> None:
    """What every check of ``model`` does before its first perturbation, whatever the method:
    the model's own forward and backward (the analytic gradients it is checked on) and one
    forward pass of the reference (the unperturbed activations and loss)."""
    analytic_gradients(model, x, y, "exact")
    reference_net(model, x, y)


def peak_rss_mib() -> float:
    """This process's peak resident memory (MiB): ``VmHWM`` of ``/proc/self/status`` on Linux
    (the high-water mark of this program's own memory; ``ru_maxrss`` would also count the
    memory of the process it was forked from before ``exec``), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    unit = 2**20 if sys.platform == "darwin" else 2**10  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / unit


def _measure_in_child(sizes: Sequence[int], kinds: Sequence[str], repeats: int
                      ) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process (its peak RSS is this check's alone)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import json, sys; from verify.bench import measure; "
            "print(json.dumps(measure(json.loads(sys.argv[1]), json.loads(sys.argv[2]), "
            "int(sys.argv[3]))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", code, json.dumps(list(sizes)),
                           json.dumps(list(kinds)), str(repeats)],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _loop_estimate(model: MLP, x: Any, y: Any, sample: int) -> float:
    """Seconds of the plain loop (full forward from the input) over every weight and bias,
    extrapolated from ``sample`` parameters per tensor."""
    net = reference_net(model, x, y)
    total = 0.0
    for layer in range(net.n_layers):
        for kind in PARAMS:
            size = net.parameter(layer, kind).size
            idx = np.linspace(0, size - 1, min(size, sample)).astype(int)
            with single_threaded_blas():
                t0 = time.perf_counter()
                central_loop(net, layer, kind, indices=idx, full_forward=True)
                total += (time.perf_counter() - t0) / idx.size * size
    return total


def _gradcheck(model: MLP, x: Any, y: Any, fast: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of ``torch.autograd.gradcheck`` on the model's loss, one thread."""
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
    torch.set_num_threads(1)
    try:
        wall, cpu, ok = _timed(lambda: torch.autograd.gradcheck(loss, tuple(params),
                                                                fast_mode=fast))
    finally:
        torch.set_num_threads(default)
    if not ok:  # pragma: no cover - gradcheck raises on failure by default
        raise RuntimeError("torch gradcheck failed on the reference network")
    return wall, cpu


Step = Callable[[str], contextlib.AbstractContextManager[None]]


@dataclass(frozen=True)
class _Network:
    """One benchmark network and its data: ``x: (batch, n_in)``, ``y: (batch, n_out)``."""

    sizes: tuple[int, ...]
    model: MLP
    x: Any
    y: Any

    @classmethod
    def make(cls, sizes: Sequence[int]) -> _Network:
        model, x, y = _problem(sizes, BATCH)
        return cls(tuple(sizes), model, x, y)

    @property
    def name(self) -> str:
        return f"{_name(self.sizes)}, batch {BATCH}"

    @property
    def short(self) -> str:
        return _name(self.sizes)

    def row(self, checker: str, seconds: float, note: str, **kw: Any) -> BenchRow:
        return BenchRow(self.name, checker, self.model.n_parameters, seconds, note, **kw)

    def check(self, **kw: Any) -> GradientCheck:
        return check_gradients(self.model, self.x, self.y, **kw)


def _ours_row(net: _Network, result: dict[str, Any], rate: Rate, *, kinds: str, note: str,
              baseline: bool) -> BenchRow:
    bound = result["flops"] / rate.wall
    cpu_bound = result["flops"] / rate.cpu
    return net.row(
        "central (structured), this project", result["seconds"], note, checks=kinds,
        baseline=baseline, cpu_seconds=result["cpu_seconds"], gflop=result["flops"] / 1e9,
        bound_ratio=result["seconds"] / bound,
        cpu_bound_ratio=result["cpu_seconds"] / cpu_bound, peak_mib=result["peak_mib"],
        limit_mib=result["limit_mib"], floor_ratio=result["floor_seconds"] / bound)


def _ours(net: _Network, step: Step, rate: Rate, repeats: int, default_too: bool,
          own_process: bool = True) -> tuple[list[BenchRow], dict[str, dict[str, Any]]]:
    """Our check of the weights and biases (and by default, with the input gradients), each
    in a fresh process (``own_process``; else in this one, whose peak RSS is then not the
    check's alone)."""
    with step(f"{net.short}: matmul rate"):
        rate.measure()
    reps = repeats if net.model.n_parameters < 10**6 else 1
    run = _measure_in_child if own_process else measure
    with step(f"{net.short}: ours, weights and biases"):
        wb = run(net.sizes, PARAMS, reps)
    where = "own process" if own_process else "in process"
    rows = [_ours_row(net, wb, rate, kinds="W, b", baseline=True,
                      note=f"best of {reps}, {where}; the entries the loop and gradcheck "
                           f"check; {wb['kinks']} kink stencils; load {wb['load']:.1f}")]
    out = {"wb": wb}
    if default_too:
        with step(f"{net.short}: ours, default check (with input gradients)"):
            full = run(net.sizes, ("weights", "biases", "inputs"), reps)
        n_inputs = full["entries"] - wb["entries"]
        rows.append(_ours_row(net, full, rate, kinds="W, b, inputs", baseline=False,
                              note=f"best of {reps}, {where}; default check: also the "
                                   f"{n_inputs:,} input-gradient entries"))
        out["full"] = full
    return rows, out


def _versus_gradcheck(net: _Network, step: Step, rounds: int
                      ) -> tuple[list[BenchRow], dict[str, Any]]:
    """Ours (weights and biases) and gradcheck's slow mode alternately, ``rounds`` times, in
    this process, one thread each; the medians."""
    ours, slow = [], []
    with step(f"{net.short}: gradcheck slow mode vs ours, {rounds} rounds"):
        net.check(kinds=PARAMS)  # warm up (caches, lazy imports), untimed
        _gradcheck(net.model, net.x, net.y, fast=True)  # torch's first call pays setup
        for _ in range(rounds):
            ours.append(_timed(lambda: net.check(kinds=PARAMS))[:2])
            slow.append(_gradcheck(net.model, net.x, net.y, fast=False))
    with step(f"{net.short}: gradcheck fast mode"):
        fast = _gradcheck(net.model, net.x, net.y, fast=True)
    ours_s = statistics.median(w for w, _ in ours)
    slow_s = statistics.median(w for w, _ in slow)
    ours_cpu = statistics.median(c for _, c in ours)
    slow_cpu = statistics.median(c for _, c in slow)
    rows = [
        net.row("central (structured), this project", ours_s,
                f"median of {rounds}, alternating with gradcheck's slow mode (in process)",
                cpu_seconds=ours_cpu),
        net.row("torch.autograd.gradcheck (slow mode)", slow_s,
                f"float64, weights and biases, 1 thread; median of {rounds}, alternating "
                f"with ours", cpu_seconds=slow_cpu),
        net.row("torch.autograd.gradcheck (fast mode)", fast[0],
                "one random projection: a screen, like directional", cpu_seconds=fast[1]),
    ]
    return rows, {"speedup_vs_gradcheck_slow": slow_s / ours_s,
                  "speedup_vs_gradcheck_slow_cpu": slow_cpu / ours_cpu,
                  "gradcheck_rounds": [s / o for (s, _), (o, _) in zip(slow, ours, strict=True)]}


def _loop_and_directional(net: _Network, step: Step, sample: int
                          ) -> tuple[list[BenchRow], dict[str, float]]:
    with step(f"{net.short}: per-parameter loop ({sample} per tensor)"):
        loop_s = _loop_estimate(net.model, net.x, net.y, sample)
    with step(f"{net.short}: directional"):
        net.check(method="directional", seed=0)
        directional = min(_timed(lambda: net.check(method="directional", seed=0))[0]
                          for _ in range(5))
    rows = [
        net.row("per-parameter NumPy loop", loop_s,
                f"extrapolated from {sample} sampled parameters per tensor"),
        net.row("directional (screen), this project", directional,
                "best of 5; one Gaussian direction per row", checks="W, b, inputs"),
    ]
    return rows, {"loop_seconds": loop_s, "directional_ms": directional * 1e3}


def _steps(networks: Sequence[tuple[int, ...]], quick: bool) -> int:
    steps = 0
    for sizes in networks:
        steps += 2 + (sizes != LARGEST)  # rate, ours (W, b), default check
        steps += 2 * (sizes == GRADCHECK_NET or quick) + 2 * (sizes == LOOP_NET or quick)
    return steps


def run(*, quick: bool = False, networks: Sequence[tuple[int, ...]] = NETWORKS,
        repeats: int = 3, rounds: int = 3, loop_sample: int = 200,
        progress: _Progress | None = None) -> tuple[list[BenchRow], dict[str, Any]]:
    """Run the benchmark; -> (table rows, measured target quantities)."""
    nets = [QUICK] if quick else list(networks)
    rows: list[BenchRow] = []
    measured: dict[str, Any] = {"bound_ratio": {}, "cpu_bound_ratio": {}, "memory": {}}
    step = (progress or _Progress(0)).step
    rate = Rate()
    for sizes in nets:
        net = _Network.make(sizes)
        ours_rows, ours = _ours(net, step, rate, repeats, default_too=sizes != LARGEST,
                                own_process=not quick)
        rows += ours_rows
        wb = ours["wb"]
        measured["bound_ratio"][net.short] = ours_rows[0].bound_ratio
        measured["cpu_bound_ratio"][net.short] = ours_rows[0].cpu_bound_ratio
        measured.setdefault("floor_ratio", {})[net.short] = ours_rows[0].floor_ratio
        for r in ours_rows:
            measured["memory"][f"{net.short} ({r.checks})"] = (r.peak_mib, r.limit_mib)
        if sizes == LARGEST:
            measured["largest_seconds"] = wb["seconds"]
        if sizes == LOOP_NET or quick:
            extra, values = _loop_and_directional(net, step, 20 if quick else loop_sample)
            rows += extra
            measured["speedup_vs_loop"] = values["loop_seconds"] / wb["seconds"]
            measured["directional_ms"] = values["directional_ms"]
            if "full" in ours:
                measured["loop_net_default_seconds"] = ours["full"]["seconds"]
        if sizes == GRADCHECK_NET or quick:
            extra, values = _versus_gradcheck(net, step, 1 if quick else rounds)
            rows += extra
            measured.update(values)
    measured["rate_gflops"] = rate.wall / 1e9
    measured["rate_cpu_gflops"] = rate.cpu / 1e9
    measured["rate_samples_gflops"] = [s / 1e9 for s in rate.samples]
    return rows, measured


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "" if value is None else format(value, spec)


def _table(rows: list[BenchRow]) -> str:
    from tabulate import tabulate

    ours = {r.network: r.seconds for r in rows if r.baseline}
    body = []
    for r in rows:
        base = ours.get(r.network)
        ratio = "1x" if r.baseline else ("" if base is None else f"{r.seconds / base:.3g}x")
        memory = ("" if r.peak_mib is None
                  else f"{r.peak_mib:.0f} / {_fmt(r.limit_mib, '.0f')}")
        body.append([
            r.network, r.checker, r.checks, f"{r.parameters:,}", f"{r.seconds:.3g}",
            _fmt(r.cpu_seconds), _fmt(r.gflop), _fmt(r.bound_ratio, ".2f"),
            _fmt(r.cpu_bound_ratio, ".2f"), _fmt(r.floor_ratio, ".2f"), ratio, memory, r.note,
        ])
    return tabulate(body, headers=["network", "checker", "checks", "parameters", "seconds",
                                   "CPU s", "GFLOP needed", "x bound", "CPU x bound",
                                   "floor x bound",
                                   "time vs ours (W, b)", "peak RSS / limit MiB", "note"],
                    tablefmt="github", disable_numparse=True)


def _targets(measured: dict[str, Any]) -> tuple[str, bool]:
    lines, ok_all = [], True

    def line(ok: bool, text: str) -> None:
        nonlocal ok_all
        ok_all &= ok
        lines.append(f"  {'ok  ' if ok else 'MISS'} {text}")

    if "largest_seconds" in measured:
        value, target = measured["largest_seconds"], TARGETS["largest_seconds"]
        line(value <= target, f"{_name(LARGEST)}, every weight and bias: {value:.3g} s "
                              f"(target <= {target:g} s)")
    target = TARGETS["bound_ratio"]
    for name, value in measured["bound_ratio"].items():
        cpu = measured["cpu_bound_ratio"][name]
        floor = measured.get("floor_ratio", {}).get(name)
        why = "" if floor is None else f"; before its first perturbation: {floor:.2f}x"
        line(value <= target, f"{name} within {target:g}x of the bound: {value:.2f}x "
                              f"(by CPU time: {cpu:.2f}x{why})")
    for name, (peak, limit) in measured["memory"].items():
        line(peak <= limit, f"{name} peak RSS {peak:.0f} MiB (target <= {limit:.0f} MiB = 1.5 x "
                            f"(max_memory + model + data))")
    if "speedup_vs_gradcheck_slow" in measured:
        value, target = measured["speedup_vs_gradcheck_slow"], TARGETS[
            "speedup_vs_gradcheck_slow"]
        rounds = ", ".join(f"{r:.0f}" for r in measured["gradcheck_rounds"])
        line(value >= target, f"{_name(GRADCHECK_NET)} speed-up vs gradcheck slow mode (W, b, "
                              f"medians): {value:.0f}x (target >= {target:g}x; by CPU time "
                              f"{measured['speedup_vs_gradcheck_slow_cpu']:.0f}x; rounds "
                              f"{rounds})")
    for key, label, unit, op in (
        ("loop_net_default_seconds", f"{_name(LOOP_NET)} default check (W, b and inputs)", "s",
         "<="),
        ("speedup_vs_loop", f"{_name(LOOP_NET)} speed-up vs per-parameter loop (W, b)", "x",
         ">="),
        ("directional_ms", f"{_name(LOOP_NET)} directional", "ms", "<="),
    ):
        if key in measured:
            value, target = measured[key], TARGETS[key]
            line(value <= target if op == "<=" else value >= target,
                 f"{label}: {value:.3g} {unit} (target {op} {target:g} {unit})")
    return "\n".join(lines), ok_all


def _networks(text: str) -> list[tuple[int, ...]]:
    try:
        nets = [tuple(int(n) for n in part.split("-")) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected networks like 256-64-32-10,784-128-64-10, "
                                         f"got {text!r}") from None
    if not nets or any(len(n) < 3 or min(n) < 1 for n in nets):
        raise argparse.ArgumentTypeError(f"expected networks of at least 3 positive widths "
                                         f"like 256-64-32-10, got {text!r}")
    return nets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify bench",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small network only (CI smoke test); targets are not applied")
    parser.add_argument("--networks", type=_networks, default=list(NETWORKS),
                        help="comma-separated networks (default: "
                             f"{','.join(_name(n) for n in NETWORKS)})")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of our check per network under 1M parameters (best)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of ours and gradcheck's slow mode (medians)")
    parser.add_argument("--loop-sample", type=int, default=200,
                        help="parameters per tensor timed in the per-parameter loop")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a speed or memory target is missed")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.repeats < 1 or args.loop_sample < 1 or args.rounds < 1:
        parser.error("--repeats, --rounds and --loop-sample must be at least 1")
    progress = _Progress(_steps([QUICK] if args.quick else args.networks, args.quick))
    try:
        rows, measured = run(quick=args.quick, networks=args.networks, repeats=args.repeats,
                             rounds=args.rounds, loop_sample=args.loop_sample,
                             progress=progress)
    finally:
        progress.close()
    print(_table(rows))
    samples = ", ".join(f"{s:.1f}" for s in measured["rate_samples_gflops"])
    print(f"\nmatmul rate (1024 x 1024 float64, one thread, best of the run): "
          f"{measured['rate_gflops']:.1f} GFLOP/s by wall time ({samples}), "
          f"{measured['rate_cpu_gflops']:.1f} by CPU time; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.quick:
        print("\n(quick run: small network, targets not applied)")
        return 0
    text, ok = _targets(measured)
    print("\ntargets:\n" + text)
    return 1 if (args.strict and not ok) else 0
