"""Explaining a single layer's round: dz and post-step plans, history across rounds, facts."""

from __future__ import annotations

import itertools

import numpy as np

from ..diagnosis import RefLayerRound, close
from .activations import _dz_rules, _fprime, _relu_rules
from .consistency import reproduced_by, settle, tested_at, wrong_entries
from .findings import Finding, Known, LayerGot, _Best, _finding, _Hyp
from .fitting import Array, _arr, _factor_param, _factor_words, _fit, _same
from .forward import _forward_states, _State
from .posts import _posts_biases, _posts_inputs, _posts_weights


def _layer_sizes(batch: int, n_in: int, n_out: int) -> dict[str, int]:
    return {"batch": batch, "n_outputs": n_out, "n_inputs": n_in, "n_elements": batch * n_out}


def explain_layer(activation: str, W: Array, b: Array, ref: list[RefLayerRound], k: int,
                  got: LayerGot, hide: bool = False, passing: bool = False
                  ) -> tuple[list[list[Finding]], Known]:
    """For round ``k`` of a single-layer part: the alternative sets of findings that explain
    every failing check (most specific first; usually one), and what is known otherwise.

    A plan is kept only under the rules of :mod:`.consistency` (all the failing checks
    reproduced, enough wrong entries for what was fitted); the families tested here and what
    reproduced the numbers go with :class:`Known`, for the test's other places to check.
    ``passing``: a round where every check passed is searched too, for what it tests (a
    hypothesis that predicts other numbers there is contradicted by it)."""
    r = ref[k]
    x, d_out = r.x, r.d_out
    batch, n_in = x.shape
    n_out = W.shape[1]
    sizes = _layer_sizes(batch, n_in, n_out)
    failing: list[str] = [p for p in ("output", "weights", "biases", "inputs")
                          if p in got.passed and not got.passed[p]]
    grads = {p: _arr(v) for p, v in got.grads.items()}
    if not failing and not passing:
        return [], Known()
    best = _Best()
    tried: set[_Hyp] = set()  # what predicts other numbers than the reference's here
    earlier_out = [ref[j].output for j in range(k)]
    states = _forward_states(activation, x, W, b, r.output, got, earlier_out, sizes, hide)
    for state, out in states:
        if state.hyp.name is not None and "output" in got.passed and not _same(out, r.output):
            tried.add(state.hyp)
        if state.hyp.name is None:
            if "output" in failing:
                continue  # the reference's forward does not give a wrong output
        elif "output" not in failing or got.output is None or not _same(got.output, out):
            continue  # a forward hypothesis must reproduce the wrong output
        if d_out is None:
            best.offer(["output"], [(state.hyp, ("output",), ())])
            continue
        for dz_hyp, dz in _layer_dz(activation, state, d_out, ref, k, grads, failing, x,
                                    sizes, hide):
            for names, explained in _plan(state, dz_hyp, dz, x, grads, got, failing, sizes,
                                          ref, k, hide, tried):
                best.offer(explained, [(h, ps, ()) for h, ps in names])
    history = _history(ref, k, got, failing)
    if k > 0 and any(p in failing for p in ("weights", "biases", "inputs")):
        tried |= {_Hyp("accumulated"), _Hyp("stale_gradient")}
    if history:
        best.offer(history[1], [(history[0], history[1], ())])
    plans, covered = best.alternatives()
    expected = {"output": r.output, "weights": r.dW, "biases": r.db, "inputs": r.dx}
    wrong = sum(wrong_entries(got.output if p == "output" else grads.get(p), expected[p])
                for p in failing)
    plans, covered = settle(plans, covered, failing, wrong)
    alternatives = [[_finding(h, ps, hide) for h, ps, _ in plan if h.name is not None]
                    for plan in plans]
    known = Known([p for p in failing if p not in covered], tested=tested_at(tried, passing, wrong),
                  reproduced=reproduced_by(plans))
    if known.paths and d_out is not None:
        known.facts += _layer_facts(x, W, grads, got, known.paths)
    return alternatives, known


def _layer_dz(activation: str, state: _State, d_out: Array, ref: list[RefLayerRound], k: int,
              grads: dict[str, Array | None], failing: list[str], x: Array,
              sizes: dict[str, int], hide: bool) -> list[tuple[_Hyp, Array]]:
    """Candidate dz for one layer: the rules, a relu slope/threshold and a factor fitted."""
    zs_earlier = [(j, [ref[j].z]) for j in range(k) if ref[j].z.shape == state.z.shape]
    out: list[tuple[_Hyp, Array]] = []
    with np.errstate(all="ignore"):
        for rule in _dz_rules([activation], [state.z], zs_earlier):
            dz = rule.rule(0, activation, d_out, state.z, state.a)
            if dz is not None:
                out.append((rule.hyp, np.asarray(dz, dtype=np.float64)))
        correct = d_out * _fprime(activation, state.z)
        base = {"weights": x.T @ correct, "biases": correct.sum(axis=0, keepdims=True),
                "inputs": correct @ state.W.T}
        for p in ("weights", "biases", "inputs"):
            if p in failing and grads.get(p) is not None:
                c = _fit(grads[p], base[p])
                fp = _factor_param(c, sizes) if c is not None else None
                if fp is not None:
                    words = _factor_words(fp[0], fp[1], sizes, hide)
                    out.append((_Hyp(f"dz_factor:{fp[0]}", f"dz multiplied by {words}: the "
                                     "chain rule's first step, dz = d_outputs * f'(z), is off "
                                     "by a constant factor, so the weight, bias and input "
                                     "gradients all are", f"every entry of dz is {words} "
                                     "times the expected, which reproduces {what}",
                                     "dz off by one constant factor reproduces {what}",
                                     priority=3 if fp[0] != "other" else 6, fitted=1,
                                     value=(fp[1],)),
                                fp[1] * correct))
                break
        if activation == "relu":
            target = grads.get("weights") if "weights" in failing else None
            fit = (x, d_out, state.z, target) if target is not None else None
            for rule in _relu_rules([state.z], fit, hide):
                dz = rule.rule(0, activation, d_out, state.z, state.a)
                if dz is not None:
                    out.append((rule.hyp, dz))
    return out


def _plan(state: _State, dz_hyp: _Hyp, dz: Array, x: Array, grads: dict[str, Array | None],
          got: LayerGot, failing: list[str], sizes: dict[str, int], ref: list[RefLayerRound],
          k: int, hide: bool, tried: set[_Hyp] | None = None
          ) -> list[tuple[list[tuple[_Hyp, tuple[str, ...]]], list[str]]]:
    """Every way a dz hypothesis and post-steps explain the failing gradients: [(names with
    their paths, explained paths)], none when the hypothesis contradicts a gradient (one that
    passed included). A gradient several post-steps reproduce gives one plan per post-step.
    ``tried`` collects the hypotheses whose prediction differs from the reference's."""
    tried = set() if tried is None else tried
    with np.errstate(all="ignore"):
        base = {"weights": x.T @ dz, "biases": dz.sum(axis=0, keepdims=True),
                "inputs": dz @ state.W.T}
    owners = [h for h in (state.hyp, dz_hyp) if h.name is not None]
    expected = {"weights": ref[k].dW, "biases": ref[k].db, "inputs": ref[k].dx}
    # A family is tested here when, alone (on the reference's forward), it predicts other
    # numbers than the reference's: then this place can contradict it.
    if state.hyp.name is None and dz_hyp.name is not None and \
            not all(_same(base[p], expected[p]) for p in base if p in got.passed):
        tried.add(dz_hyp)
    fixed: list[tuple[_Hyp, str]] = []  # (hypothesis, path) every plan has
    if "output" in failing:
        if state.hyp.name is None:
            return []
        fixed.append((state.hyp, "output"))
    options: list[list[_Hyp]] = []  # per failing gradient: the post-steps that reproduce it
    option_paths: list[str] = []
    for p in ("weights", "biases", "inputs"):
        s = grads.get(p)
        if p not in got.passed or s is None:
            continue
        if got.passed[p]:
            if not _same(s, base[p]):
                return []
            continue
        if _same(s, base[p]):
            if not owners:
                return []  # the reference reproduces a failing gradient: impossible
            fixed += [(h, p) for h in owners]
            continue
        if p == "weights":
            posts = _posts_weights(x, dz, s, sizes, [ref[j].x for j in range(k)], base[p].shape,
                                   hide)
        elif p == "biases":
            posts = _posts_biases(dz, s, sizes, hide)
        else:
            posts = _posts_inputs(dz, state.W, got.weights_after, s, sizes, hide)
        with np.errstate(all="ignore"):
            matching = [hyp for hyp, value in posts if _same(s, value)]
            if not owners:
                tried |= {hyp for hyp, value in posts
                          if hyp.name is not None and not _same(value, expected[p])}
        if matching:
            options.append(list({h.name: h for h in matching}.values()))
            option_paths.append(p)
    plans = []
    for combo in itertools.product(*options) if options else [()]:
        names: dict[str, list[str]] = {h.name: [] for h in owners}  # type: ignore[misc]
        hyps: dict[str, _Hyp] = {h.name: h for h in owners}  # type: ignore[misc]
        for h, p in fixed:
            names[h.name].append(p)  # type: ignore[index]
        for hyp, p in zip(combo, option_paths, strict=True):
            assert hyp.name is not None
            hyps[hyp.name] = hyp
            names.setdefault(hyp.name, []).append(p)
            for h in owners:
                names[h.name].append(p)  # type: ignore[index]
        explained = list(dict.fromkeys([p for _, p in fixed] + option_paths))
        plans.append(([(hyps[n], tuple(dict.fromkeys(ps))) for n, ps in names.items() if ps],
                      explained))
    return plans


def _history(ref: list[RefLayerRound], k: int, got: LayerGot,
             failing: list[str]) -> tuple[_Hyp, tuple[str, ...]] | None:
    """Gradients accumulated over rounds, or an earlier round's returned again."""
    if k == 0:
        return None
    keys = {"weights": "dW", "biases": "db", "inputs": "dx"}
    grad_paths = [p for p in failing if p in keys and got.grads.get(p) is not None]
    if not grad_paths:
        return None
    acc = [p for p in grad_paths
           if _same(got.grads[p], sum(getattr(ref[j], keys[p]) for j in range(k + 1)))]
    if acc and len(acc) == len(grad_paths):
        return (_Hyp("accumulated", "gradients accumulated over rounds and never reset: each "
                     "backward adds to the previous rounds' gradients (+=) instead of "
                     "replacing them", f"round {k}'s values equal the sum of the expected "
                     f"ones of rounds 0 to {k}, which reproduces {{what}}", priority=1),
                tuple(acc))
    for j in range(k):
        stale = [p for p in grad_paths if _same(got.grads[p], getattr(ref[j], keys[p]))]
        if stale and len(stale) == len(grad_paths):
            return (_Hyp("stale_gradient", f"round {j}'s gradients returned again in round {k}: "
                         "backward does not recompute them (computed only once, or cached)",
                         f"round {j}'s expected values reproduce {{what}}", priority=1),
                    tuple(stale))
    return None


def _layer_facts(x: Array, W: Array, grads: dict[str, Array | None], got: LayerGot,
                 paths: list[str]) -> list[str]:
    """What is known of unexplained gradients: whether one wrong dz explains all three."""
    facts = []
    dW, db, dx = grads.get("weights"), grads.get("biases"), grads.get("inputs")
    if "output" in got.passed and not got.passed["output"]:
        facts.append("the forward's output is wrong too")
    # dz is located only where it can be: two of its three gradients wrong (one alone, a
    # small error after dz is absorbed by a dz within the others' tolerance), and the forward
    # right (a wrong z from the forward makes dz wrong while its line of code is right).
    wrong = {"weights", "biases", "inputs"} & set(paths)
    if dW is None or db is None or dx is None or len(wrong) < 2 or facts:
        return facts
    if dW.shape != (x.shape[1], W.shape[1]) or db.shape != (1, W.shape[1]) \
            or dx.shape != x.shape or not all(np.isfinite(g).all() for g in (dW, db, dx)):
        return facts
    dz = _solve_dz(x, W, dW, db, dx)
    if dz is not None:
        facts.append("d_weights, d_biases and the input gradient are all consistent with one "
                     "wrong dz (x.T @ dz, dz.sum(axis=0) and dz @ weights.T of the same dz): "
                     "the error is in dz = d_outputs * f'(z), before the three gradients")
    return facts


def _solve_dz(x: Array, W: Array, dW: Array, db: Array, dx: Array) -> Array | None:
    """A dz that gives all three gradients through the correct steps, when the system is
    overdetermined enough for that to be evidence; else None."""
    batch, n_in = x.shape
    n_out = W.shape[1]
    unknowns = batch * n_out
    rows = []
    rhs = []
    for i in range(n_in):  # dW[i, o] = sum_b x[b, i] dz[b, o]
        for o in range(n_out):
            row = np.zeros(unknowns)
            row[np.arange(batch) * n_out + o] = x[:, i]
            rows.append(row)
            rhs.append(dW[i, o])
    for o in range(n_out):
        row = np.zeros(unknowns)
        row[np.arange(batch) * n_out + o] = 1.0
        rows.append(row)
        rhs.append(db[0, o])
    for bi in range(batch):  # dx[b, i] = sum_o dz[b, o] W[i, o]
        for i in range(n_in):
            row = np.zeros(unknowns)
            row[bi * n_out + np.arange(n_out)] = W[i, :]
            rows.append(row)
            rhs.append(dx[bi, i])
    A, y = np.array(rows), np.array(rhs)
    if np.linalg.matrix_rank(A) >= len(rhs) - 1:
        return None  # (nearly) any gradients would fit: no evidence
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    dz = sol.reshape(batch, n_out)
    if close(x.T @ dz, dW) and close(dz.sum(axis=0, keepdims=True), db) and close(dz @ W.T, dx):
        return dz
    return None
