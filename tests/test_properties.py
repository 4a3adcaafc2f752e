"""Property tests over random correct networks: every method agrees, and none cries wolf.

A failure shrinks to a minimal :class:`NetworkSpec`; the message prints the line that rebuilds
it (``NetworkSpec(...).problem()``) and the check's own message.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from reference_mlp import get_loss
from verify import check_gradients
from verify.strategies import NetworkSpec, network_specs

SMOOTH = ("linear", "sigmoid", "tanh", "softplus")
BOTH_DTYPES = (np.float64, np.float32)


def repro(spec: NetworkSpec, method: str) -> str:
    return (f"reproduce: model, x, y = {spec!r}.problem(); "
            f"check_gradients(model, x, y, method={method!r})")


def assert_passes(spec: NetworkSpec, method: str, **kwargs) -> None:
    model, x, y = spec.problem()
    check = check_gradients(model, x, y, method=method, **kwargs)
    note(repro(spec, method))
    assert check.passed, f"{repro(spec, method)}\n{check.message()}"


@given(network_specs(dtypes=BOTH_DTYPES))
def test_analytic_equals_central_kink_aware(spec: NetworkSpec) -> None:
    assert_passes(spec, "central")


@given(network_specs(dtypes=BOTH_DTYPES))
def test_analytic_equals_autograd(spec: NetworkSpec) -> None:
    assert_passes(spec, "autograd")


@given(network_specs(activations=SMOOTH))
def test_analytic_equals_complex_step_on_smooth_nets(spec: NetworkSpec) -> None:
    assert_passes(spec, "complex_step")


@given(network_specs(dtypes=BOTH_DTYPES), st.integers(0, 2**32 - 1))
def test_directional_and_forward_pass_on_correct_nets(spec: NetworkSpec, seed: int) -> None:
    assert_passes(spec, "directional", seed=seed)
    assert_passes(spec, "forward")


@given(network_specs(dtypes=BOTH_DTYPES))
def test_gradient_shapes_equal_parameter_shapes(spec: NetworkSpec) -> None:
    model, x, y = spec.problem()
    work = model.copy()
    work.backward(get_loss("exact").derivative(y, work.forward(x)))
    for path, param, grad in work.parameters_and_gradients():
        assert grad.shape == param.shape, path
        assert grad.dtype == param.dtype, path
    for layer in work.layers:
        assert layer.d_inputs.shape == layer.inputs.shape


def mean_loss_gradients(model, x, y, loss: str) -> list[np.ndarray]:
    work = model.copy()
    work.backward(get_loss(loss).derivative(y, work.forward(x)))
    return [g for _, g in work.named_gradients()]


@given(network_specs(), st.data(), st.sampled_from(["exact", "lesson"]))
def test_metamorphic_duplicated_or_permuted_batch(spec: NetworkSpec, data, loss: str) -> None:
    model, x, y = spec.problem()
    base = mean_loss_gradients(model, x, y, loss)
    perm = np.array(data.draw(st.permutations(range(spec.batch)), label="permutation"))
    copies = data.draw(st.integers(2, 3), label="copies")
    for name, (xs, ys) in {
        "permuted": (x[perm], y[perm]),
        "duplicated": (np.tile(x, (copies, 1)), np.tile(y, (copies, 1))),
    }.items():
        for a, b in zip(mean_loss_gradients(model, xs, ys, loss), base):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13, err_msg=name)


# The dedicated no-false-alarm run: many small correct networks, relu included, both dtypes,
# both loss conventions. With the ci profile's 200 examples in each property test above this
# is well over 2000 random networks checked per CI run (see the README).
NO_FALSE_ALARM_EXAMPLES = 3000


@settings(max_examples=NO_FALSE_ALARM_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(network_specs(dtypes=BOTH_DTYPES), st.sampled_from(["exact", "lesson"]),
       st.integers(0, 2**32 - 1))
def test_no_false_alarm_on_thousands_of_correct_networks(
    spec: NetworkSpec, loss: str, seed: int
) -> None:
    assert_passes(spec, "central", loss=loss, localize=False)
    assert_passes(spec, "forward", loss=loss, localize=False)
    assert_passes(spec, "directional", loss=loss, localize=False, seed=seed)
