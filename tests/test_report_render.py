"""Rendering of a report built from fixed, synthetic records: golden text, structure of the rest.

The records come from ``verify.compare.compare`` on fixed arrays, so every number in them is an
exact IEEE result, the same on any machine and BLAS. Regenerate the golden file after an
intended change of the text layout with ``VERIFY_UPDATE_GOLDEN=1 python -m pytest
tests/test_report_render.py``, and review the diff.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from verify.compare import GradientCheck, Tolerance, compare
from verify.report.render import (
    CSV_FIELDS,
    FORMATS,
    ROW_HEADERS,
    render,
    render_html,
    render_markdown,
    render_text,
    table_rows,
)
from verify.report.runner import CaseResult, Report

GOLDEN = Path(__file__).parent / "golden" / "report-text.txt"

TOL = Tolerance(1e-7, 1e-6, "numerical")
AUTOGRAD_TOL = Tolerance(1e-12, 1e-10, "autograd")


def _record(analytic, reference, *, layer, activation, parameter, method, tol, **kw):
    return compare(
        np.asarray(analytic, dtype=float), np.asarray(reference, dtype=float),
        path=f"layers[{layer}].{parameter}", layer=layer, activation=activation,
        parameter=parameter, method=method, tolerance=tol, **kw,
    )


def _rows(method: str, tol: Tolerance, *, wrong: bool = False) -> list:
    w0 = np.array([[0.5, -0.25, 0.0], [0.125, 1.5, -2.0]])
    b0 = np.array([[0.75, 0.0, -0.5]])
    x0 = np.array([[1.0, -1.0], [0.25, 2.0]])
    w1 = np.array([[0.5], [-1.0], [0.25]])
    b1 = np.array([[-0.875]])
    x1 = np.array([[0.5, 0.5, -0.5], [0.0, 1.0, 2.0]])
    bump = 2.0**-30 if method == "central" else 2.0**-45  # inside each tolerance
    rows = [
        _record(x0 + bump, x0, layer=0, activation="relu", parameter="inputs", method=method,
                tol=tol),
        _record(w0 + bump, w0, layer=0, activation="relu", parameter="weights", method=method,
                tol=tol, kink_mask=np.array([[False, False, True], [False, False, False]]),
                kink_bounds=(np.zeros((2, 3)), np.ones((2, 3)))),
        _record(b0, b0 - bump, layer=0, activation="relu", parameter="biases", method=method,
                tol=tol),
        _record(x1, x1, layer=1, activation="linear", parameter="inputs", method=method,
                tol=tol),
        _record(w1 * (1.01 if wrong else 1.0), w1, layer=1, activation="linear",
                parameter="weights", method=method, tol=tol),
        _record(b1, b1, layer=1, activation="linear", parameter="biases", method=method,
                tol=tol),
    ]
    return rows


def synthetic_report(*, failing: bool = False, fuzz: bool = False) -> Report:
    good = CaseResult(
        label="lesson-example", case="lesson-example", description="A relu and a linear layer.",
        network="2 -> 3 relu -> 1 linear, batch 2", loss="exact", dtype="float64",
        checks=[GradientCheck("central", _rows("central", TOL)),
                GradientCheck("autograd", _rows("autograd", AUTOGRAD_TOL))],
        seconds={"central": 0.25, "autograd": 0.5},
    )
    other = CaseResult(
        label="several-outputs[loss=lesson]", case="several-outputs",
        description="Two conventions.", network="2 -> 3 relu -> 1 linear, batch 2",
        loss="lesson", dtype="float64",
        checks=[GradientCheck("central", _rows("central", TOL, wrong=failing)),
                GradientCheck("autograd", _rows("autograd", AUTOGRAD_TOL))],
        seconds={"central": 0.125, "autograd": 0.5},
        note="loss=lesson: the lesson's derivative; 3x the exact one here.",
    )
    fuzzed = []
    if fuzz:
        fuzzed = [CaseResult(
            label="fuzz-0", case="fuzz", description="hypothesis", network="2 -> 3 relu -> 1 "
            "linear, batch 2", loss="exact", dtype="float64",
            checks=[GradientCheck("central", _rows("central", TOL))],
            seconds={"central": 0.125}, fuzz=True,
        )]
    return Report(
        results=[good, other], methods=("central", "autograd"), seed=42,
        command="python -m verify report --seed 42",
        environment={"python": "3.11", "numpy": "2.x", "seed": 42},
        seconds=1.5, fuzz=fuzzed, fuzz_requested=1 if fuzz else 0,
    )


def test_text_matches_golden():
    text = render_text(synthetic_report(failing=True))
    if os.environ.get("VERIFY_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_text_reports_pass_and_failure_at_the_end():
    passing = render_text(synthetic_report())
    assert passing.rstrip().splitlines()[-1].startswith("PASS: 24 / 24 rows pass")
    assert "Failures" not in passing
    failing = render_text(synthetic_report(failing=True))
    last = failing.rstrip().splitlines()
    assert last[-1].startswith("FAIL: 23 / 24 rows pass")
    assert "Failures (1):" in failing
    # The failing row is repeated at the end with GradientRecord.message().
    tail = failing[failing.index("Failures (1):"):]
    assert ("several-outputs[loss=lesson] / central: layers[1].weights: 3 / 3 mismatched; "
            "worst at (1, 0): analytic -1.01, numerical -1") in tail


def test_table_rows_have_every_column_and_format_numbers_fixed():
    rows = table_rows(synthetic_report().results)
    assert len(rows) == 24 and all(len(row) == len(ROW_HEADERS) for row in rows)
    by = {(r[0], r[1], r[2], r[3]): dict(zip(ROW_HEADERS, r, strict=True)) for r in rows}
    w = by[("lesson-example", "0 relu", "weights", "central")]
    assert w["shape"] == "2x3"
    assert w["max abs err"] == f"{2.0**-30:.2e}" == "9.31e-10"
    assert w["kinks"] == "1"
    assert w["tolerance"] == "1e-07 + 1e-06*|ref|"
    assert w["result"] == "ok"


def test_markdown_has_tables_legend_and_failures():
    md = render_markdown(synthetic_report(failing=True), plot_links={"lesson-example": "p.png"})
    assert md.startswith("# Gradient report")
    header = [cell.strip() for cell in md.split("## Every gradient")[1].split("\n")[2].split("|")]
    assert tuple(header[1:-1]) == ROW_HEADERS
    assert "![lesson-example](p.png)" in md
    assert "## Failures (1)" in md
    for column in ROW_HEADERS:
        assert f"- **{column}**:" in md  # every column explained
    # the row count of the big table: header + separator + 24 rows
    table = [line for line in md.splitlines() if line.startswith("| lesson-example") or
             line.startswith("| several-outputs")]
    assert len(table) == 24 + 2  # + the two lines of the cases table


def test_html_is_a_page_with_classes_and_embedded_plot(tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    report = synthetic_report(failing=True)
    report.plots = {"lesson-example": png}
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<tr>") == 2 + 1 + 24 + 1 + 3  # cases, summary header+rows, rows...
    assert '<td class="fail">FAIL</td>' in page
    assert "data:image/png;base64,iVBORw0KGgpmYWtl" in page
    assert "several-outputs[loss=lesson]" in page and "&lt;" not in page.split("<body>")[0][-1:]


def test_json_structure(tmp_path):
    doc = json.loads(render(synthetic_report(failing=True, fuzz=True), "json"))
    assert doc["schema"] == "verify-report/1"
    assert doc["passed"] is False
    assert {"python", "numpy", "seed"} <= set(doc["environment"])
    assert len(doc["rows"]) == 24 + 6
    row = doc["rows"][0]
    for key in ("case", "loss", "fuzz", "path", "layer", "activation", "parameter", "shape",
                "method", "dtype", "max_abs_error", "max_rel_error", "worst_index", "analytic",
                "reference", "tolerance", "mismatched", "size", "kinks", "passed", "note"):
        assert key in row, key
    assert row["tolerance"] == {"atol": 1e-7, "rtol": 1e-6, "relative_atol": False}
    assert [f["path"] for f in doc["failures"]] == ["layers[1].weights"]
    assert doc["fuzz"]["requested"] == 1 and doc["fuzz"]["networks"][0]["label"] == "fuzz-0"
    assert {s["method"] for s in doc["summary"]} == {"central", "autograd"}
    assert sum(r["fuzz"] for r in doc["rows"]) == 6


def test_csv_has_one_line_per_row_at_full_precision():
    text = render(synthetic_report(), "csv")
    lines = list(csv.DictReader(io.StringIO(text)))
    assert tuple(lines[0]) == CSV_FIELDS
    assert len(lines) == 24
    errors = {float(line["max_abs_error"]) for line in lines}
    assert 2.0**-30 in errors  # repr round-trips exactly


def test_render_rejects_unknown_format():
    with pytest.raises(ValueError, match="unknown format 'yaml'; expected one of text, markdown"):
        render(synthetic_report(), "yaml")
    assert set(FORMATS) == {"text", "markdown", "html", "json", "csv"}


def test_summary_names_worst_rows():
    summary = {s.method: s for s in synthetic_report(failing=True).summary()}
    central = summary["central"]
    assert central.rows == 12 and central.failed == 1 and central.kinks == 2
    assert central.max_abs_at == "several-outputs[loss=lesson] layers[1].weights"
    assert central.max_abs_error == pytest.approx(0.01)
