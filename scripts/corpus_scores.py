"""Grade every file of a corpus folder with fixed seeds and print the scores as JSON.

Used to show that a change to the grader keeps the scores of the existing corpus: run it on two
checkouts (``PYTHONPATH=<checkout> python scripts/corpus_scores.py ...``) and compare the output.

    python scripts/corpus_scores.py tests/submissions/python tests/submissions/js \\
        --seeds 7 2024 --jobs 4 > scores.json

Per file and seed: the total, each test's score and the diagnoses named. Only the grader's public
API is used (``grade_submission``), so any version of it can be measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--seeds", nargs="+", type=int, default=[7])
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument("--fd", action="store_true", help="also run the finite-difference check")
    p.add_argument("--assignment", default=None, help="grade under this assignment (if supported)")
    args = p.parse_args()

    from verify.grade import grade_submission

    extra: dict[str, Any] = {}
    if args.assignment is not None:
        extra["assignment"] = args.assignment
    files = sorted(f for folder in args.folders for f in folder.iterdir()
                   if f.suffix in (".py", ".js", ".mjs"))

    def one(job: tuple[Path, int]) -> tuple[str, dict[str, Any]]:
        path, seed = job
        rep = grade_submission(path, seed=seed, fd_check=args.fd, **extra)
        return f"{path.parent.name}/{path.name}@{seed}", {
            "score": rep.score, "max_score": rep.max_score,
            "tests": {t.id: t.score for t in rep.tests},
            "diagnoses": {t.id: t.diagnoses for t in rep.tests if t.diagnoses}}

    jobs = [(f, s) for f in files for s in args.seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        out = dict(pool.map(one, jobs))
    json.dump(dict(sorted(out.items())), sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
