"""Explaining a network's round: simulated plans, what MLP.backward returns, history, facts."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..diagnosis import RefNetRound
from .consistency import ident, reproduced_by, same, settle, tested_at, wrong_entries
from .findings import Finding, Known, Named, NetGot, Post, _Best, _finding, _Hyp
from .fitting import Array, _arr, _same
from .forward import _net_states, _NetState
from .layer import _layer_sizes
from .posts import _posts_biases, _posts_weights
from .walk import _net_rules, _NetSim, _simulate


def explain_net(specs: list[Any], ref: list[RefNetRound], k: int, rounds_x: list[Array],
                got: NetGot, hide: bool = False, passing: bool = False
                ) -> tuple[list[list[Finding]], Known]:
    """As :func:`explain_layer`, for round ``k`` of a network part (``specs``: its
    LayerSpecs): a cause only for a plan that reproduces every failing check of the round
    (:mod:`.consistency`); ``passing`` as for :func:`explain_layer`."""
    failing = [p for p, ok in got.passed.items() if not ok]
    if not failing and not passing:
        return [], Known()
    r = ref[k]
    n = len(specs)
    acts = [s.activation for s in specs]
    x0 = rounds_x[k]
    batch = x0.shape[0]
    d_loss = r.layers[-1].d_out
    grads = {p: _arr(v) for p, v in got.grads.items()}
    words = {**{f"layers[{j}].weights": f"layers[{j}].d_weights" for j in range(n)},
             **{f"layers[{j}].biases": f"layers[{j}].d_biases" for j in range(n)},
             "d_x": "the gradient MLP.backward returned", "prediction": "the prediction"}
    best = _Best()
    tried: set[_Hyp] = set()  # what predicts other numbers than the reference's here
    expected = _expected(r, n)
    for state, pred in _net_states(specs, x0, ref, k, got, hide):
        if state.hyp.name is not None and "prediction" in got.passed \
                and not _same(pred, r.prediction):
            tried.add(state.hyp)
        if state.hyp.name is None and "prediction" in failing:
            continue
        if state.hyp.name is not None and (got.prediction is None or "prediction" not in failing
                                           or not _same(got.prediction, pred)):
            continue
        if d_loss is None:
            continue
        for dz_hyp, rule, dx_hyp, dx_rule, walk in _net_rules(specs, state, d_loss, grads,
                                                              failing, batch, k, ref, hide,
                                                              got.weights_after):
            sim = _simulate(acts, state.xs, state.zs, state.as_, state.Ws, d_loss, rule, dx_rule,
                            walk)
            if sim is None:
                continue
            if state.hyp.name is None and _differs(sim, state, expected, got.passed):
                tried |= {h for h in (dz_hyp, dx_hyp) if h.name is not None}
            for plan, explained in _net_plan(state, dz_hyp, dx_hyp, sim, grads, got, failing,
                                             batch, ref, k, hide, d_loss, tried):
                best.offer(explained, plan)
    hist = _net_history(ref, k, got, grads, failing, n)
    if k > 0 and any(p != "prediction" for p in failing):
        tried |= {_Hyp("accumulated"), _Hyp("stale_gradient")}
    if hist:
        best.offer([p for _, ps in hist for p in ps],
                   [(h, ps, _path_layers(ps)) for h, ps in hist])
    plans, covered = best.alternatives()
    wrong = sum(wrong_entries(got.prediction if p == "prediction" else grads.get(p),
                              expected.get(p)) for p in failing)
    plans, covered = settle(plans, covered, failing, wrong)
    alternatives = [[f for h, ps, layers in plan if h.name is not None
                     for f in _per_layer(h, ps, hide, words, layers)] for plan in plans]
    known = Known([p for p in failing if p not in covered], tested=tested_at(tried, passing, wrong),
                  reproduced=reproduced_by(plans))
    if known.paths:
        known.facts += _net_facts(known.paths, got, n)
    return alternatives, known


def _expected(r: RefNetRound, n: int) -> dict[str, Array | None]:
    """The reference's value of every check of a network round."""
    out: dict[str, Array | None] = {"prediction": r.prediction, "d_x": r.d_x}
    for j in range(n):
        out[f"layers[{j}].weights"] = r.layers[j].dW
        out[f"layers[{j}].biases"] = r.layers[j].db
    return out


def _differs(sim: _NetSim, state: _NetState, expected: dict[str, Array | None],
             passed: dict[str, bool]) -> bool:
    """Whether a simulation predicts, for some check made, numbers other than the reference's
    (then the place tests its hypothesis)."""
    with np.errstate(all="ignore"):
        for j, dz in enumerate(sim.dzs):
            if j in sim.skipped:
                return True
            for p, value in ((f"layers[{j}].weights", state.xs[j].T @ dz),
                             (f"layers[{j}].biases", dz.sum(axis=0, keepdims=True))):
                if p in passed and not _same(value, expected[p]):
                    return True
        return "d_x" in passed and not _same(sim.returned, expected["d_x"])


def _per_layer(hyp: _Hyp, paths: tuple[str, ...], hide: bool, words: dict[str, str],
               layers: tuple[int, ...]) -> list[Finding]:
    """One finding per layer a class-wide hypothesis applies to (``name@j``), or one for the
    network (how MLP walks the layers, a forward hypothesis)."""
    network_level = hyp.function in ("MLP.backward", "MLP.forward", "DenseLayer.forward",
                                     "forward") or not hyp.per_layer
    if network_level or not layers:
        return [_finding(hyp, paths, hide, None, words)]
    return [_finding(hyp, paths, hide, j, words) for j in layers]


def _net_plan(state: _NetState, dz_hyp: _Hyp, dx_hyp: _Hyp, sim: _NetSim,
              grads: dict[str, Array | None], got: NetGot, failing: list[str], batch: int,
              ref: list[RefNetRound], k: int, hide: bool, d_loss: Array,
              tried: set[_Hyp] | None = None) -> list[tuple[Named, list[str]]]:
    """As :func:`_plan`, for a simulated network: every plan, none on a contradiction."""
    tried = set() if tried is None else tried
    n = len(sim.dzs)
    owners = [h for h in (state.hyp, dz_hyp, dx_hyp) if h.name is not None]
    fixed: list[tuple[_Hyp, str]] = []
    options: list[list[_Hyp]] = []
    option_paths: list[str] = []
    if "prediction" in failing:
        if state.hyp.name is None:
            return []
        fixed.append((state.hyp, "prediction"))
    with np.errstate(all="ignore"):
        for j in range(n):
            dz, x = sim.dzs[j], state.xs[j]
            sizes = _layer_sizes(batch, x.shape[1], dz.shape[1])
            for param, base in (("weights", x.T @ dz), ("biases", dz.sum(axis=0, keepdims=True))):
                p = f"layers[{j}].{param}"
                s = grads.get(p)
                if j in sim.skipped:  # a layer never back-propagated: its gradients never set
                    if p in got.passed and (s is not None or not owners):
                        return []
                    if p in got.passed and not got.passed[p]:
                        fixed += [(h, p) for h in owners]
                    continue
                if s is None or p not in got.passed:
                    continue
                if got.passed[p]:
                    if not _same(s, base):
                        return []
                    continue
                if _same(s, base):
                    if not owners:
                        return []
                    fixed += [(h, p) for h in owners]
                    continue
                earlier = [ref[r].layers[j].x for r in range(k)]
                posts = _posts_weights(x, dz, s, sizes, earlier, base.shape, hide) \
                    if param == "weights" else _posts_biases(dz, s, sizes, hide)
                matching = [hyp for hyp, value in posts if _same(s, value)]
                if not owners:  # alone, on the reference's dz: tested where it differs
                    exp = ref[k].layers[j].dW if param == "weights" else ref[k].layers[j].db
                    tried |= {h for h, value in posts
                              if h.name is not None and not _same(value, exp)}
                if matching:
                    options.append(list({h.name: h for h in matching}.values()))
                    option_paths.append(p)
        s = grads.get("d_x")
        if s is not None and "d_x" in got.passed:
            if got.passed["d_x"]:
                if not _same(s, sim.returned):
                    return []
            elif _same(s, sim.returned) and owners:
                fixed += [(h, "d_x") for h in owners]
            else:
                returns = _mlp_returns(sim, d_loss, state.Ws)
                matching = [hyp for hyp, value in returns if _same(s, value)]
                if not owners:
                    tried |= {h for h, value in returns
                              if h.name is not None and not _same(value, ref[k].d_x)}
                if matching:
                    options.append(matching)
                    option_paths.append("d_x")
    combos: Iterable[tuple[_Hyp, ...]] = itertools.product(*options) if options else [()]
    if math.prod(len(o) for o in options) > 64:  # too many to weigh: the first of each
        combos = [tuple(o[0] for o in options)]
    plans = []
    for combo in combos:
        names: dict[str, list[str]] = {h.name: [] for h in owners}  # type: ignore[misc]
        hyps: dict[str, _Hyp] = {h.name: h for h in owners}  # type: ignore[misc]
        for h, p in fixed:
            names[h.name].append(p)  # type: ignore[index]
        consistent = True
        for hyp, p in zip(combo, option_paths, strict=True):
            assert hyp.name is not None
            if hyp.name in hyps and not same(hyp.name, "", hyp.value, ident(hyp.name),
                                             hyps[hyp.name].value):
                # One DenseLayer, one constant: d_weights 0.654x in one layer and 1.017x in
                # another are not "one factor" (a data-dependent scale).
                consistent = False
                break
            hyps[hyp.name] = hyp
            names.setdefault(hyp.name, []).append(p)
            for h in owners:
                names[h.name].append(p)  # type: ignore[index]
        if not consistent:
            continue
        explained = list(dict.fromkeys([p for _, p in fixed] + option_paths))
        layers_of: dict[str, tuple[int, ...]] = {}
        if dz_hyp.name is not None:
            layers_of[dz_hyp.name] = sim.applied
        if dx_hyp.name is not None:
            layers_of[dx_hyp.name] = tuple(j for j in range(n) if j > 0 or "d_x" in explained)
        plans.append(([(hyps[nm], tuple(dict.fromkeys(ps)), layers_of.get(nm, _path_layers(ps)))
                       for nm, ps in names.items() if ps], explained))
    return plans


def _path_layers(paths: Iterable[str]) -> tuple[int, ...]:
    return tuple(sorted({int(p[7:p.index("]")]) if p.startswith("layers[") else 0
                         for p in paths if p.startswith("layers[") or p == "d_x"}))


def _mlp_returns(sim: _NetSim, d_loss: Array, Ws: list[Array]) -> list[Post]:
    n = len(sim.dxs)
    out: list[Post] = [(_Hyp("mlp_return:upstream", "MLP.backward returns the gradient it was "
                             "given (d_loss) instead of the one the first layer's backward "
                             "returned", "d_loss itself reproduces {what}", priority=2,
                             function="MLP.backward"), d_loss)]
    for j in range(1, n):
        out.append((_Hyp("mlp_return:layer", f"MLP.backward returns the input gradient of "
                         f"layers[{j}] instead of layers[0]'s (the first layer's backward "
                         "result is not what is returned)", f"layers[{j}]'s input gradient "
                         "reproduces {what}", priority=2, function="MLP.backward"), sim.dxs[j]))
    return out


def _net_history(ref: list[RefNetRound], k: int, got: NetGot, grads: dict[str, Array | None],
                 failing: list[str], n: int) -> list[tuple[_Hyp, tuple[str, ...]]]:
    if k == 0:
        return []

    def ref_path(r: RefNetRound, p: str) -> Array | None:
        if p == "d_x":
            return r.d_x
        j = int(p[7:p.index("]")])
        return r.layers[j].dW if p.endswith("weights") else r.layers[j].db

    paths = [p for p in failing if p != "prediction" and grads.get(p) is not None]
    if not paths:
        return []
    acc = []
    for p in paths:
        vals = [v for v in (ref_path(ref[j], p) for j in range(k + 1)) if v is not None]
        if len(vals) == k + 1 and all(v.shape == vals[0].shape for v in vals) and \
                _same(grads[p], np.sum(vals, axis=0)):
            acc.append(p)
    if acc and len(acc) == len(paths):
        return [(_Hyp("accumulated", "gradients accumulated over rounds and never reset: each "
                      "backward adds to the previous rounds' gradients (+=) instead of "
                      "replacing them", f"round {k}'s values equal the sum of the expected ones "
                      f"of rounds 0 to {k}, which reproduces {{what}}", priority=1),
                 tuple(acc))]
    for j in range(k):
        stale = [p for p in paths if _same(grads[p], ref_path(ref[j], p))]
        if stale and len(stale) == len(paths):
            return [(_Hyp("stale_gradient", f"round {j}'s gradients returned again in round "
                          f"{k}: backward does not recompute them (computed only once, or "
                          "cached)", f"round {j}'s expected values reproduce {{what}}",
                          priority=1), tuple(stale))]
    return []


def _net_facts(paths: list[str], got: NetGot, n: int) -> list[str]:
    facts = []
    layers = sorted({int(p[7:p.index("]")]) for p in paths if p.startswith("layers[")})
    if layers:
        top = layers[-1]
        above_ok = all(got.passed.get(f"layers[{j}].{q}", True)
                       for j in range(top + 1, n) for q in ("weights", "biases"))
        if top < n - 1 and above_ok:
            facts.append(f"the error starts at layers[{top}]: the layers after it "
                         f"(layers[{top + 1}] to layers[{n - 1}]) are right, so either "
                         f"layers[{top}]'s own backward or the input gradient layers[{top + 1}] "
                         "passes down is wrong")
        elif top == n - 1:
            facts.append(f"the error starts at the last layer, layers[{n - 1}], which gets "
                         "the loss gradient itself")
    if got.passed.get("prediction") is False:
        facts.append("the prediction (the forward) is wrong too")
    return facts
