"""Render a :class:`~verify.report.runner.Report` as text, markdown, HTML, JSON or CSV.

Every format reads the same :class:`~verify.compare.GradientRecord` rows. Numbers in the tables
use a fixed format (``1.23e-11``) so the output is stable; JSON and CSV carry full precision.

JSON layout (``"schema": "verify-report/1"``), for pipelines:

* ``passed`` (bool): every row of every case (and fuzz network) passed;
* ``rows``: one object per case, layer, parameter and method: ``case`` (the variant's label),
  ``loss``, ``fuzz`` (bool), and the fields of :meth:`GradientRecord.to_dict` (``path``,
  ``layer``, ``activation``, ``parameter``, ``shape``, ``method``, ``dtype``,
  ``max_abs_error``, ``max_rel_error``, ``worst_index``, ``analytic``, ``reference``,
  ``tolerance: {atol, rtol}``, ``mismatched``, ``size``, ``kinks``, ``passed``, ``note``,
  ``checked``: null, or how many of the ``size`` entries a sampled check compared).
  Non-finite numbers are the strings ``"inf"`` / ``"nan"``;
* ``summary``: per method and dtype over the suite: ``rows``, ``failed``, ``kinks``,
  ``max_abs_error`` / ``max_abs_at``, ``max_rel_error`` / ``max_rel_at``, ``seconds``;
* ``cases``: ``label``, ``case``, ``description``, ``network``, ``loss``, ``dtype``, ``passed``,
  ``note``;
* ``failures``: ``case``, ``method``, ``path``, ``message`` for each failing row (and the
  layer-local root causes, ``root_cause: true``);
* ``fuzz``: ``null``, or ``requested``, ``networks`` (label, network, dtype, spec: the
  ``verify.strategies.NetworkSpec`` that rebuilds it, passed) and
  ``summary`` (as above: the worst error found per method);
* ``environment``: ``python``, ``platform``, versions of ``numpy``, ``torch``, ``hypothesis``
  and ``backprop-verify``, ``seed``, ``dtype``, ``methods``, ``tolerance_override``;
* ``command``, ``seconds``, ``plots`` (case label -> PNG path relative to the report).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from verify.compare import GradientRecord

from .runner import CaseResult, MethodSummary, Report

__all__ = [
    "FORMATS",
    "JSON_SCHEMA_VERSION",
    "ROW_HEADERS",
    "failure_lines",
    "render",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
    "report_dict",
    "table_rows",
    "verdict",
]

JSON_SCHEMA_VERSION = "verify-report/1"

ROW_HEADERS = (
    "case", "layer", "parameter", "method", "shape", "max abs err", "max rel err",
    "worst index", "kinks", "tolerance", "result",
)
"""The columns of the main table, in order."""

SUMMARY_HEADERS = (
    "method", "dtype", "rows", "failed", "kinks", "max abs err", "where", "max rel err", "where",
    "seconds",
)


def _num(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.2e}"


def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape)) if shape else "-"


def _index(index: Sequence[int]) -> str:
    return str(tuple(int(i) for i in index)) if index else "-"


def _tolerance(row: GradientRecord) -> str:
    return f"{row.tolerance.atol:g} + {row.tolerance.rtol:g}*|ref|"


def _layer(row: GradientRecord) -> str:
    return f"{row.layer} {row.activation}" if row.layer >= 0 else "-"


def _result(row: GradientRecord) -> str:
    verdict = "ok" if row.passed else "FAIL"
    if row.sampled:  # a seeded sample (--entries): say how much of the gradient was checked
        verdict += f" (checked {row.checked:,} of {row.size:,})"
    return verdict


def table_rows(results: Sequence[CaseResult]) -> list[list[str]]:
    """The main table's cells (all strings), one list per row, columns as :data:`ROW_HEADERS`."""
    return [
        [
            result.label, _layer(row), row.parameter or "-", row.method, _shape(row.shape),
            _num(row.max_abs_error), _num(row.max_rel_error), _index(row.worst_index),
            str(row.kinks), _tolerance(row), _result(row),
        ]
        for result in results
        for row in result.rows
    ]


def _summary_rows(summary: Sequence[MethodSummary], *, timed: bool = True) -> list[list[str]]:
    return [
        [
            s.method, s.dtype, str(s.rows), str(s.failed), str(s.kinks), _num(s.max_abs_error),
            s.max_abs_at, _num(s.max_rel_error), s.max_rel_at,
        ] + ([f"{s.seconds:.2f}"] if timed else [])
        for s in summary
    ]


def _case_rows(results: Sequence[CaseResult]) -> list[list[str]]:
    return [[r.label, r.network, r.loss, r.dtype, "ok" if r.passed else "FAIL"] for r in results]


CASE_HEADERS = ("case", "network", "loss", "dtype", "result")


def _links(report: Report, plot_links: dict[str, str] | None) -> dict[str, str]:
    if plot_links is not None:
        return dict(plot_links)
    return {label: Path(path).as_posix() for label, path in report.plots.items()}


def failure_lines(report: Report) -> list[str]:
    """Each failing row (and layer-local root cause) as one line, prefixed by case and method."""
    lines = []
    for result in report.all_results:
        if result.passed:
            continue
        if result.fuzz:  # how to get the network back: its spec's repr
            lines.append(f"{result.label}: rebuild with "
                         f"verify.strategies.{result.description}.problem()")
        for check in result.checks:
            lines += [f"{result.label} / {check.method}: {row.message()}"
                      for row in check.failures]
            lines += [
                f"{result.label} / {check.method}: root cause (layer-local): {row.message()}"
                for row in check.root_causes
            ]
    return lines


def verdict(report: Report, *, timed: bool = True) -> str:
    rows = [row for result in report.all_results for row in result.rows]
    failed = sum(not row.passed for row in rows)
    n_cases = len(report.results)
    head = "PASS" if report.passed else "FAIL"
    fuzz = f" + {len(report.fuzz)} fuzz networks" if report.fuzz or report.fuzz_requested else ""
    sampled = [row for row in rows if row.sampled]
    sample = ""
    if sampled:  # never a plain PASS for what was not all checked
        checked = sum(row.checked or 0 for row in sampled)
        total = sum(row.size for row in sampled)
        sample = (f"; {len(sampled)} rows checked on a seeded sample only: {checked:,} of "
                  f"{total:,} of their entries")
    return (
        f"{head}: {len(rows) - failed} / {len(rows)} rows pass ({n_cases} cases{fuzz}, "
        f"methods {', '.join(report.methods)}, seed {report.seed}{sample}"
        + (f"; {report.seconds:.1f} s)" if timed else ")")
    )


def _notes(report: Report) -> list[str]:
    return [f"{r.label}: {r.note}" for r in report.results if r.note]


def _legend() -> list[tuple[str, str]]:
    return [
        ("case", "the case (and its variant: loss convention or dtype), see the cases table"),
        ("layer", "layer index and its activation; rows are listed output layer last"),
        ("parameter", "weights (n_in x n_out), biases (1 x n_out), or inputs: the gradient "
         "with respect to the layer's input (batch x n_in)"),
        ("method", "what the analytic gradient is compared with: central differences, "
         "complex_step, directional (one random direction per layer), autograd (PyTorch)"),
        ("shape", "the gradient's shape (rows x columns)"),
        ("max abs err", "largest |analytic - reference| over the entries (at a kink: the "
         "distance from the interval between the one-sided derivatives)"),
        ("max rel err", "largest |analytic - reference| / max(|analytic|, |reference|)"),
        ("worst index", "the entry furthest beyond its allowed error"),
        ("kinks", "entries whose finite-difference stencil straddles a relu/leaky_relu kink, "
         "checked against the one-sided derivatives instead"),
        ("tolerance", "an entry passes when |analytic - reference| <= atol + rtol*|reference| "
         "(verify.compare.TOLERANCES, or --atol/--rtol)"),
        ("result", "ok when every entry passes, FAIL otherwise; with --entries, a seeded "
         "sample of each gradient is checked and the result says how much: ok (checked k of n)"),
    ]


# ------------------------------------------------------------------------------------- text


def render_text(report: Report) -> str:
    """The terminal report: cases, the row table, the per-method summary, failures last."""
    out = [f"Gradient report: {report.command}", ""]
    out.append(tabulate(_case_rows(report.results), headers=CASE_HEADERS, tablefmt="simple"))
    out.append("")
    out.append(tabulate(table_rows(report.results), headers=ROW_HEADERS, tablefmt="simple",
                        disable_numparse=True))
    out += ["", "Summary per method (worst row of the suite):"]
    out.append(tabulate(_summary_rows(report.summary()), headers=SUMMARY_HEADERS,
                        tablefmt="simple", disable_numparse=True))
    if report.fuzz or report.fuzz_requested:
        out += ["", f"Fuzz: {len(report.fuzz)} hypothesis-generated networks "
                    f"(--fuzz {report.fuzz_requested}); worst error found per method:"]
        out.append(tabulate(_summary_rows(report.fuzz_summary()), headers=SUMMARY_HEADERS,
                            tablefmt="simple", disable_numparse=True))
    notes = _notes(report)
    if notes:
        out += ["", "Notes:"] + [f"- {note}" for note in notes]
    if report.plots:
        out += ["", "Plots:"] + [f"- {label}: {path}" for label, path in report.plots.items()]
    failures = failure_lines(report)
    if failures:
        out += ["", f"Failures ({len(failures)}):"] + [f"  {line}" for line in failures]
    out += ["", verdict(report)]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------- markdown


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(rows: list[list[str]], headers: Sequence[str]) -> str:
    rows = [[_md_escape(cell) for cell in row] for row in rows]
    return tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True)


def render_markdown(report: Report, *, plot_links: dict[str, str] | None = None) -> str:
    """Markdown for the committed report; ``plot_links`` maps a case label to a relative path."""
    out = [
        "# Gradient report",
        "",
        f"Generated by `{report.command}`. **{verdict(report, timed=False)}**",
        "",
        "## Cases",
        "",
        _md_table(
            [[r.label, r.network, r.loss, r.dtype, "ok" if r.passed else "**FAIL**",
              r.description] for r in report.results],
            (*CASE_HEADERS, "description"),
        ),
    ]
    notes = _notes(report)
    if notes:
        out += ["", "### Notes", ""] + [f"- {note}" for note in notes]
    out += ["", "## Summary per method", "", "The worst row of the suite per method and dtype.",
            "", _md_table(_summary_rows(report.summary(), timed=False), SUMMARY_HEADERS[:-1])]
    if report.fuzz or report.fuzz_requested:
        out += ["", "## Fuzz", "",
                f"{len(report.fuzz)} hypothesis-generated networks (`--fuzz "
                f"{report.fuzz_requested}`); the worst error found per method:", "",
                _md_table(_summary_rows(report.fuzz_summary(), timed=False),
                          SUMMARY_HEADERS[:-1])]
    out += ["", "## Every gradient", "", _md_table(table_rows(report.results), ROW_HEADERS)]
    out += ["", "Columns:", ""] + [f"- **{name}**: {text}" for name, text in _legend()]
    links = _links(report, plot_links)
    if links:
        out += ["", "## Error versus step size", "",
                "Central-difference error against the relative step (log-log), one line per "
                "layer; the dashed line marks the step the checker chose.", ""]
        out += [f"![{label}]({path})" for label, path in links.items()]
    failures = failure_lines(report)
    if failures:
        out += ["", f"## Failures ({len(failures)})", ""]
        out += [f"- `{line}`" for line in failures]
    out += ["", "## Environment", "", "```json",
            json.dumps(report.environment, indent=2, sort_keys=True), "```"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------- html

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f2f2f2; }
td.num { font-family: ui-monospace, monospace; text-align: right; }
.ok { color: #176f2c; } .fail { color: #b00020; font-weight: bold; }
.verdict { font-size: 1.2em; } img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
"""

_NUMERIC = {"shape", "max abs err", "max rel err", "worst index", "kinks", "rows", "failed",
            "seconds"}


def _html_table(rows: list[list[str]], headers: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for header, cell in zip(headers, row, strict=True):
            text = html.escape(cell)
            if cell == "FAIL":
                cells.append(f'<td class="fail">{text}</td>')
            elif cell == "ok" and header in ("result",):
                cells.append(f'<td class="ok">{text}</td>')
            elif header in _NUMERIC:
                cells.append(f'<td class="num">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + \
        "\n</tbody>\n</table>"


def render_html(report: Report, *, embed_plots: bool = True,
                plot_links: dict[str, str] | None = None) -> str:
    """A standalone HTML page; plots are embedded as base64 PNG (or linked)."""
    esc = html.escape
    verdict_class = "ok" if report.passed else "fail"
    out = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        "<title>Gradient report</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        "<h1>Gradient report</h1>",
        f"<p>Generated by <code>{esc(report.command)}</code>.</p>",
        f'<p class="verdict {verdict_class}">{esc(verdict(report, timed=False))}</p>',
        "<h2>Cases</h2>",
        _html_table(
            [[r.label, r.network, r.loss, r.dtype, "ok" if r.passed else "FAIL", r.description]
             for r in report.results],
            (*CASE_HEADERS, "description"),
        ),
    ]
    notes = _notes(report)
    if notes:
        out += ["<h3>Notes</h3>", "<ul>"]
        out += [f"<li>{esc(note)}</li>" for note in notes] + ["</ul>"]
    out += ["<h2>Summary per method</h2>",
            _html_table(_summary_rows(report.summary(), timed=False), SUMMARY_HEADERS[:-1])]
    if report.fuzz or report.fuzz_requested:
        out += ["<h2>Fuzz</h2>",
                f"<p>{len(report.fuzz)} hypothesis-generated networks "
                f"(<code>--fuzz {report.fuzz_requested}</code>); the worst error found per "
                "method:</p>",
                _html_table(_summary_rows(report.fuzz_summary(), timed=False),
                            SUMMARY_HEADERS[:-1])]
    out += ["<h2>Every gradient</h2>", _html_table(table_rows(report.results), ROW_HEADERS)]
    out += ["<dl>"] + [f"<dt><b>{esc(n)}</b></dt><dd>{esc(t)}</dd>" for n, t in _legend()]
    out += ["</dl>"]
    if report.plots:
        out += ["<h2>Error versus step size</h2>",
                "<p>Central-difference error against the relative step (log-log), one line per "
                "layer; the dashed line marks the step the checker chose.</p>"]
        for label, path in report.plots.items():
            if embed_plots:
                data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
                src = f"data:image/png;base64,{data}"
            else:
                src = _links(report, plot_links)[label]
            out.append(f'<figure><img src="{esc(src)}" alt="{esc(label)}">'
                       f"<figcaption>{esc(label)}</figcaption></figure>")
    failures = failure_lines(report)
    if failures:
        out += [f"<h2>Failures ({len(failures)})</h2>", "<ul>"]
        out += [f'<li class="fail"><code>{esc(line)}</code></li>' for line in failures]
        out += ["</ul>"]
    out += ["<h2>Environment</h2>",
            f"<pre>{esc(json.dumps(report.environment, indent=2, sort_keys=True))}</pre>",
            "</body>", "</html>"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ json & csv


def _row_dict(result: CaseResult, row: GradientRecord) -> dict[str, Any]:
    return {"case": result.label, "loss": result.loss, "fuzz": result.fuzz, **row.to_dict()}


def report_dict(report: Report, *, plot_links: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON document (see the module docstring for its layout)."""
    failures = []
    for result, check in report.failures():
        for row in check.failures:
            failures.append({"case": result.label, "method": check.method, "path": row.path,
                             "message": row.message(), "root_cause": False})
        for row in check.root_causes:
            failures.append({"case": result.label, "method": check.method, "path": row.path,
                             "message": row.message(), "root_cause": True})
    fuzz = None
    if report.fuzz or report.fuzz_requested:
        fuzz = {
            "requested": report.fuzz_requested,
            "networks": [{"label": r.label, "network": r.network, "dtype": r.dtype,
                          "spec": r.description, "passed": r.passed} for r in report.fuzz],
            "summary": [s.to_dict() for s in report.fuzz_summary()],
        }
    return {
        "schema": JSON_SCHEMA_VERSION,
        "passed": report.passed,
        "command": report.command,
        "seconds": round(report.seconds, 3),
        "environment": report.environment,
        "cases": [
            {"label": r.label, "case": r.case, "description": r.description,
             "network": r.network, "loss": r.loss, "dtype": r.dtype, "passed": r.passed,
             "note": r.note}
            for r in report.results
        ],
        "summary": [s.to_dict() for s in report.summary()],
        "rows": [_row_dict(r, row) for r in report.all_results for row in r.rows],
        "failures": failures,
        "fuzz": fuzz,
        "plots": _links(report, plot_links),
    }


def render_json(report: Report, *, plot_links: dict[str, str] | None = None) -> str:
    return json.dumps(report_dict(report, plot_links=plot_links), indent=2,
                      allow_nan=False) + "\n"


CSV_FIELDS = (
    "case", "loss", "fuzz", "path", "layer", "activation", "parameter", "method", "dtype",
    "shape", "max_abs_error", "max_rel_error", "worst_index", "analytic", "reference", "atol",
    "rtol", "mismatched", "size", "kinks", "passed", "note", "checked",
)


def render_csv(report: Report) -> str:
    """One line per row, full precision (``repr`` of each float)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for result in report.all_results:
        for row in result.rows:
            d = _row_dict(result, row)
            d["shape"] = _shape(row.shape)
            d["worst_index"] = _index(row.worst_index)
            d["atol"], d["rtol"] = row.tolerance.atol, row.tolerance.rtol
            del d["tolerance"]
            writer.writerow({k: d[k] for k in CSV_FIELDS})
    return buffer.getvalue()


FORMATS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "html": render_html,
    "json": render_json,
    "csv": render_csv,
}
"""``--format`` name -> renderer (what is printed on stdout)."""


def render(report: Report, fmt: str) -> str:
    try:
        return FORMATS[fmt](report)
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}") \
            from None
