"""Forward or backward? Finite differences of the student's *own* forward.

For a part whose gradients are wrong, one more sandboxed child evaluates the student's forward
at parameters and inputs perturbed by ``±h`` (``layer``/``mlp`` tasks with ``null`` upstream
gradients), and the parent takes central differences of ``L = sum(output * upstream)``:

* forward right, gradients disagree with its own forward: the **backward** is at fault;
* gradients agree with a forward that computes the wrong function: the **forward** is;
* both disagree: both are wrong;
* agree on a fresh model but not in the graded round: state kept between calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from verify.compare import GradientRecord, Tolerance, compare, tolerance_for

from . import decode
from .cases import LayerCase, NetCase, Part, TestCase
from .checking import shown
from .decode import MalformedResult
from .limits import Limits
from .runners import Runner
from .sandbox import SandboxMode
from .schedule import run_tasks
from .text import safe_text

__all__ = ["FD_MAX_PARAMETERS", "FD_TOLERANCE", "fd_plan", "fd_verdict", "own_forward_lines"]

FD_TOLERANCE: Tolerance = tolerance_for(np.float64, "forward").absolute()
FD_MAX_PARAMETERS = 120
"""Parts with more parameters and inputs than this are not differentiated (too many tasks)."""

Assemble = Callable[[dict[str, dict[str, Any]]], dict[str, np.ndarray]]


class _NoForward(Exception):
    """The student's forward could not be evaluated at some perturbed point."""


def fd_plan(part: Part, k: int) -> tuple[list[dict[str, Any]], Assemble] | None:
    """Tasks that evaluate the student's forward at perturbed parameters and inputs, and a
    function turning their results into FD gradients of ``L = sum(output * upstream)``."""
    case = part.case
    base = f"fd:{part.task_id}:{k}"
    tasks: list[dict[str, Any]] = []
    if isinstance(case, LayerCase):
        x, d = case.rounds[k]
        specs = {"layer": case.layer}
    elif isinstance(case, NetCase):
        x, d = case.rounds[k]
        specs = {f"layers[{j}]": s for j, s in enumerate(case.layers)}
    else:
        return None
    n_params = sum(s.weights.size + s.biases.size for s in specs.values())
    if n_params + x.size > FD_MAX_PARAMETERS or d is None:
        return None
    steps: dict[str, float] = {}

    def make(layers: dict[str, Any], rounds: tuple[tuple[np.ndarray, None], ...], tid: str) -> None:
        if isinstance(case, LayerCase):
            tasks.append(LayerCase(layers["layer"], rounds).task(tid))
        else:
            tasks.append(NetCase(tuple(layers.values()), rounds).task(tid))

    for name, spec in specs.items():
        for param in ("weights", "biases"):
            arr = getattr(spec, param)
            for idx in np.ndindex(arr.shape):
                h = 1e-6 * max(1.0, abs(float(arr[idx])))
                steps[f"{name}.{param}{idx}"] = h
                for sign in (1, -1):
                    new = arr.copy()
                    new[idx] += sign * h
                    layers = dict(specs)
                    layers[name] = replace(spec, **{param: new})
                    make(layers, ((x, None),), f"{base}:{name}.{param}{idx}:{sign}")
    x_rounds = []
    for idx in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(float(x[idx])))
        steps[f"x{idx}"] = h
        for sign in (1, -1):
            new = x.copy()
            new[idx] += sign * h
            x_rounds.append((new, None))
    make(dict(specs), tuple(x_rounds), f"{base}:x")

    def loss(res: dict[str, Any] | None, i: int = 0) -> float:
        if not isinstance(res, dict) or not res.get("ok"):
            err = res.get("error") if isinstance(res, dict) else None
            err = err if isinstance(err, dict) else {}
            raise _NoForward(f"{safe_text(err.get('type'))[:100]}: "
                             f"{safe_text(err.get('message'))[:300]}")
        value = decode.obj(res.get("value"), "the result")
        r = decode.obj(decode.rows(value.get("rounds"), len(value.get("rounds") or []),
                                   "rounds")[i], f"round {i}")
        out = decode.field(r, "output" if "output" in r else "prediction")
        if out is None or out.shape != d.shape:
            raise _NoForward(f"the forward's output has shape "
                             f"{None if out is None else out.shape}, expected {d.shape}")
        return float(np.sum(out * d))

    def assemble(results: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
        grads: dict[str, np.ndarray] = {}
        for name, spec in specs.items():
            for param in ("weights", "biases"):
                arr = getattr(spec, param)
                g = np.empty(arr.shape)
                for idx in np.ndindex(arr.shape):
                    key = f"{name}.{param}{idx}"
                    g[idx] = (loss(results.get(f"{base}:{key}:1"))
                              - loss(results.get(f"{base}:{key}:-1"))) / (2 * steps[key])
                grads[f"{name}.{param}"] = g
        gx = np.empty(x.shape)
        res = results.get(f"{base}:x")
        for n, idx in enumerate(np.ndindex(x.shape)):
            gx[idx] = (loss(res, 2 * n) - loss(res, 2 * n + 1)) / (2 * steps[f"x{idx}"])
        grads["x"] = gx
        return grads

    return tasks, assemble


def own_forward_lines(requests: list[tuple[TestCase, Part, int, dict[str, Any]]], runner: Runner,
                      submission: Path, limits: Limits, mode: SandboxMode,
                      deadline: float, unsafe: bool = False) -> dict[str, list[str]]:
    """Run the FD child once for every failing gradient part; test id -> feedback lines."""
    plans = []
    tasks: list[dict[str, Any]] = []
    seen = set()
    for test, part, k, info in requests:
        if part.task_id in seen:  # one round per part is enough to tell forward from backward
            continue
        seen.add(part.task_id)
        plan = fd_plan(part, k)
        if plan is None:
            continue
        tasks += plan[0]
        plans.append((test, part, k, info, plan[1]))
    if not plans:
        return {}
    run = run_tasks(runner, submission, tasks, limits=limits, mode=mode, deadline=deadline,
                    unsafe=unsafe)
    out: dict[str, list[str]] = {}
    for test, part, k, info, assemble in plans:
        try:
            fd = assemble(run.results)
        except (_NoForward, MalformedResult, IndexError) as exc:
            out.setdefault(test.id, []).append(
                f"finite-difference check of your forward not possible: {safe_text(exc)[:400]}")
            continue
        out.setdefault(test.id, []).extend(_verdict_lines(part, k, info, fd))
    return out


def _verdict_lines(part: Part, k: int, info: dict[str, Any],
                   fd: dict[str, np.ndarray]) -> list[str]:
    verdicts: dict[str, list[tuple[str, GradientRecord]]] = {}
    student = info["student"]
    single = isinstance(part.case, LayerCase)
    for name, rec in info["records"].items():
        if rec.passed:
            continue
        if single:
            fd_key = {"weights": "layer.weights", "biases": "layer.biases", "inputs": "x"}[name]
        else:
            fd_key = "x" if name == "d_x" else name
        grad = student.get(name)
        if grad is None:
            continue
        fd_rec = compare(grad, fd[fd_key], path=rec.path, layer=rec.layer,
                         activation=rec.activation, parameter=rec.parameter,
                         method="central", tolerance=FD_TOLERANCE)
        verdict = fd_verdict(info["forward_ok"], fd_rec.passed, k > 0)
        verdicts.setdefault(verdict, []).append((rec.path, fd_rec))
    lines = []
    for verdict, items in verdicts.items():
        paths = ", ".join(p.removeprefix(f"{part.label}: ") for p, _ in items)
        example = next((r for _, r in items if not r.passed), None)
        detail = ("" if example is None or info.get("hide")
                  else f"\n    e.g. {shown(example, False)}")
        lines.append(f"finite differences of your own forward ({part.label}: {paths}): "
                     f"{verdict}{detail}")
    return lines


def fd_verdict(forward_ok: bool, consistent: bool, later_round: bool) -> str:
    if forward_ok and not consistent:
        return ("your BACKWARD is at fault: your forward matches the reference, but these "
                "gradients disagree with finite differences of your own forward")
    if not forward_ok and consistent:
        return ("your FORWARD is at fault: these gradients agree with finite differences of your "
                "own forward, but your forward computes a different function than the reference")
    if not forward_ok:
        return ("both are wrong: your forward differs from the reference, and these gradients "
                "also disagree with finite differences of your own forward")
    if later_round:
        return ("on a fresh model your backward agrees with finite differences of your forward: "
                "the error comes from state kept between rounds (cached values)")
    return ("these gradients agree with finite differences of your own forward on a fresh model "
            "but not here: they depend on state (cached values)")
