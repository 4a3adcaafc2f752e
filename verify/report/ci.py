"""What CI systems read from a report: JUnit XML (``--junit FILE``) and GitHub annotations.

:func:`junit_xml` writes one ``<testsuite>`` per case (variant, fuzz network or ``--model``) and
one ``<testcase>`` per row (``classname`` ``verify.<case>.<method>``, ``name`` the row's path):
a failing row is a ``<failure>`` whose ``type`` is its verdict (``mismatch``,
``inconclusive``, ``missing``) and whose text is its message; a check that raised is an
``<error>``; the root causes and findings of a failing check go to the suite's
``<system-out>``. JUnit XML is the de-facto format of Jenkins, GitLab, Azure Pipelines and
GitHub test reporters (the Ant ``junit`` task's schema).

:func:`github_annotations` gives, on a failure, one ``::error`` workflow command per failing
row, with the characters GitHub's runner treats specially escaped (``%``, CR, LF; and ``:``,
``,`` in properties): GitHub Actions shows each as an annotation on the run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .runner import CaseResult, Report

__all__ = ["github_annotations", "junit_xml", "write_junit"]


def _suite(result: CaseResult) -> ET.Element:
    rows = [(check, row) for check in result.checks for row in check.rows]
    failures = sum(not row.passed and row.path != "(whole check)" for _, row in rows)
    errors = sum(row.path == "(whole check)" for _, row in rows)
    suite = ET.Element("testsuite", {
        "name": result.label, "tests": str(len(rows)), "failures": str(failures),
        "errors": str(errors), "skipped": "0",
        "time": f"{sum(result.seconds.values()):.3f}",
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("network", result.network), ("loss", result.loss),
                        ("dtype", result.dtype)):
        ET.SubElement(props, "property", {"name": name, "value": str(value)})
    for check, row in rows:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"verify.{result.label}.{check.method}", "name": row.path,
            "time": f"{result.seconds.get(check.method, 0.0) / max(len(check.rows), 1):.3f}",
        })
        if row.passed:
            continue
        message = row.message(errors=True)
        if row.path == "(whole check)":
            ET.SubElement(case, "error", {"message": message, "type": "error"}).text = message
        else:
            ET.SubElement(case, "failure", {"message": message.split("; ")[0],
                                            "type": row.verdict}).text = message
    notes = []
    for check in result.checks:
        notes += [f"{check.method}: root cause: {row.message()}" for row in check.root_causes]
        notes += [f"{check.method}: note: {text}" for text in check.findings]
        if not check.passed and check.info.get("diagnosis"):
            notes.append(f"{check.method}: note: {check.info['diagnosis']}")
    if result.note:
        notes.append(result.note)
    ET.SubElement(suite, "system-out").text = "\n".join(notes)
    return suite


def junit_xml(report: Report) -> str:
    """The report as JUnit XML (a ``<testsuites>`` document, UTF-8)."""
    suites = [_suite(result) for result in report.all_results]
    root = ET.Element("testsuites", {
        "name": "verify report", "tests": str(sum(int(s.get("tests", 0)) for s in suites)),
        "failures": str(sum(int(s.get("failures", 0)) for s in suites)),
        "errors": str(sum(int(s.get("errors", 0)) for s in suites)),
        "time": f"{report.seconds:.3f}",
    })
    root.extend(suites)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: Report, path: Path) -> Path:
    """Write :func:`junit_xml` to ``path`` (parents created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(report), encoding="utf-8")
    return path


def _escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_annotations(report: Report) -> list[str]:
    """One ``::error title=...::message`` line per failing row (and per check that raised)."""
    lines = []
    for result, check in report.failures():
        for row in check.failures:
            title = _escape(f"verify {result.label} {check.method} {row.path}", prop=True)
            lines.append(f"::error title={title}::{_escape(row.message(errors=True))}")
    return lines
