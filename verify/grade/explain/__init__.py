"""Explain wrong numbers from evidence: hypotheses tested on the student's own values.

The catalogue of :mod:`verify.bugs` names a bug when a known mutation of the reference
reproduces the student's numbers. This module goes further: for each wrong gradient it tests
*families* of hypotheses, fitting their free parameter from the student's own values where
there is one, and states a cause only when the hypothesis reproduces the student's numbers to
the grading tolerance (every entry, the gradients that passed included). What it tests:

* **where in the chain**: a layer's backward is ``dz = d_out * f'(z)``, then ``d_weights =
  x.T @ dz``, ``d_biases = sum(dz)``, ``d_inputs = dz @ W.T``. A hypothesis about ``dz`` must
  reproduce all three gradients: an error in ``dz`` is blamed on ``dz``, not on the bias;
* **dz**: a constant factor (named: ``1/batch``, ``2``, ``-1``, ...), the activation derivative
  replaced by another function of ``z`` or ``a = f(z)`` (at the output, a missing square or
  factor, the output's formula applied to ``z``, another activation's formula, the wrong sign,
  a relu slope or threshold fitted from the data), NaN where ``exp`` overflows, an earlier
  round's pre-activation (stale mask);
* **after dz**, per gradient: transposed, a reshape used as a transpose, a constant factor, the
  wrong reduction axis, only some examples, an earlier round's inputs, the weights after an
  update, the right values in the wrong shape;
* **across rounds**: a gradient that equals the sum over the rounds so far (accumulated, never
  reset) or an earlier round's (not recomputed);
* **the forward**: the weights replaced during ``forward``, no bias, no or another activation,
  overflow, an earlier round's output; the backward is then searched again on the state that
  forward produced (a wrong forward explains the gradients that follow from it);
* **networks**: every hypothesis above applied to the student's one ``DenseLayer`` class (so in
  every layer at once, compounding down the chain), plus how ``MLP.backward`` walks the layers
  (not chained, reversed, the upstream gradient scaled) and what it returns.

Each :class:`Finding` says the cause in words, the function at fault, and its evidence (with
values for visible tests, without for hidden ones). What no hypothesis reproduces is described
as what is known (:class:`Known`: which gradients, which layer the error starts at, which
rounds, forward or backward) and never given a cause.

A hypothesis that reproduces some numbers is not yet a cause: :mod:`.consistency` states it
only when it fits all the test's evidence (every failing check of its place, enough wrong
entries for what it fitted, every other case, network and round of the test, and the function
the evidence implicates).

The engine is split by family of hypotheses: :mod:`.fitting` (fitted and named factors,
tolerance), :mod:`.findings` (findings, hypotheses, the best plans), :mod:`.activations` (dz:
the activation's derivative), :mod:`.posts` (the steps after dz), :mod:`.forward` (the forward's
state), :mod:`.layer` (a single layer), :mod:`.walk` and :mod:`.network` (networks: the rules
simulated down the layers, then the plans) and :mod:`.loss` (the loss).
"""

from __future__ import annotations

from .activations import EXP_OVERFLOW
from .findings import KINDS, Finding, Known, LayerGot, NetGot
from .fitting import format_factor
from .layer import explain_layer
from .loss import explain_loss, explain_mse_value
from .network import explain_net

__all__ = [
    "EXP_OVERFLOW",
    "KINDS",
    "Finding",
    "Known",
    "LayerGot",
    "NetGot",
    "explain_layer",
    "explain_loss",
    "explain_mse_value",
    "explain_net",
    "format_factor",
]
