"""verify.report.ci and ``--model``: a user's model in the report, JUnit XML, GitHub annotations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from verify.report import cli
from verify.report.ci import github_annotations, junit_xml
from verify.report.runner import load_factory

HERE = Path(__file__).parent
MODEL = str(HERE / "report_model.py")


def run(argv, capsys, monkeypatch, github=False):
    monkeypatch.setenv("GITHUB_ACTIONS", "true" if github else "false")
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_users_model_is_reported_with_the_methods_that_apply(capsys, monkeypatch) -> None:
    code, out, err = run(["--model", f"{MODEL}:make", "--format", "json", "--no-write"],
                         capsys, monkeypatch)
    doc = json.loads(out)
    assert code == 0 and doc["passed"] is True
    assert {row["method"] for row in doc["rows"]} == {"central", "complex_step", "directional"}
    assert [c["label"] for c in doc["cases"]] == ["make"]
    assert doc["cases"][0]["network"] == "3 -> Dense -> Relu -> Dense, batch 6"
    assert doc["cases"][0]["note"].startswith("autograd skipped: method 'autograd' needs a model")
    assert doc["environment"]["model"] == f"{MODEL}:make"
    assert {row["path"] for row in doc["rows"]} == {
        "layers[0].weights", "layers[0].biases", "layers[0].inputs", "layers[1].inputs",
        "layers[2].weights", "layers[2].inputs"}


def test_a_broken_model_fails_and_named_inapplicable_methods_are_failed_rows(capsys,
                                                                               monkeypatch):
    code, out, _ = run(["--model", f"{MODEL}:make_broken", "--methods", "central,autograd"],
                       capsys, monkeypatch)
    assert code == 1
    assert "make_broken / central: layers[1].inputs: " in out
    assert "make_broken / autograd: (whole check): the autograd check of make_broken raised " \
           "NotApplicable" in out
    code, out, _ = run(["--model", f"{MODEL}:make_reference", "--methods", "autograd"],
                       capsys, monkeypatch)
    assert code == 0 and "PASS" in out  # a reference MLP from a factory, with its own loss


@pytest.mark.parametrize(("argv", "match"), [
    (["--model", "no_colon"], "expected MODULE:FACTORY"),
    (["--model", "not_a_module_xyz:make"], "cannot import 'not_a_module_xyz': "
                                           "ModuleNotFoundError"),
    (["--model", f"{MODEL}:nope"], "has no attribute 'nope'"),
    (["--model", f"{MODEL}:make", "--cases", "batch-1"], "not with --cases"),
])
def test_a_model_that_cannot_be_loaded_is_a_usage_error(argv, match, capsys, monkeypatch):
    code, _, err = run(argv, capsys, monkeypatch)
    assert code == 2 and match in err


def test_junit_xml_has_a_test_case_per_row_and_a_failure_per_failing_row(tmp_path, capsys,
                                                                        monkeypatch) -> None:
    path = tmp_path / "ci" / "report.xml"
    code, _, err = run(["--model", f"{MODEL}:make_broken", "--junit", str(path)], capsys,
                       monkeypatch)
    assert code == 1 and str(path) in err
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(cases) == int(suite.get("tests")) == 18
    assert len(failures) == int(suite.get("failures")) == int(root.get("failures")) > 0
    first = failures[0].find("failure")
    assert failures[0].get("classname") == "verify.make_broken.central"
    assert first.get("type") == "mismatch" and "rel error" in first.text
    assert "root cause: layers[1].inputs" in suite.find("system-out").text


def test_under_github_actions_each_failing_row_is_an_error_annotation(capsys, monkeypatch):
    code, out, err = run(["--model", f"{MODEL}:make_broken", "--methods", "central"], capsys,
                         monkeypatch, github=True)
    lines = [line for line in err.splitlines() if line.startswith("::error ")]
    failing = out.count("make_broken / central: layers[")
    assert code == 1 and len(lines) == failing > 0
    assert lines[0].startswith("::error title=verify make_broken central layers[0].weights::")
    # Nothing when it passes, nor outside GitHub Actions.
    assert "::error" not in run(["--model", f"{MODEL}:make"], capsys, monkeypatch,
                                github=True)[2]
    assert "::error" not in run(["--model", f"{MODEL}:make_broken"], capsys, monkeypatch)[2]


def test_annotations_escape_what_the_runner_treats_specially() -> None:
    from verify.compare import GradientCheck, GradientRecord, Tolerance
    from verify.report.runner import CaseResult, Report

    row = GradientRecord(path="a,b:c", layer=0, activation="", parameter="weights", shape=(1,),
                         method="central", dtype="float64", max_abs_error=1.0,
                         max_rel_error=1.0, worst_index=(0,), analytic=1.0, reference=0.0,
                         tolerance=Tolerance(0.0, 0.0), mismatched=1, size=1, kinks=0,
                         passed=False, note="100% wrong\nreally")
    result = CaseResult(label="x", case="x", description="", network="", loss="exact",
                        dtype="float64", checks=[GradientCheck("central", [row])])
    report = Report(results=[result], methods=("central",), seed=0, command="", environment={})
    (line,) = github_annotations(report)
    assert line.startswith("::error title=verify x central a%2Cb%3Ac::a,b:c: 1 / 1 mismatched")
    assert "100%25 wrong%0Areally" in line
    assert ET.fromstring(junit_xml(report).split("?>", 1)[1]).get("failures") == "1"


def test_load_factory_takes_a_dotted_module_too() -> None:
    name, factory = load_factory("verify.strategies:NetworkSpec")
    assert name == "NetworkSpec" and callable(factory)
