"""verify.compare: the tolerance table, compare()'s records and the messages they give."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from verify.compare import (
    METHODS,
    REFERENCE_NAMES,
    TOLERANCES,
    GradientCheck,
    GradientRecord,
    Tolerance,
    compare,
    format_value,
    tolerance_for,
)

TOL = Tolerance(1e-5, 1e-7, "numerical")


def record(analytic, reference, tolerance: Tolerance = TOL, **kw) -> GradientRecord:
    return compare(analytic, reference, path="layers[1].weights", layer=1, activation="relu",
                   parameter="weights", method="central", tolerance=tolerance, **kw)


def three_mismatches() -> tuple[np.ndarray, np.ndarray]:
    reference = np.zeros((4, 3))
    analytic = reference.copy()
    reference[2, 0], analytic[2, 0] = 0.4082, 0.4123
    analytic[0, 1], analytic[3, 2] = 1e-4, -2e-4
    return analytic, reference


# --- Tolerance and the table ----------------------------------------------------------------


def test_tolerance_allows_atol_plus_rtol_times_the_reference() -> None:
    tol = Tolerance(1e-7, 1e-6)
    np.testing.assert_allclose(tol.allowed([0.0, -2.0, 10.0]), [1e-7, 1e-7 + 2e-6, 1e-7 + 1e-5],
                               rtol=1e-15)
    assert str(tol) == "1e-07 + 1e-06*|numerical|"
    assert str(tol.with_reference_name("autograd")) == "1e-07 + 1e-06*|autograd|"


def test_tolerance_accepts_numpy_scalars_and_rejects_bools() -> None:
    assert Tolerance(np.float32(1e-3), np.float64(0.0)).atol == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="atol must be a finite number >= 0, got True"):
        Tolerance(True, 0.0)


@pytest.mark.parametrize("bad", [-1e-9, math.inf, math.nan, "1e-7", None])
def test_tolerance_rejects_what_is_not_a_finite_number_at_least_0(bad) -> None:
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0"):
        Tolerance(1e-7, bad)


def test_table_has_a_row_per_dtype_and_method_with_the_documented_numbers() -> None:
    assert set(TOLERANCES) == {(d, m) for d in ("float64", "complex128", "float32")
                               for m in METHODS}
    documented = {"central": (1e-7, 1e-6), "forward": (1e-5, 1e-4),
                  "complex_step": (1e-12, 1e-9), "directional": (1e-7, 1e-6),
                  "autograd": (1e-12, 1e-10)}
    for method, (atol, rtol) in documented.items():
        for dtype in ("float64", "complex128"):  # complex128 networks are checked like float64
            assert TOLERANCES[(dtype, method)] == Tolerance(atol, rtol, REFERENCE_NAMES[method],
                                                            relative_atol=True)
        assert TOLERANCES[("float32", method)] == Tolerance(1e-5, 1e-4, REFERENCE_NAMES[method],
                                                            relative_atol=True)


def test_central_tolerance_fails_small_relative_errors_of_ordinary_gradients() -> None:
    # The module docstring's claim, in a row whose largest gradient is S = 1: a 1% error in an
    # entry above 1.0001e-5 S fails, and so does a 0.01% error above about 1.01e-3 S.
    tol = tolerance_for("float64", "central")
    for g, rel in ((1.001e-5, 1e-2), (1.02e-3, 1e-4), (1.0, 1e-4), (1e-3, 1e-2)):
        assert not record([[g * (1 + rel), 1.0]], [[g, 1.0]], tol).passed, (g, rel)
    assert record([[0.99e-5 * 1.01, 1.0]], [[0.99e-5, 1.0]], tol).passed
    assert record([[1e-3 * (1 + 1e-4), 1.0]], [[1e-3, 1.0]], tol).passed  # 1e-7 <= 1e-7 + 1e-9


def test_the_tables_atol_follows_the_size_of_the_gradients() -> None:
    tol = tolerance_for("float64", "central")
    assert str(tol) == "1e-07*max|numerical| + 1e-06*|numerical|"
    ref = np.array([[2e-9, -1e-9]])
    assert not record(-ref, ref, tol).passed  # a sign flip of tiny gradients: no vacuous pass
    assert record(ref * (1 + 1e-8), ref, tol).passed
    np.testing.assert_allclose(tol.allowed(ref), 1e-7 * 2e-9 + 1e-6 * np.abs(ref))
    # A tolerance given as an (atol, rtol) pair is absolute, as written.
    assert record(-ref, ref, Tolerance(1e-7, 1e-6)).passed


def test_tolerance_for_takes_a_dtype_or_its_name_and_names_what_is_valid() -> None:
    assert tolerance_for(np.float32, "autograd") is TOLERANCES[("float32", "autograd")]
    assert tolerance_for("float64", "central") is TOLERANCES[("float64", "central")]
    with pytest.raises(ValueError, match=r"no tolerance for dtype 'int64'.*'float32'"):
        tolerance_for(np.int64, "central")
    with pytest.raises(ValueError, match=r"method 'finite'.*'complex_step'"):
        tolerance_for("float64", "finite")


# --- compare(): the record ------------------------------------------------------------------


def test_record_holds_place_count_worst_entry_both_values_and_tolerance() -> None:
    rec = record(*three_mismatches(), dtype=np.float32)
    assert (rec.path, rec.layer, rec.activation, rec.parameter, rec.method) == (
        "layers[1].weights", 1, "relu", "weights", "central")
    assert (rec.shape, rec.size, rec.mismatched, rec.passed) == ((4, 3), 12, 3, False)
    assert (rec.worst_index, rec.analytic, rec.reference) == ((2, 0), 0.4123, 0.4082)
    assert rec.max_abs_error == pytest.approx(0.0041)
    assert rec.max_rel_error == 1.0  # |1e-4 - 0| / max(|1e-4|, 0)
    assert rec.tolerance is TOL and rec.dtype == "float32" and rec.kinks == 0


def test_worst_entry_is_the_one_furthest_beyond_its_allowed_error() -> None:
    # Entry 0 has the larger absolute error but is within its (relative) allowance.
    rec = record([[100.001, 2e-5]], [[100.0, 0.0]], Tolerance(1e-5, 1e-4))
    assert rec.worst_index == (0, 1) and rec.mismatched == 1
    assert rec.max_abs_error == pytest.approx(1e-3)


def test_matching_gradients_pass_with_their_largest_error() -> None:
    ref = np.arange(6.0).reshape(2, 3)
    rec = record(ref + 1e-9, ref)
    assert rec.passed and rec.mismatched == 0 and rec.dtype == "float64"
    assert rec.max_abs_error == pytest.approx(1e-9, rel=1e-6)


def test_shape_mismatch_and_non_finite_values_are_mismatches() -> None:
    rec = record(np.zeros((3, 4)), np.zeros((4, 3)), note="extra")
    assert not rec.passed and rec.mismatched == rec.size == 12 and rec.shape == (4, 3)
    assert rec.max_abs_error == math.inf and rec.worst_index == ()
    assert rec.note == "shape (3, 4) does not match the expected (4, 3); extra"
    # No entry was compared: no 'worst : analytic nan, numerical nan' in the message.
    assert rec.message() == f"{rec.path}: 12 / 12 mismatched: {rec.note}"
    rec = record([[np.nan, 1.0, np.inf]], [[0.0, 1.0, 0.0]])
    assert rec.mismatched == 2 and rec.max_abs_error == math.inf


def test_complex_values_are_compared_on_their_real_parts() -> None:
    assert record(np.array([[1.0 + 5j]]), np.array([[1.0 + 0j]])).passed


def test_at_a_kink_the_analytic_value_must_lie_between_the_bounds_in_either_order() -> None:
    mask = np.array([[True, True, False]])
    left, right = np.array([[1.0, 2.0, np.nan]]), np.array([[0.0, 3.0, np.nan]])
    rec = record([[0.5, 3.5, 7.0]], [[9.0, 9.0, 7.0]], kink_mask=mask, kink_bounds=(left, right))
    assert rec.kinks == 2 and rec.mismatched == 1 and rec.worst_index == (0, 1)
    assert rec.max_abs_error == pytest.approx(0.5)  # the distance from [2, 3]
    with pytest.raises(ValueError, match="kink_mask needs kink_bounds"):
        record([[0.5]], [[0.0]], kink_mask=[[True]])


def test_empty_gradients_pass() -> None:
    rec = record(np.zeros((0, 3)), np.zeros((0, 3)))
    assert rec.passed and rec.size == 0 and rec.worst_index == ()


# --- the messages ---------------------------------------------------------------------------


def test_mismatch_message_names_place_count_worst_index_both_values_and_tolerance() -> None:
    assert record(*three_mismatches()).message() == (
        "layers[1].weights: 3 / 12 mismatched; worst at (2, 0): analytic 0.4123, "
        "numerical 0.4082 (allowed 1e-05 + 1e-07*|numerical|)"
    )


def test_message_uses_the_reference_name_kinks_and_note() -> None:
    tol = Tolerance(1e-12, 1e-10, "autograd")
    rec = record([[0.5, 1.0]], [[0.25, 1.0]], tol, kink_mask=[[False, True]],
                 kink_bounds=([[0.0, 0.0]], [[0.0, 2.0]]), note="see layer 2")
    assert rec.message() == (
        "layers[1].weights: 1 / 2 mismatched; worst at (0, 0): analytic 0.5, autograd 0.25 "
        "(allowed 1e-12 + 1e-10*|autograd|); 1 at a kink; see layer 2"
    )


def test_pass_message_and_values_with_enough_digits_to_differ() -> None:
    rec = record([[0.41230001]], [[0.41230002]], Tolerance(1e-6, 0.0))
    assert rec.message() == (
        "layers[1].weights: ok, 1 entries, max abs error 1e-08 at (0, 0) (analytic 0.41230001, "
        "numerical 0.41230002; allowed 1e-06 + 0*|numerical|)"
    )
    assert format_value(0.4123) == "0.4123" and format_value(1.0, 1.0) == "1"


def test_a_note_only_record_says_just_the_note() -> None:
    rec = GradientRecord(path="(whole check)", layer=-1, activation="", parameter="", shape=(),
                         method="central", dtype="", max_abs_error=math.nan,
                         max_rel_error=math.nan, worst_index=(), analytic=math.nan,
                         reference=math.nan, tolerance=TOL, mismatched=0, size=0, kinks=0,
                         passed=False, note="the check raised")
    assert rec.message() == "(whole check): the check raised"


def test_to_dict_is_json_ready() -> None:
    d = record(np.zeros((3, 4)), np.zeros((4, 3))).to_dict()
    assert d["shape"] == [4, 3] and d["worst_index"] == [] and d["max_abs_error"] == "inf"
    assert d["tolerance"] == {"atol": 1e-5, "rtol": 1e-7, "relative_atol": False}
    assert d["status"] == "mismatch"
    json.dumps(d, allow_nan=False)


# --- GradientCheck --------------------------------------------------------------------------


def test_check_passes_summarises_and_finds_rows_by_path() -> None:
    ok = record([[1.0]], [[1.0 + 1e-9]])
    check = GradientCheck("central", [ok])
    assert check.passed and check.failures == [] and len(check) == 1 and list(check) == [ok]
    assert check["layers[1].weights"] is ok
    assert check.message() == "central: all 1 gradients match; largest abs error 1e-09 in " \
                              "layers[1].weights"
    with pytest.raises(KeyError, match=r"no row for 'x'; rows: \['layers\[1\].weights'\]"):
        check["x"]


def test_failing_check_lists_the_failures_then_the_root_causes() -> None:
    bad = record(*three_mismatches())
    cause = compare([[1.0]], [[0.0]], path="loss", layer=-1, activation="",
                    parameter="predictions", method="reference", tolerance=TOL)
    check = GradientCheck("central", [record([[1.0]], [[1.0]]), bad], root_causes=[cause])
    assert check.failures == [bad]
    assert check.message().splitlines() == [
        "central: 1 / 2 gradients mismatched",
        f"  {bad.message()}",
        "root cause (layer-local check, true upstream gradient):",
        f"  {cause.message()}",
    ]
    check = GradientCheck("central", [bad], info={"diagnosis": "nothing in the model"})
    assert check.message().splitlines()[-1] == "note: nothing in the model"
    d = check.to_dict()
    assert d["passed"] is False and d["rows"] == [bad.to_dict()] and d["root_causes"] == []


# --- allowances, estimated errors and verdicts ------------------------------------------------


def test_an_allowance_is_added_per_entry_and_shown() -> None:
    tol = tolerance_for("float32", "central")
    ref = np.array([[1.0, 0.5]])
    got = ref + np.array([[0.0, 3e-3]])
    assert not record(got, ref, tol).passed
    rec = record(got, ref, tol, allowance=np.array([[0.0, 4e-3]]))
    assert rec.passed and rec.verdict == "match" and rec.allowance == pytest.approx(4e-3)
    assert "+ 0.004)" in rec.message()


def test_an_entry_within_its_estimated_error_is_unresolved_not_a_mismatch() -> None:
    tol = tolerance_for("float64", "central")
    ref = np.array([[1.0, 0.5, 0.25]])
    got = ref + np.array([[0.0, 2e-4, 1e-2]])
    error = np.array([[0.0, 1e-4, 1e-4]])  # 2e-4 is within 3 x 1e-4; 1e-2 is not
    rec = record(got, ref, tol, error=error)
    assert (rec.mismatched, rec.unresolved, rec.verdict) == (1, 1, "mismatch")
    rec = record(got[:, :2], ref[:, :2], tol, error=error[:, :2])
    assert (rec.mismatched, rec.unresolved, rec.verdict) == (0, 1, "match")
    assert rec.resolution == pytest.approx(3e-4 + 1e-7 + 0.5e-6, rel=1e-6)


def test_a_row_that_cannot_tell_right_from_wrong_is_inconclusive_never_a_match() -> None:
    tol = tolerance_for("float64", "central")
    ref = np.array([[1e-9, -2e-9]])
    rec = record(-ref, ref, tol, error=np.array([[2e-9, 2e-9]]))  # the method's own error
    assert rec.verdict == "inconclusive" and not rec.passed and rec.mismatched == 0
    assert rec.resolution > 1 and rec.message().startswith(
        "layers[1].weights: inconclusive, 2 entries; largest allowance")
    # Exactly equal gradients are a match, whatever the allowance.
    assert record(ref, ref, tol, allowance=np.array([[1.0, 1.0]])).verdict == "match"
    # A caller's absolute tolerance is taken as given: never inconclusive.
    assert record(ref * 1.5, ref, Tolerance(1e-3, 0.0)).verdict == "match"
    check = GradientCheck("central", [rec, record(ref, ref, tol)])
    assert check.inconclusive == [rec] and not check.passed
    assert check.message().splitlines()[0] == (
        "central: 1 / 2 gradients inconclusive (the check could not tell right from wrong), "
        "none mismatched")


def test_error_mode_messages_give_the_relative_error_next_to_the_absolute_one() -> None:
    rec = record(*three_mismatches())
    assert rec.message(errors=True) == (
        "layers[1].weights: 3 / 12 mismatched; worst at (2, 0): analytic 0.4123, "
        "numerical 0.4082 (abs error 0.0041, rel error 0.0099; allowed 1e-05 + 1e-07*|numerical|)"
    )
    check = GradientCheck("central", [rec], findings=["layers[0].backward changed its argument"])
    assert check.message(errors=True).splitlines()[1] == f"  {rec.message(errors=True)}"
    assert check.message().splitlines()[-1] == "note: layers[0].backward changed its argument"
    assert check.to_dict()["findings"] == ["layers[0].backward changed its argument"]
