"""A course's worth of grading, timed (docs/performance.md, "A course: 2,000 submissions").

    python scripts/bench_course.py WORKDIR [--n 200] [--jobs 2]

Builds WORKDIR/course, a Gradescope export of N submissions in a course's mix (of every 20:
12 single Python files, 3 notebooks, 2 multi-file Python submissions, 3 math.js files; correct
and buggy ones from tests/submissions, each made unique so that each gets its own seed) with
its submission_metadata.yml, then times, with the CLI as a course would run it:

1. one run: ``python -m verify grade course --jobs J --results-dir r1 --csv g1.csv``;
2. ``--resume`` over the same results (nothing left to grade);
3. the course as 4 shards run one after another (``--shard K/4`` into r2), then ``rescore``
   to collect them; the two CSVs must be equal;
4. a shard's fixed cost: finding and naming the students of a 2,000-submission export, and
   hashing their names, as every shard does.

The machine's load average is printed with each figure: the times are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "submissions"


def build(course: Path, n: int) -> dict[str, int]:
    """A Gradescope export of ``n`` submissions in the course's mix; how many of each kind."""
    shutil.rmtree(course, ignore_errors=True)
    course.mkdir(parents=True)
    py = (sorted(CORPUS.glob("python/correct_*.py")) + sorted(CORPUS.glob("python/buggy_*.py"))
          + [CORPUS / "python" / "crash_shared_default_list.py"])
    notebooks = sorted(CORPUS.glob("notebooks/*.ipynb"))
    multi = sorted((CORPUS / "multifile" / "python").iterdir())
    js = sorted(CORPUS.glob("js/correct_*.js")) + sorted(CORPUS.glob("js/bug_*.js"))
    kinds = {"py": 0, "ipynb": 0, "multi-file": 0, "js": 0}
    for i in range(n):
        slot = i % 20
        d = course / f"submission_{100000 + i}"
        d.mkdir()
        if slot < 12:
            src = py[i % len(py)]
            (d / "mlp.py").write_text(src.read_text() + f"\n# student {i}\n")
            kinds["py"] += 1
        elif slot < 15:
            data = json.loads(notebooks[i % len(notebooks)].read_text())
            data["metadata"]["student"] = i
            (d / "mlp.ipynb").write_text(json.dumps(data))
            kinds["ipynb"] += 1
        elif slot < 17:
            for helper in multi[i % len(multi)].glob("*.py"):
                shutil.copy(helper, d / helper.name)
            (d / "mlp.py").write_text((d / "mlp.py").read_text() + f"\n# student {i}\n")
            kinds["multi-file"] += 1
        else:
            src = js[i % len(js)]
            (d / "mlp.js").write_text(src.read_text() + f"\n// student {i}\n")
            kinds["js"] += 1
    with open(course / "submission_metadata.yml", "w") as f:
        for i in range(n):
            f.write(f"submission_{100000 + i}:\n  :submitters:\n  - :name: Student {i}\n"
                    f"    :sid: '{i}'\n    :email: s{i}@example.edu\n")
    return kinds


CPU: list[float] = []
"""CPU seconds (grader and sandboxed children) of each :func:`grade` call."""


def grade(*args: str) -> float:
    """Wall-clock seconds of ``python -m verify grade ARGS`` (its CPU seconds go to CPU)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "verify", "grade", *args], cwd=REPO,
                          capture_output=True, text=True)
    took = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if done.returncode not in (0, 1):
        sys.exit(f"verify grade {' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return took


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workdir", type=Path)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    w, n, jobs = args.workdir.resolve(), args.n, str(args.jobs)
    course = w / "course"
    print(f"mix: {build(course, n)}; load {load()}", flush=True)
    for d in ("r1", "r2"):
        shutil.rmtree(w / d, ignore_errors=True)
    full = grade(str(course), "--jobs", jobs, "--results-dir", str(w / "r1"), "-q",
                 "--csv", str(w / "g1.csv"))
    print(f"one run, {n} submissions, --jobs {jobs}: {full:.1f} s ({full / n:.3f} s each; "
          f"2,000: {full / n * 2000 / 60:.1f} min); CPU {CPU[-1]:.1f} s ({CPU[-1] / n:.3f} s "
          f"each); load {load()}", flush=True)
    resumed = grade(str(course), "--jobs", jobs, "--results-dir", str(w / "r1"), "--resume", "-q")
    print(f"--resume over {n} graded: {resumed:.1f} s; load {load()}", flush=True)
    shards = []
    for k in range(1, 5):
        shards.append(grade(str(course), "--jobs", jobs, "--shard", f"{k}/4", "--results-dir",
                            str(w / "r2"), "-q"))
        print(f"shard {k}/4: {shards[-1]:.1f} s; load {load()}", flush=True)
    collect = grade("rescore", str(w / "r2"), "--csv", str(w / "g2.csv"), "-q")
    same = sorted((w / "g1.csv").read_text().splitlines()) == \
        sorted((w / "g2.csv").read_text().splitlines())
    print(f"4 shards: {sum(shards):.1f} s in all (one run: {full:.1f} s); collecting with "
          f"rescore: {collect:.1f} s; the CSVs {'are equal' if same else 'DIFFER'}", flush=True)

    sys.path.insert(0, str(REPO))
    from verify.grade.batch import find_submissions
    from verify.grade.students import in_shard, student_names

    big = w / "course2000"
    build(big, 2000)
    start = time.monotonic()
    names, _, _ = student_names(big, find_submissions(big).submissions)
    found = time.monotonic() - start
    start = time.monotonic()
    mine = [name for name in names.values() if in_shard(name, 1, 8)]
    hashed = time.monotonic() - start
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import verify.grade.cli, verify.grade.batch"],
                   cwd=REPO, check=True)
    started = time.monotonic() - start
    print(f"a shard's fixed cost over 2,000 students: start-up {started:.2f} s, finding and "
          f"naming them {found:.2f} s, hashing {hashed * 1000:.1f} ms (shard 1/8: {len(mine)}); "
          f"load {load()}", flush=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
