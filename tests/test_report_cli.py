"""``python -m verify report`` end to end: exit codes, files, formats, --plot, --fuzz.

Real runs on small selections of the suite (the whole default suite once), so the structure of
what a pipeline reads is checked on real records; exact numbers are golden-tested on synthetic
records in test_report_render.py.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from verify.bugs import inject
from verify.compare import PARAMETERS
from verify.report import cli
from verify.report.runner import DEFAULT_METHODS
from verify.report.suite import CASES, Case

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


NUMBER = (int, float)
ROW_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "case": str, "loss": str, "fuzz": bool, "path": str, "layer": int, "activation": str,
    "parameter": str, "shape": list, "method": str, "dtype": str,
    "max_abs_error": (*NUMBER, str), "max_rel_error": (*NUMBER, str), "worst_index": list,
    "analytic": (*NUMBER, str), "reference": (*NUMBER, str), "tolerance": dict,
    "mismatched": int, "size": int, "kinks": int, "passed": bool, "note": str,
    "status": str, "allowance": NUMBER, "unresolved": int, "resolution": (*NUMBER, str),
    "checked": (int, type(None)),
}
TOP_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "schema": str, "passed": bool, "command": str, "seconds": NUMBER, "environment": dict,
    "cases": list, "summary": list, "rows": list, "failures": list,
    "fuzz": (dict, type(None)), "plots": dict,
}
SUMMARY_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "method": str, "dtype": str, "rows": int, "failed": int, "kinks": int,
    "max_abs_error": (*NUMBER, str), "max_abs_at": str, "max_rel_error": (*NUMBER, str),
    "max_rel_at": str, "seconds": NUMBER,
}


def assert_schema(doc: dict, schema: dict, where: str) -> None:
    assert set(doc) == set(schema), f"{where}: keys {sorted(set(doc) ^ set(schema))}"
    for key, kind in schema.items():
        assert isinstance(doc[key], kind), f"{where}.{key}: {doc[key]!r} is not {kind}"
        if kind is int or kind == NUMBER:
            assert not isinstance(doc[key], bool), f"{where}.{key}"


def assert_report_schema(doc: dict) -> None:
    """The documented JSON layout (verify/report/render.py), field by field."""
    assert_schema(doc, TOP_SCHEMA, "report")
    assert doc["schema"] == "verify-report/1"
    for i, row in enumerate(doc["rows"]):
        assert_schema(row, ROW_SCHEMA, f"rows[{i}]")
        assert all(isinstance(n, int) for n in row["shape"] + row["worst_index"])
        assert set(row["tolerance"]) == {"atol", "rtol", "relative_atol"}
        for key in ("max_abs_error", "max_rel_error"):
            assert isinstance(row[key], float) or row[key] in ("inf", "nan"), (i, key)
    for i, summary in enumerate(doc["summary"]):
        assert_schema(summary, SUMMARY_SCHEMA, f"summary[{i}]")
    for key in ("python", "platform", "numpy", "torch", "hypothesis", "backprop-verify", "seed",
                "dtype", "methods", "tolerance_override"):
        assert key in doc["environment"], key
    assert doc["passed"] == all(row["passed"] for row in doc["rows"])


def doc_verdict(doc: dict) -> str:
    rows = doc["rows"]
    head = f"PASS: {len(rows)} / {len(rows)} rows pass ({len(doc['cases'])} cases, methods "
    return head + f"{', '.join(doc['environment']['methods'])}, seed 42; "


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_default_suite_passes_writes_files_and_has_a_row_per_case_layer_parameter_method(
    capsys, tmp_path
):
    code, out, err = run(capsys, "--out", str(tmp_path), "--format", "json")
    assert code == 0, out[-3000:]
    doc = json.loads(out)
    assert_report_schema(doc)
    assert doc["passed"] is True and doc["failures"] == []
    expected = 0
    labels = set()
    for case in CASES.values():
        for variant in case.variants():
            labels.add(variant.label)
            expected += len(variant.build(42).model.layers) * len(PARAMETERS) * len(DEFAULT_METHODS)
    assert len(doc["rows"]) == expected
    assert {row["case"] for row in doc["rows"]} == labels
    assert {row["method"] for row in doc["rows"]} == set(DEFAULT_METHODS)
    assert {row["dtype"] for row in doc["rows"]} == {"float64", "float32"}
    kinks = {row["case"]: 0 for row in doc["rows"]}
    for row in doc["rows"]:
        kinks[row["case"]] += row["kinks"]
    assert kinks["relu-at-kinks"] > 0  # the stencils through z ~ 1e-9 are found
    assert {s["method"] for s in doc["summary"]} == set(DEFAULT_METHODS)
    assert doc["environment"]["seed"] == 42 and doc["environment"]["numpy"]
    notes = {c["label"]: c["note"] for c in doc["cases"]}
    assert "3x the exact one" in notes["several-outputs[loss=lesson]"]
    for suffix in ("md", "json", "html"):
        assert (tmp_path / f"gradient-report.{suffix}").stat().st_size > 1000
    assert json.loads((tmp_path / "gradient-report.json").read_text())["rows"] == doc["rows"]
    # No progress bar (stderr is not a terminal): the files written, then the verdict.
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0] == (f"wrote {tmp_path}/gradient-report.md, {tmp_path}/gradient-report.json, "
                        f"{tmp_path}/gradient-report.html")
    assert lines[1].startswith(doc_verdict(doc)) and lines[1].endswith(" s)")


def test_text_is_the_default_and_ends_with_the_verdict(capsys):
    code, out, _ = run(capsys, "--cases", "lesson-example", "--no-write")
    assert code == 0
    lines = out.rstrip().splitlines()
    assert lines[-1].startswith("PASS: 24 / 24 rows pass (1 cases")
    header = next(line for line in lines if line.startswith("case") and "max abs err" in line)
    for column in ("layer", "parameter", "method", "shape", "max rel err", "worst index",
                   "kinks", "tolerance", "result"):
        assert column in header
    assert any(line.startswith("lesson-example") and " 0 relu " in line and " weights " in line
               and " central " in line and line.rstrip().endswith("ok") for line in lines)


def test_impossible_tolerance_exits_1_and_names_failing_rows(capsys):
    code, out, _ = run(capsys, "--cases", "deep-tanh", "--methods", "central", "--atol", "0",
                       "--rtol", "0", "--no-write")
    assert code == 1
    tail = out[out.index("Failures ("):]
    assert "deep-tanh / central: layers[0].weights:" in tail and "mismatched" in tail
    assert "(allowed 0 + 0*|numerical|)" in tail
    assert out.rstrip().splitlines()[-1].startswith("FAIL:")
    code, out, err = run(capsys, "--cases", "deep-tanh", "--methods", "central", "--atol", "0",
                         "--rtol", "0", "--no-write", "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["passed"] is False
    # stdout is pure JSON; the CI log (stderr) still names the failing rows and the verdict.
    assert "deep-tanh / central: layers[0].weights:" in err
    assert err.rstrip().splitlines()[-1].startswith("FAIL:")
    assert_report_schema(doc)
    failing = {(f["case"], f["path"]) for f in doc["failures"] if not f["root_cause"]}
    assert ("deep-tanh", "layers[0].weights") in failing
    assert failing == {(r["case"], r["path"]) for r in doc["rows"] if not r["passed"]}


def test_a_real_bug_in_a_case_exits_1_and_names_its_row(capsys, monkeypatch):
    good = CASES["lesson-example"]

    def buggy(seed, dtype):
        model, x, y = good.builder(seed, dtype)
        return inject(model, "input_gradient_scaled", layer=1), x, y

    monkeypatch.setitem(CASES, "lesson-example",
                        Case("lesson-example", good.description, buggy))
    code, out, _ = run(capsys, "--cases", "lesson-example", "--methods", "central,autograd",
                       "--no-write")
    assert code == 1
    tail = out[out.index("Failures ("):]
    assert "lesson-example / central: layers[1].inputs:" in tail
    assert "lesson-example / autograd: layers[1].inputs:" in tail
    assert "layers[1].weights" not in tail  # the right rows, not every row


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--cases", "nope"], "argument --cases: unknown case 'nope'; expected a comma-separated "
                              "list of: lesson-example,"),
        (["--methods", "central,magic"], "argument --methods: unknown method 'magic'"),
        (["--atol", "-1e-3"], "argument --atol: expected a finite number >= 0, got '-1e-3'"),
        (["--rtol", "nan"], "argument --rtol: expected a finite number >= 0"),
        (["--fuzz", "-2"], "argument --fuzz: expected an integer >= 0, got -2"),
        (["--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
        (["--format", "yaml"], "argument --format: invalid choice: 'yaml'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
    ids=["unknown-case", "unknown-method", "negative-atol", "nan-rtol", "negative-fuzz",
         "bad-dtype", "bad-format", "unknown-option"],
)
def test_usage_errors_exit_2_with_a_message_naming_the_option(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert out == ""


def test_out_that_is_a_file_is_a_usage_error(capsys, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = run(capsys, "--cases", "width-1", "--out", str(target))
    assert code == 2 and "argument --out:" in err and "is not a directory" in err


def test_help_explains_the_options(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for option in ("--cases", "--methods", "--seed", "--dtype", "--atol", "--rtol", "--fuzz",
                   "--plot", "--out", "--format", "--no-write", "--list-cases", "exit status"):
        assert option in out


def test_list_cases(capsys):
    code, out, _ = run(capsys, "--list-cases")
    assert code == 0
    for name in CASES:
        assert name in out


def test_markdown_and_csv_formats(capsys):
    code, md, _ = run(capsys, "--cases", "width-1", "--methods", "central", "--format",
                      "markdown", "--no-write")
    assert code == 0 and md.startswith("# Gradient report") and "| width-1 " in md
    code, text, _ = run(capsys, "--cases", "width-1", "--methods", "central", "--format", "csv",
                        "--no-write")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert code == 0 and len(rows) == 9
    assert {r["parameter"] for r in rows} == set(PARAMETERS)
    assert all(float(r["max_abs_error"]) < 1e-7 and r["passed"] == "True" for r in rows)


def test_same_seed_same_report(capsys):
    argv = ["--cases", "mixed-activations,several-outputs", "--methods", "central,directional",
            "--format", "json", "--no-write"]
    first = json.loads(run(capsys, *argv)[1])
    second = json.loads(run(capsys, *argv)[1])
    assert first["rows"] == second["rows"]
    third = json.loads(run(capsys, *argv, "--seed", "3")[1])
    assert third["rows"] != first["rows"]


def test_dtype_option_runs_every_case_in_that_dtype(capsys):
    code, out, _ = run(capsys, "--cases", "float32-vs-float64,width-1", "--dtype", "float32",
                       "--methods", "central", "--format", "json", "--no-write")
    doc = json.loads(out)
    assert code == 0 and {row["dtype"] for row in doc["rows"]} == {"float32"}
    assert {row["case"] for row in doc["rows"]} == {"float32-vs-float64", "width-1"}
    assert doc["rows"][0]["tolerance"] == {"atol": 1e-5, "rtol": 1e-4, "relative_atol": True}


def test_plot_writes_a_png_per_case_embedded_in_the_html(capsys, tmp_path):
    code, _, _ = run(capsys, "--cases", "width-1,several-outputs", "--methods", "central",
                     "--plot", "--out", str(tmp_path))
    assert code == 0
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["several-outputs_loss-exact.png", "several-outputs_loss-lesson.png",
                    "width-1.png"]
    for name in pngs:
        data = (tmp_path / "plots" / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    html = (tmp_path / "gradient-report.html").read_text()
    assert html.count('src="data:image/png;base64,iVBORw0KGgo') == 3
    md = (tmp_path / "gradient-report.md").read_text()
    assert "![width-1](plots/width-1.png)" in md
    doc = json.loads((tmp_path / "gradient-report.json").read_text())
    assert doc["plots"]["width-1"] == "plots/width-1.png"


def test_fuzz_adds_networks_and_reports_the_worst_error_per_method(capsys):
    code, out, _ = run(capsys, "--cases", "width-1", "--methods", "central,autograd", "--fuzz",
                       "4", "--format", "json", "--no-write")
    assert code == 0, out[-2000:]
    doc = json.loads(out)
    assert_report_schema(doc)
    fuzz = doc["fuzz"]
    assert fuzz["requested"] == 4 and len(fuzz["networks"]) == 4
    assert all(net["passed"] for net in fuzz["networks"])
    assert {s["method"] for s in fuzz["summary"]} == {"central", "autograd"}
    for s in fuzz["summary"]:
        assert s["rows"] > 0 and s["failed"] == 0
        assert s["max_abs_at"].startswith("fuzz-")
    fuzz_rows = [row for row in doc["rows"] if row["fuzz"]]
    assert {row["case"] for row in fuzz_rows} == {net["label"] for net in fuzz["networks"]}
    # Seeded: the same networks again.
    again = json.loads(run(capsys, "--cases", "width-1", "--methods", "central,autograd",
                           "--fuzz", "4", "--format", "json", "--no-write")[1])
    assert again["fuzz"]["networks"] == fuzz["networks"]
    assert fuzz["networks"][0]["spec"].startswith("NetworkSpec(sizes=")


def test_a_failing_fuzz_network_is_named_with_the_spec_that_rebuilds_it(capsys):
    from verify.strategies import NetworkSpec

    code, out, _ = run(capsys, "--cases", "width-1", "--methods", "central", "--fuzz", "2",
                       "--atol", "0", "--rtol", "0", "--no-write")
    assert code == 1
    tail = out[out.index("Failures ("):]
    lines = [line.strip() for line in tail.splitlines()]
    first = next(i for i, line in enumerate(lines) if line.startswith("fuzz-0"))
    assert lines[first].startswith("fuzz-0: rebuild with verify.strategies.NetworkSpec(")
    assert lines[first + 1].startswith("fuzz-0 / central: layers[0].weights:")  # its rows follow
    recipe = lines[first].split("rebuild with verify.strategies.", 1)[1]
    rebuilt = eval(recipe.removesuffix(".problem()"), {"NetworkSpec": NetworkSpec})
    model, x, y = rebuilt.problem()
    assert model.sizes == list(rebuilt.sizes)


def test_progress_bar_only_on_a_terminal(capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    fake = Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    assert cli.main(["--cases", "width-1", "--methods", "central", "--no-write"]) == 0
    # tqdm draws the bar (then clears it: leave=False keeps the terminal tidy).
    assert "0/1 [" in fake.getvalue() and "check/s" in fake.getvalue()


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "verify", "report", "--cases", "width-1", "--methods",
         "central", "--no-write"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1].startswith("PASS:")
    assert proc.stderr == ""  # not a terminal: no progress bar
    assert not (Path(tmp_path) / "reports").exists()


def test_entries_samples_the_per_entry_methods_and_every_row_says_so(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--cases", "wide-layer", "--methods", "central,directional", "--entries", "7",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["environment"]["entries"] == 7
    for row in doc["rows"]:
        if row["method"] == "central" and row["parameter"] != "biases":
            assert row["checked"] == min(7, row["size"])
        else:  # biases in full; directional checks one direction, not entries
            assert row["checked"] is None
    assert cli.main(["--cases", "wide-layer", "--methods", "central", "--entries", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "ok (checked 4,096 of 8,192)" in out  # layers[0].weights: 16 x 512
    assert "rows checked on a seeded sample only" in out.splitlines()[-1]
    for bad in ("0", "1.5", "x"):
        assert cli.main(["--entries", bad]) == 2
        assert "expected a count >= 1 or a fraction in (0, 1]" in capsys.readouterr().err


def test_torch_is_imported_only_for_the_autograd_rows() -> None:
    code = ("import sys; from verify.report.cli import main; "
            "main(sys.argv[1:]); print('torch' in sys.modules, file=sys.stderr)")
    for methods, imported in (("central,complex_step,directional", "False"),
                              ("central,autograd", "True")):
        done = subprocess.run([sys.executable, "-c", code, "--cases", "lesson-example",
                               "--methods", methods], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip().splitlines()[-1] == imported, (methods, done.stderr)
