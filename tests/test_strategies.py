"""verify.strategies: bounds respected, arguments validated with messages naming them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.errors import InvalidArgument

from reference_mlp import MLP
from verify.strategies import NetworkSpec, network_specs, networks, problems


@settings(max_examples=50)
@given(network_specs(min_layers=2, max_layers=3, min_width=2, max_width=5,
                     activations=("relu", "tanh"), dtypes=(np.float32, np.float64),
                     min_batch=3, max_batch=4))
def test_specs_respect_bounds(spec: NetworkSpec) -> None:
    assert 2 <= spec.n_layers <= 3 and len(spec.activations) == spec.n_layers
    assert all(2 <= w <= 5 for w in spec.sizes)
    assert set(spec.activations) <= {"relu", "tanh"}
    assert spec.dtype in ("float32", "float64") and 3 <= spec.batch <= 4
    model, x, y = spec.problem()
    assert model.sizes == list(spec.sizes)
    assert [layer.activation.name for layer in model.layers] == list(spec.activations)
    assert x.shape == (spec.batch, spec.sizes[0]) and y.shape == (spec.batch, spec.sizes[-1])
    assert x.dtype == model.layers[0].weights.dtype == np.dtype(spec.dtype)


@settings(max_examples=10)
@given(networks(max_layers=2), problems(max_layers=2))
def test_networks_and_problems(model: MLP, triple) -> None:
    assert isinstance(model, MLP) and 1 <= len(model) <= 2
    net, x, y = triple
    assert net.forward(x).shape == y.shape


def test_spec_is_reproducible() -> None:
    spec = NetworkSpec(sizes=(3, 4, 2), activations=("relu", "linear"), batch=5, seed=11)
    (m1, x1, y1), (m2, x2, y2) = spec.problem(), spec.problem()
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    for (_, a), (_, b) in zip(m1.named_parameters(), m2.named_parameters(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.any(m1.layers[0].biases != 0)  # biases are exercised, not all zero
    assert "NetworkSpec(sizes=(3, 4, 2)" in repr(spec)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_layers": 0}, "min_layers=0 must be at least 1"),
        ({"max_layers": 1.5}, "max_layers=1.5 must be an integer"),
        ({"min_layers": 3, "max_layers": 2}, "min_layers=3 must not exceed max_layers=2"),
        ({"min_width": True}, "min_width=True must be an integer"),
        ({"min_width": 9, "max_width": 8}, "min_width=9 must not exceed max_width=8"),
        ({"min_batch": 0}, "min_batch=0 must be at least 1"),
        ({"max_batch": "8"}, "max_batch='8' must be an integer"),
        ({"activations": "relu"}, "activations='relu' must be a sequence"),
        ({"activations": ()}, "activations=\\(\\) must name at least one"),
        ({"activations": ("relu", "gelu")}, "activations contains 'gelu'"),
        ({"dtypes": ()}, "dtypes=\\(\\) must hold at least one"),
        ({"dtypes": (np.int32,)}, "dtypes contains"),
        ({"dtypes": np.float64}, "dtypes=.* must be a sequence"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(v),
)
def test_arguments_are_validated(kwargs, match) -> None:
    with pytest.raises(InvalidArgument, match=match):
        network_specs(**kwargs)


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        network_specs(1, 4)  # type: ignore[misc]
