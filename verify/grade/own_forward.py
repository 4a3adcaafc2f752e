"""Forward or backward? Finite differences of the student's *own* forward.

For a part whose gradients are wrong, one more sandboxed child evaluates the student's forward
at parameters and inputs perturbed by ``±h`` (``layer``/``mlp`` tasks with ``null`` upstream
gradients), and the parent takes central differences of ``L = sum(output * upstream)``:

* forward right, gradients disagree with its own forward: the **backward** is at fault;
* gradients agree with a forward that computes the wrong function: the **forward** is;
* both disagree: both are wrong.

A failing later round is also run alone on a fresh object: right there, wrong after the
earlier rounds, is state kept between rounds (a cause of its own when the numbers name no more
specific one, such as gradients accumulated over rounds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from verify.compare import Tolerance, compare, tolerance_for

from . import decode
from .cases import LayerCase, NetCase, Part, TestCase
from .decode import MalformedResult
from .diagnosis import close, reference_layer, reference_net
from .explain import Finding
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
                      submission: Path, limits: Limits, mode: SandboxMode, deadline: float,
                      functions: dict[str, str] | None = None, helpers: Sequence[Path] = (),
                      unsafe: bool = False
                      ) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, Finding]]]]:
    """Run the FD child once for every failing gradient part: test id -> feedback lines, and
    test id -> causes found there (state kept between rounds: a fresh object gets the failing
    round right). ``functions`` names the functions a verdict blames (``DenseLayer.backward``,
    ``MLP.backward`` for networks whose layers pass alone, ...). ``helpers``: the submission's
    helper modules (copied beside it)."""
    plans = []
    tasks: list[dict[str, Any]] = []
    replays: list[tuple[TestCase, Part, int, dict[str, Any], str]] = []
    seen = set()
    for test, part, k, info in requests:
        if part.task_id in seen:  # one round per part is enough to tell forward from backward
            continue
        seen.add(part.task_id)
        if k > 0:  # the failing round alone, on a fresh object: state or not?
            tid = f"replay:{part.task_id}:{k}"
            case = part.case
            if isinstance(case, (LayerCase, NetCase)):
                replays.append((test, part, k, info, tid))
                tasks.append(replace(case, rounds=(case.rounds[k],)).task(tid))
        plan = fd_plan(part, k)
        if plan is None:
            continue
        tasks += plan[0]
        plans.append((test, part, k, info, plan[1]))
    if not tasks:
        return {}, {}
    run = run_tasks(runner, submission, tasks, limits=limits, mode=mode, deadline=deadline,
                    helpers=helpers, unsafe=unsafe)
    out: dict[str, list[str]] = {}
    found: dict[str, list[tuple[str, Finding]]] = {}
    stateful: set[str] = set()
    for test, part, k, info, tid in replays:
        finding = _replay(part, k, info, run.results.get(tid))
        if finding is None:
            continue
        stateful.add(part.task_id)  # the verdict says so even where a cause already explains it
        if not info.get("explained"):
            found.setdefault(test.id, []).append((f"{part.label}, round {k}", finding))
    names = functions or {}
    for test, part, k, info, assemble in plans:
        try:
            fd = assemble(run.results)
        except (_NoForward, MalformedResult, IndexError) as exc:
            out.setdefault(test.id, []).append(
                f"finite-difference check of your forward not possible: {safe_text(exc)[:400]}")
            continue
        out.setdefault(test.id, []).extend(
            _verdict_lines(part, k, info, fd, names, part.task_id in stateful))
    return out, found


def _replay(part: Part, k: int, info: dict[str, Any], result: Any) -> Finding | None:
    """State kept between rounds, when round ``k`` alone on a fresh object gets every gradient
    that failed right (the caller adds it as a cause only where the numbers name no more
    specific one)."""
    if not isinstance(result, dict) or not result.get("ok"):
        return None
    try:
        value = decode.obj(result.get("value"), "the result")
        rnd = decode.obj(decode.rows(value.get("rounds"), 1, "rounds")[0], "round 0")
        if isinstance(part.case, LayerCase):
            ref = reference_layer(replace(part.case, rounds=(part.case.rounds[k],)))[0]
            fresh = {"weights": (decode.field(rnd, "d_weights"), ref.dW),
                     "biases": (decode.field(rnd, "d_biases"), ref.db),
                     "inputs": (decode.field(rnd, "d_inputs"), ref.dx)}
            what = "DenseLayer"
        else:
            assert isinstance(part.case, NetCase)
            net = reference_net(replace(part.case, rounds=(part.case.rounds[k],)))[0]
            layers = decode.rows(rnd.get("layers"), len(part.case.layers), "layers")
            fresh = {"d_x": (decode.field(rnd, "d_x"), net.d_x)}
            for j, raw in enumerate(layers):
                lg = decode.obj(raw, f"layers[{j}]")
                fresh[f"layers[{j}].weights"] = (decode.field(lg, "d_weights"), net.layers[j].dW)
                fresh[f"layers[{j}].biases"] = (decode.field(lg, "d_biases"), net.layers[j].db)
            what = "MLP"
    except MalformedResult:
        return None
    wrong = [p for p, rec in info["records"].items() if not rec.passed]
    if not wrong or not all(p in fresh and close(*fresh[p]) for p in wrong):
        return None
    rounds = "round 0" if k == 1 else f"rounds 0 to {k - 1}"
    # A network's state may be its layers' (a DenseLayer counting its calls): both named.
    function = "DenseLayer.forward/backward" if what == "DenseLayer" else \
        "MLP or DenseLayer, forward/backward"
    holder = f"{what} object (with its layers)" if what == "MLP" else f"{what} object"
    return Finding(
        "state_between_rounds", function,
        f"state kept between rounds: the same {holder} gives wrong gradients after "
        f"{rounds}, right ones when it is new (a cached value that is not updated, or a sum "
        "that is not reset)",
        f"round {k}'s inputs on a fresh {what} (in a separate run) give the right gradients; "
        f"on the object that already ran {rounds} they are wrong",
        f"round {k} alone on a fresh {what} gives the right gradients; after {rounds} they are "
        "wrong", tuple(wrong), None, 4)


def _verdict_lines(part: Part, k: int, info: dict[str, Any], fd: dict[str, np.ndarray],
                   functions: dict[str, str], stateful: bool) -> list[str]:
    verdicts: dict[str, list[str]] = {}
    student = info["student"]
    single = isinstance(part.case, LayerCase)
    if stateful:  # a layer that passes alone may still keep state: no narrower blame
        functions = {}
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
        kind = "network" if not single else "layer"
        verdict = fd_verdict(info["forward_ok"], fd_rec.passed, stateful,
                             functions.get(f"{kind}.backward", "DenseLayer.backward"
                                           if single else "MLP.backward or DenseLayer.backward"),
                             functions.get(f"{kind}.forward", "DenseLayer.forward"
                                           if single else "MLP.forward or DenseLayer.forward"))
        verdicts.setdefault(verdict, []).append(rec.path)
    lines = []
    for verdict, paths in verdicts.items():
        n = len(paths)
        rounds = getattr(part.case, "rounds", ())
        where = part.label + (f", round {k}" if len(rounds) > 1 else "")
        lines.append(f"finite differences of your own forward ({where}, {n} wrong "
                     f"gradient{'s' if n > 1 else ''}): {verdict}")
    return lines


def fd_verdict(forward_ok: bool, consistent: bool, stateful: bool = False,
               backward: str = "backward", forward: str = "forward") -> str:
    """Forward or backward, from finite differences of the student's own forward (taken on a
    fresh object); ``stateful``: the failing round alone on a fresh object was right."""
    if stateful and not forward_ok:
        return (f"your FORWARD is at fault ({forward}), through state kept between rounds: on "
                "a fresh object these gradients are right, and here your forward's output "
                "differs from the reference")
    if stateful:
        return (f"your BACKWARD is at fault ({backward}), through state kept between rounds: "
                "on a fresh object these gradients are right")
    if forward_ok and not consistent:
        return (f"your BACKWARD is at fault ({backward}): your forward matches the reference, "
                "but these gradients disagree with finite differences of your own forward")
    if not forward_ok and consistent:
        return (f"your FORWARD is at fault ({forward}): these gradients agree with finite "
                "differences of your own forward, but your forward computes a different "
                "function than the reference")
    if not forward_ok:
        return (f"both are wrong: your forward ({forward}) differs from the reference, and "
                f"these gradients ({backward}) also disagree with finite differences of your "
                "own forward")
    return ("these gradients agree with finite differences of your own forward on a fresh "
            "object but not here: they depend on state kept between calls")
