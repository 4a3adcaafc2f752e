"""How well the grader explains the bugs of a corpus: the figures of issue 11.

For every file (``EXPECT: <kind>`` names its bug, ``EXPECT: correct`` a correct file,
``EXPECT: unexplained`` a bug no hypothesis of the engine is: the honest feedback says what is
known and states no cause; optional ``ALSO: <kind> ...`` lists other causes the file really has),
graded once with a fixed seed through the public API (so any checkout can be measured: run it
with ``PYTHONPATH=<checkout>``):

* **caught**: a buggy file that loses points;
* **explained**: a caught file whose diagnoses name its ``EXPECT`` kind (``forward_at_fault``:
  a verdict that the forward is at fault, or a forward cause). An ``unexplained`` file is never
  explained (there is no cause to name): it counts among the caught, so it lowers the share,
  and **unexplained_honest** counts those that stated no cause at all;
* **misleading**: a file whose diagnoses name a kind that is neither its ``EXPECT`` nor one of
  its ``ALSO`` kinds (a correct or ``unexplained`` file: any diagnosis at all), or whose
  feedback states a factor as a size (:data:`SIZE_AS_CAUSE`) or holds a text its ``NOT:``
  lines forbid;
* **correct losing**: a correct file below full marks;
* the **longest feedback** of any test (lines, characters).

    python scripts/diagnosis_figures.py tests/submissions/python tests/submissions/js \\
        tests/submissions/diagnosis/python tests/submissions/diagnosis/js --fd --jobs 4

Prints JSON: the figures per language, and per file its kinds. ``tests/test_grade_explanations.py``
computes the same figures with :func:`judge` and fails when one slips.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

FORWARD_KINDS = {"weights_changed_by_forward", "forward_no_bias", "forward_no_activation",
                 "forward_wrong_activation", "forward_factor", "forward_transposed_weights",
                 "stale_output"}
SKIP = ("hostile_", "bad_", "crash_")
"""Files that are not about a bug's explanation (the sandbox's, malformed answers)."""


_SIZE = r"(-?\d+/)?the (batch size|number of (inputs|outputs|elements|layers))"
SIZE_AS_CAUSE = re.compile(rf"(?<!divides )(?<!divided )\bby {_SIZE}|\({_SIZE}( \(neurons\))?;")
"""A factor stated as a size ("multiplied by 1/the batch size", "by 3 (the number of inputs;
the number of inputs is 3 here)"): a claim that the code uses that size, which one place's
coincidence cannot show (a hard-coded 3 where a layer has 3 inputs). The number leads; a size
is said as what it equals here ("3 (equal here to the number of inputs, which is 3)"). Any
match is misleading."""


def forbidden(path: Path) -> list[str]:
    """The file's ``NOT: <text>`` lines: text its feedback must not contain (a false claim a
    review found)."""
    return re.findall(r"NOT: (.+)", path.read_text(encoding="utf-8"))


def expectation(path: Path) -> tuple[str, set[str]] | None:
    """(the EXPECT kind, the ALSO kinds), or None for a file without an EXPECT line."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r"EXPECT: (\w+)", text)
    if match is None:
        return None
    also = set()
    for line in re.findall(r"ALSO: ([\w ]+)", text):
        also |= set(line.split())
    return match.group(1), also


def kind_of(diagnosis: str) -> str:
    """``dz_factor:1/batch@2`` -> ``dz_factor``."""
    return diagnosis.split("@")[0].split(":")[0]


def judge(path: Path, report: Any) -> dict[str, Any]:
    """One file's verdict from its report (any version of the grader's GradeReport)."""
    expect, also = expectation(path) or ("?", set())
    kinds = sorted({kind_of(d) for t in report.tests for d in t.diagnoses})
    outputs = "\n".join(t.output for t in report.tests)
    lost = report.score < report.max_score
    # A false claim in the words, whatever the kind: a size as the cause, a NOT: line.
    worded = bool(SIZE_AS_CAUSE.search(outputs)) or any(n in outputs for n in forbidden(path))
    if expect == "correct":
        return {"file": f"{path.parent.name}/{path.name}", "expect": expect, "kinds": kinds,
                "correct": True, "losing": lost, "misleading": bool(kinds) or worded}
    if expect == "unexplained":  # no cause to name: any named is misleading, none is honest
        return {"file": f"{path.parent.name}/{path.name}", "expect": expect, "kinds": kinds,
                "correct": False, "caught": lost, "explained": False,
                "misleading": any(k not in also for k in kinds) or worded}
    if expect == "forward_at_fault":
        named = "your FORWARD is at fault" in outputs or bool(FORWARD_KINDS & set(kinds))
        accepted = FORWARD_KINDS | also
    else:
        named = expect in kinds
        accepted = {expect} | also
    return {"file": f"{path.parent.name}/{path.name}", "expect": expect, "kinds": kinds,
            "correct": False, "caught": lost, "explained": lost and named,
            "misleading": any(k not in accepted for k in kinds) or worded}


def longest(report: Any) -> tuple[int, int, str]:
    """(lines, characters, test id) of the report's longest test feedback."""
    best = (0, 0, "")
    for t in report.tests:
        out = t.output
        best = max(best, (len(out.splitlines()), len(out), t.id), key=lambda b: (b[1], b[0]))
    return best


def figures(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    buggy = [v for v in verdicts if not v["correct"]]
    caught = [v for v in buggy if v["caught"]]
    correct = [v for v in verdicts if v["correct"]]
    return {"buggy": len(buggy), "caught": len(caught),
            "explained": sum(v["explained"] for v in caught),
            "explained_share": round(sum(v["explained"] for v in caught) / len(caught), 4)
            if caught else 1.0,
            "misleading": sum(v["misleading"] for v in buggy),
            "unexplained_expected": sum(v["expect"] == "unexplained" for v in caught),
            "unexplained_honest": sum(v["expect"] == "unexplained" and not v["misleading"]
                                      for v in caught),
            "correct": len(correct), "correct_losing": sum(v["losing"] for v in correct),
            "correct_misleading": sum(v["misleading"] for v in correct)}


def corpus(folders: list[Path], everything: bool = False) -> list[Path]:
    """The files of ``folders`` with an EXPECT line (``everything``: all submissions)."""
    files = sorted(f for folder in folders for f in folder.iterdir()
                   if f.suffix in (".py", ".js", ".mjs"))
    if everything:
        return files
    return [f for f in files if not f.name.startswith(SKIP) and expectation(f) is not None]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument("--fd", action="store_true", help="run the finite-difference check too")
    args = p.parse_args()

    from verify.grade import grade_submission

    def one(path: Path) -> tuple[Path, Any]:
        return path, grade_submission(path, seed=args.seed, fd_check=args.fd)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        reports = dict(pool.map(one, corpus(args.folders, everything=True)))
    verdicts: dict[str, list[dict[str, Any]]] = {}
    long_: dict[str, Any] = {}
    for path, report in reports.items():
        lang = "python" if path.suffix == ".py" else "js"
        lines, chars, test = longest(report)
        if chars > long_.get(lang, {}).get("chars", -1):
            long_[lang] = {"lines": lines, "chars": chars, "file": str(path), "test": test}
        if not path.name.startswith(SKIP) and expectation(path) is not None:
            verdicts.setdefault(lang, []).append(judge(path, report))
    out = {"seed": args.seed, "fd": args.fd,
           "figures": {lang: figures(v) for lang, v in sorted(verdicts.items())},
           "longest_feedback": long_,
           "files": {v["file"]: {k: v[k] for k in v if k != "file"}
                     for vs in verdicts.values() for v in vs}}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
