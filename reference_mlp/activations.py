"""Activation functions: small frozen objects looked up by name in one registry.

Each activation has a ``name``, ``forward(z)`` and ``derivative(z)`` (the elementwise derivative
of ``forward`` at ``z``). All of them are generic over dtype: float32 stays float32, float64
stays float64, and complex128 works too, so that complex-step differentiation can run through
the very same code. Where a function is not analytic (``relu``, ``leaky_relu``) the branch is
decided by the real part of ``z``.

Conventions at a kink: the derivative of ``relu`` at exactly ``z == 0`` is 0 (PyTorch uses the
same convention), and that of ``leaky_relu`` at 0 is ``negative_slope``. ``kinks`` lists the
points where an activation is not differentiable, which the gradient checker uses to tell a
finite-difference stencil that straddles a kink from a real error.

``sigmoid`` and ``softplus`` are evaluated in a form that never overflows, so they stay finite
and warning-free for ``|z|`` = 1000 and beyond.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "get_activation",
]

Array = NDArray[Any]  # generic over dtype: float32, float64 and complex128 alike


@dataclass(frozen=True)
class Activation:
    """Base class: an elementwise function with its derivative.

    ``smooth`` is True when the function is analytic everywhere (complex-step differentiation
    is exact for it); ``kinks`` holds the points of non-differentiability.
    """

    name: str = ""
    smooth: bool = True
    kinks: tuple[float, ...] = ()

    def forward(self, z: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def derivative(self, z: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, z: Array) -> Array:
        return self.forward(z)


def _inexact(z: Array) -> Array:
    """``z`` as an array of its own float or complex dtype; integers become float64 (a slope of
    0.01 in an integer dtype would be 0)."""
    z = np.asarray(z)
    return z if np.issubdtype(z.dtype, np.inexact) else z.astype(np.float64)


def _positive_side(z: Array) -> Array:
    """Boolean mask of ``Re(z) > 0``: the branch every piecewise activation takes."""
    return np.real(z) > 0


def _stable_exp_neg_abs(z: Array) -> tuple[Array, Array]:
    """Return ``(s, exp(-s*z))`` with ``s = sign(Re z)`` (+1 at 0), so ``|exp(-s*z)| <= 1``."""
    s = np.where(np.real(z) >= 0, 1, -1).astype(np.real(z).dtype)
    return s, np.exp(-s * z)


@dataclass(frozen=True)
class Linear(Activation):
    """Identity: ``forward(z) = z``, derivative 1."""

    name: str = "linear"

    def forward(self, z: Array) -> Array:
        return z

    def derivative(self, z: Array) -> Array:
        return np.ones_like(z)


@dataclass(frozen=True)
class ReLU(Activation):
    """``max(z, 0)``; the derivative at exactly 0 is taken to be 0, as in PyTorch.

    NaN passes through (as with ``np.maximum`` and ``torch.relu``), so a NaN parameter is
    reported by the next input check instead of being silently zeroed.
    """

    name: str = "relu"
    smooth: bool = False
    kinks: tuple[float, ...] = (0.0,)

    def forward(self, z: Array) -> Array:
        return np.where(np.real(z) <= 0, np.zeros_like(z), z)

    def derivative(self, z: Array) -> Array:
        return _positive_side(z).astype(z.dtype)


@dataclass(frozen=True)
class LeakyReLU(Activation):
    """``z`` for ``z > 0``, ``negative_slope * z`` otherwise (the derivative at 0 is
    ``negative_slope``)."""

    name: str = "leaky_relu"
    smooth: bool = False
    kinks: tuple[float, ...] = (0.0,)
    negative_slope: float = 0.01

    def forward(self, z: Array) -> Array:
        z = _inexact(z)
        return np.where(_positive_side(z), z, z * z.dtype.type(self.negative_slope))

    def derivative(self, z: Array) -> Array:
        z = _inexact(z)
        one = np.ones_like(z)
        return np.where(_positive_side(z), one, one * z.dtype.type(self.negative_slope))


@dataclass(frozen=True)
class Sigmoid(Activation):
    """``1 / (1 + exp(-z))``, evaluated without overflow for any ``|z|``."""

    name: str = "sigmoid"

    def forward(self, z: Array) -> Array:
        s, e = _stable_exp_neg_abs(z)
        one = z.dtype.type(1)
        return np.where(s > 0, one / (one + e), e / (one + e))

    def derivative(self, z: Array) -> Array:
        # e / (1 + e)**2 with e = exp(-|z|): sig * (1 - sig) would cancel for large |z|.
        _, e = _stable_exp_neg_abs(z)
        return e / (z.dtype.type(1) + e) ** 2


@dataclass(frozen=True)
class Tanh(Activation):
    """Hyperbolic tangent; derivative ``sech(z)**2 = 1 - tanh(z)**2``."""

    name: str = "tanh"

    def forward(self, z: Array) -> Array:
        return np.tanh(z)

    def derivative(self, z: Array) -> Array:
        # 4e / (1 + e)**2 with e = exp(-2|z|): 1 - tanh(z)**2 loses digits as tanh(z) -> +-1.
        _, e = _stable_exp_neg_abs(z + z)
        return z.dtype.type(4) * e / (z.dtype.type(1) + e) ** 2


@dataclass(frozen=True)
class Softplus(Activation):
    """``log(1 + exp(z))`` as ``max(z, 0) + log1p(exp(-|z|))``; its derivative is the sigmoid."""

    name: str = "softplus"

    def forward(self, z: Array) -> Array:
        s, e = _stable_exp_neg_abs(z)
        return np.where(s > 0, z, np.zeros_like(z)) + np.log1p(e)

    def derivative(self, z: Array) -> Array:
        return Sigmoid().forward(z)


ACTIVATIONS: dict[str, Activation] = {
    act.name: act for act in (Linear(), ReLU(), LeakyReLU(), Sigmoid(), Tanh(), Softplus())
}
"""The registry: every activation by name."""


def get_activation(activation: str | Activation) -> Activation:
    """Look an activation up by name (an :class:`Activation` instance is returned as is)."""
    if isinstance(activation, Activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(
            f"activation must be a name (str) or an Activation, got {type(activation).__name__}"
        )
    try:
        return ACTIVATIONS[activation]
    except KeyError:
        valid = ", ".join(repr(name) for name in ACTIVATIONS)
        raise ValueError(f"unknown activation {activation!r}; expected one of {valid}") from None
