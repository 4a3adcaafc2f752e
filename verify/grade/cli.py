"""``python -m verify grade``: grade one submission, a folder of them, or build a bundle.

    python -m verify grade alice.py --results results.json        # one submission
    python -m verify grade submissions/ --jobs 2 --csv grades.csv  # a folder (batch)
    python -m verify grade course/ --results-dir results --resume --shard 2/8   # cluster
    python -m verify grade rescore results --rubric new.toml --csv grades.csv   # new points
    python -m verify grade --prairielearn /grade                   # a PrairieLearn job
    python -m verify grade alice.py --format plain                 # one JSON line on stdout
    python -m verify grade --gradescope /autograder/submission \\
        --results /autograder/results/results.json
    python -m verify grade --sandbox-info                          # what a child can do here
    python -m verify grade bundle --out autograder.zip             # a Gradescope bundle
    python -m verify grade bench --n 100 --jobs 2                  # speed benchmark
    python -m verify grade alice.py --assignment losses            # another lesson's assignment
    python -m verify grade assignments                             # the assignments, tests, points

Exit status: 0 whenever every submission was graded (whatever the scores; results.json is then
valid); 2 for usage errors (bad options, a path that does not exist, an unusable --sandbox
bwrap, a sandbox that cannot isolate untrusted code here: see --unsafe-sandbox); 3 when some
submission could not be graded at all (e.g. JavaScript without Node.js or math.js here: those
students are marked NOT GRADED, never given 0; results.json is still written).

The ``rescore`` and ``assignments`` commands (and the batch table they share with a batch run)
are in :mod:`.cli_commands`. What stays is a little over 500 lines on purpose: the grading
command's parser, the checks of its options against each other and its four modes (a file, a
folder, Gradescope, PrairieLearn) read best side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from tabulate import tabulate

from .assignments import DEFAULT_ASSIGNMENT, Assignment, load_assignment
from .cli_commands import _assignments, _print_batch, _rescore
from .limits import Limits
from .outputs import OUTPUTS
from .rubric import Rubric, load_rubric
from .sandbox import (
    SANDBOX_MODES,
    SandboxMode,
    SandboxRefused,
    available_modes,
    capabilities,
    check_isolation,
    missing_protections,
    resolve_mode,
)
from .scoring import GradeReport
from .seeding import load_secret
from .students import parse_shard

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    """The options of ``python -m verify grade``. Long because it lists every option with its
    help text, one after the other; split, the options would only be harder to find."""
    p = argparse.ArgumentParser(
        prog="python -m verify grade",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Grade students' backprop submissions in a sandbox.\n"
                    "Subcommands: 'assignments' (list them), 'bundle' (build a Gradescope\n"
                    "autograder), 'bench' (timings), 'rescore' (new points for stored results).",
        epilog="examples:\n"
               "  python -m verify grade alice.py                    # table + feedback\n"
               "  python -m verify grade alice.py --results results.json\n"
               "  python -m verify grade submissions/ --jobs 2 --csv grades.csv\n"
               "  python -m verify grade losses.py --assignment losses\n"
               "  python -m verify grade --gradescope /autograder/submission \\\n"
               "      --results /autograder/results/results.json\n"
               "  python -m verify grade --prairielearn /grade\n"
               "  python -m verify grade course/ --results-dir out --resume --shard 1/4\n"
               "  python -m verify grade rescore out --rubric new.toml --csv grades.csv\n"
               "  python -m verify grade bundle --help\n\n"
               "exit status: 0 every submission graded (whatever the scores); 2 usage error;\n"
               "3 some submission could not be graded (NOT GRADED, never 0).")
    p.add_argument("path", nargs="?", help="a submission file, or a folder of submissions (batch)")
    p.add_argument("--assignment", metavar="NAME|FILE", default=None,
                   help=f"the assignment to grade: a built-in (see 'python -m verify grade "
                        f"assignments'; default {DEFAULT_ASSIGNMENT}) or an instructor's "
                        f".toml file")
    p.add_argument("--results", metavar="PATH",
                   help="write the results document here (atomically; single submission)")
    p.add_argument("--format", default=None, choices=sorted(OUTPUTS),
                   help="the results document's format (default gradescope; prairielearn with "
                        "--prairielearn; plain: one JSON line with the points, printed on "
                        "stdout)")
    p.add_argument("--gradescope", metavar="DIR",
                   help="grade the one submission file in DIR (Gradescope's "
                        "/autograder/submission)")
    p.add_argument("--prairielearn", metavar="ROOT", nargs="?", const="/grade",
                   help="grade a PrairieLearn external-grading job: the submission in "
                        "ROOT/student, options from ROOT/data/data.json's params.verify, "
                        "results to ROOT/results/results.json (ROOT default /grade)")
    p.add_argument("--entry", metavar="NAME",
                   help="the entry file to grade inside a folder (e.g. mlp.py); default: the "
                        "only one, or the one defining the contract's names; the helper "
                        "modules beside it are copied with it")
    p.add_argument("--seed", type=int,
                   help="draw every test from this seed (default: derived from the file's content "
                        "and the secret, so a regrade gives the same result)")
    p.add_argument("--secret-file", metavar="FILE",
                   help="the course's secret for deriving seeds (default "
                        "$VERIFY_GRADE_SECRET_FILE; "
                        "a bundle ships its own)")
    p.add_argument("--rubric", metavar="FILE", help="points/visibility overrides (.toml or .json)")
    p.add_argument("--sandbox", choices=SANDBOX_MODES, default=None,
                   help="bwrap (namespaces), rlimits (fallback), or auto (default; also "
                        "$VERIFY_GRADE_SANDBOX)")
    p.add_argument("--sandbox-info", action="store_true",
                   help="start a probe child in each sandbox that works here and print what it "
                        "could and could not do (network, processes, files, ...), then exit "
                        "(status 2 if the selected sandbox cannot isolate untrusted code)")
    p.add_argument("--unsafe-sandbox", action="store_true",
                   help="grade even where the sandbox cannot isolate untrusted code here (the "
                        "grader says what is missing): ONLY for code you trust")
    p.add_argument("--jobs", type=int, default=2, help="submissions graded at once (batch)")
    p.add_argument("--csv", metavar="PATH", help="batch: write the summary CSV here")
    p.add_argument("--results-dir", metavar="DIR",
                   help="batch: write each student's results into DIR/<student>.json (and the "
                        "grader's record into DIR/records/), as soon as they are graded")
    p.add_argument("--resume", action="store_true",
                   help="batch: keep the results in --results-dir of students already graded "
                        "from the same files, secret, seed, assignment, rubric, limits and "
                        "grader; grade only the others")
    p.add_argument("--shard", metavar="K/N",
                   help="batch: grade only shard K of N (1 <= K <= N; every student is in "
                        "exactly one shard), e.g. ${SLURM_ARRAY_TASK_ID}/8")
    p.add_argument("--wall-limit", type=float, default=Limits.wall_s,
                   help="seconds of wall time for the whole submission (default %(default)s)")
    p.add_argument("--load-limit", type=float, default=Limits.load_s,
                   help="seconds to load the file, per child process (default %(default)s)")
    p.add_argument("--task-limit", type=float, default=Limits.task_s,
                   help="seconds per part of a test (default %(default)s)")
    p.add_argument("--cpu-limit", type=int, default=Limits.cpu_s,
                   help="seconds of CPU time per child process (default %(default)s)")
    p.add_argument("--memory-limit", type=int, default=Limits.memory_mb,
                   help="MiB of memory per child process (default %(default)s)")
    p.add_argument("--no-fd", action="store_true",
                   help="skip the finite-difference check of the student's own forward")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="print every test's feedback, not only the failing ones")
    p.add_argument("--quiet", "-q", action="store_true", help="no table, no progress bar")
    return p


def _sandbox_info(requested: str | None, unsafe: bool) -> int:
    from .probe import probe
    from .sandbox import SandboxError

    rows = [[mode, "usable" if reason is None else f"unavailable: {reason}"]
            for mode, reason in available_modes().items()]
    print(tabulate(rows, headers=["sandbox", "status"]))
    try:
        selected = resolve_mode(requested)
    except (ValueError, RuntimeError) as exc:
        print(f"\nselected: none ({exc})")
        return 2
    status = 0
    modes: list[SandboxMode] = [m for m in ("bwrap", "rlimits")
                                if available_modes()[m] is None]
    if requested and requested != "auto":
        modes = [selected]
    for mode in modes:
        missing = missing_protections(mode)
        batch = [m for m in missing_protections(mode, batch=True) if m not in missing]
        print(f"\n{mode}: a probe child tried, from inside:")
        try:
            found = probe(mode, unsafe=True)
        except (SandboxError, OSError) as exc:
            print(f"  the probe could not run: {exc}")
            status = 2 if mode == selected else status
            continue
        table = [[name, "active" if c["active"] else "NOT ACTIVE", c["how"]]
                 for name, c in found["checks"].items()]
        print(tabulate(table, headers=["protection", "", "what the probe found"],
                       disable_numparse=True, maxcolwidths=[None, None, 72]))
        if found["problem"]:
            print(f"  the probe child: {found['problem']}")
        for m in missing:
            print(f"  REFUSED for untrusted code: missing {m}")
        for m in batch:
            print(f"  REFUSED for batches: missing {m}")
        if not missing and not batch:
            print("  safe for untrusted code, single submissions and batches")
        bad = [k for k in _needed(mode) if not found["checks"].get(k, {}).get("active")]
        if mode == selected and (missing and not unsafe or bad and not missing):
            status = 2
            if bad and not missing:
                print(f"  protections the probe found NOT active: {', '.join(bad)}")
    print(f"\nselected: {selected}")
    return status


def _needed(mode: str) -> list[str]:
    """The protections the probe must find in force for ``mode`` to be used here (see
    docs/sandbox.md): all of them, except that a grader run by an ordinary user shares its uid
    with the child by necessity (the namespaces or Landlock stand in for a uid of its own), and
    that a root grader without Landlock relies on permissions for files (refused for batches
    and for a grader whose files every user can read) and cannot bound /tmp."""
    from .probe import CHECKS

    needed = [k for k in CHECKS if k != "user" or os.geteuid() == 0]
    if mode == "rlimits" and capabilities().landlock_abi < 1:
        needed = [k for k in needed if k not in ("files", "temp_space")]
    return needed


def isolation_line(report: GradeReport) -> str:
    """One line saying what the submission's children ran under (for the summaries)."""
    iso = report.isolation
    if not iso:
        return f"sandbox {report.sandbox} (no child ran)"
    prot = iso.get("protections", {})
    on = [k for k, v in prot.items() if v.get("active")]
    off = [k for k, v in prot.items() if not v.get("active")]
    text = f"sandbox {iso.get('mode')}, child uid {iso.get('uid')}; active: {', '.join(on)}"
    return text + (f"; NOT active: {', '.join(off)}" if off else "")


def _print_report(report: GradeReport, verbose: bool) -> None:
    rows = [[t.name, f"{t.score:g} / {t.max_score:g}", t.status,
             "hidden" if t.visibility != "visible" else ""] for t in report.tests]
    print(tabulate(rows, headers=["test", "score", "status", ""], disable_numparse=True))
    total = f"{report.score:g} / {report.max_score:g}" if report.graded else "NOT GRADED"
    print(f"\nTotal: {total}   seed {report.seed} ({report.seed_source})   "
          f"sandbox {report.sandbox}   {report.execution_time:.2f} s   "
          f"assignment {report.assignment}")
    print(isolation_line(report))
    for t in report.tests:
        if verbose or not t.passed:
            print(f"\n--- {t.name} ({t.score:g} / {t.max_score:g})")
            print(t.output)
    for note in report.notes:
        print(f"\nnote: {note}")


def _safe_streams() -> None:
    """Never crash printing: text the grader prints can hold anything a submission wrote (the
    grader escapes control characters; an encoding that cannot show a character escapes it)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass


def _unused_options(args: argparse.Namespace, batch: bool) -> str:
    """Why an option given does not apply to what is graded ('' when all apply): an option
    silently ignored would leave its user waiting for a file that never comes."""
    if args.prairielearn:
        return ""  # checked with its own message
    if batch:
        if args.results:
            return (f"--results is for one submission; {args.path} is a folder: use "
                    f"--results-dir DIR (one results file per student) and --csv FILE")
        return ""
    given = [flag for flag, value in (("--csv", args.csv), ("--results-dir", args.results_dir),
                                      ("--resume", args.resume), ("--shard", args.shard))
             if value]
    if given:
        what = "--gradescope DIR" if args.gradescope else (args.path or "one submission")
        verb = "applies" if len(given) == 1 else "apply"
        return (f"{', '.join(given)} {verb} to a folder of submissions (a batch), not to "
                f"{what}: give a folder, or use --results FILE for one submission")
    return ""


def main(argv: list[str] | None = None) -> int:
    _safe_streams()
    argv = list(sys.argv[1:] if argv is None else argv)
    sub = _subcommand(argv)
    if sub is not None:
        return sub
    parser = _parser()
    args = parser.parse_args(argv)
    if args.sandbox_info:
        return _sandbox_info(args.sandbox, args.unsafe_sandbox)
    try:
        mode, assignment, rubric, limits, secret, shard = _settings(args)
    except (ValueError, RuntimeError) as exc:
        print(f"python -m verify grade: {exc}", file=sys.stderr)
        return 2
    batch = bool(args.path) and not args.gradescope and Path(args.path).is_dir()
    unused = _unused_options(args, batch)
    if unused:
        print(f"python -m verify grade: {unused}", file=sys.stderr)
        return 2
    try:
        missing = check_isolation(mode, batch=batch, unsafe=args.unsafe_sandbox)
    except SandboxRefused as exc:
        return _refused(args, exc)
    for m in missing:
        print(f"python -m verify grade: WARNING (--unsafe-sandbox): missing {m}", file=sys.stderr)

    from .outputs import output_for, write_results

    if args.prairielearn:
        return _prairielearn_alone(args, mode, limits, secret)
    if args.format is None:
        args.format = "gradescope"
    output = output_for(args.format)
    error_results = output.error_results
    submission = None
    if args.gradescope:
        from .submission import find_submission

        folder = Path(args.gradescope)
        found = (find_submission(folder, args.entry, assignment.contract) if folder.is_dir()
                 else f"expected a submission folder, found no such folder: {folder}")
        if isinstance(found, str):
            if args.results:
                write_results(error_results(found), args.results)
            _plain_error(args, found)
            print(found, file=sys.stderr)
            return 0 if args.results else 2
        submission, args.path = found, str(found.entry)

    if not args.path:
        parser.print_usage(sys.stderr)
        print("python -m verify grade: give a submission file or folder (or --gradescope DIR)",
              file=sys.stderr)
        return 2
    path = Path(args.path)
    if path.is_dir():
        return _batch(args, path, mode, rubric, limits, secret, assignment, shard)
    if not path.exists():
        print(f"python -m verify grade: {path} does not exist", file=sys.stderr)
        if args.results:
            write_results(error_results(f"{path.name} was not found"), args.results)
        _plain_error(args, f"{path.name} was not found")
        return 2
    return _grade_one(args, submission or path, mode, rubric, limits, secret, assignment,
                      output)


def _subcommand(argv: list[str]) -> int | None:
    """``bundle``, ``bench``, ``assignments``, ``rescore``: their exit status; else None."""
    if argv and argv[0] == "bundle":
        from .bundle import main as bundle_main

        return bundle_main(argv[1:])
    if argv and argv[0] == "bench":
        from .benchmark import main as bench_main

        return bench_main(argv[1:])
    if argv and argv[0] == "assignments":
        return _assignments(argv[1:])
    if argv and argv[0] == "rescore":
        return _rescore(argv[1:])
    return None


def _settings(args: argparse.Namespace
              ) -> tuple[SandboxMode, Any, Any, Limits, bytes, tuple[int, int] | None]:
    """The options checked: (mode, assignment, rubric, limits, secret, shard); ValueError or
    RuntimeError saying what is wrong."""
    mode = resolve_mode(args.sandbox)
    assignment = load_assignment(args.assignment)
    rubric = load_rubric(args.rubric, assignment)
    limits = Limits(wall_s=args.wall_limit, load_s=args.load_limit, task_s=args.task_limit,
                    cpu_s=args.cpu_limit, memory_mb=args.memory_limit)
    secret = load_secret(args.secret_file)
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    shard = parse_shard(args.shard) if args.shard is not None else None
    if args.resume and not args.results_dir:
        raise ValueError("--resume needs --results-dir (where the earlier results are)")
    return mode, assignment, rubric, limits, secret, shard


def _refused(args: argparse.Namespace, exc: SandboxRefused) -> int:
    """The sandbox cannot isolate here: say so, and leave the results file a platform reads."""
    print(f"python -m verify grade: {exc}", file=sys.stderr)
    if args.prairielearn:  # PrairieLearn reads a results.json: not gradable, saying why
        from .outputs import prairielearn, write_results

        write_results(prairielearn.error_results(
            "the grading machine cannot run submissions safely; please contact the course "
            "staff"), Path(args.prairielearn) / "results" / "results.json")
    if args.results:
        from .outputs import output_for, write_results

        write_results(output_for(args.format or "gradescope").error_results(
            "the grading machine cannot run submissions safely; please contact the course "
            "staff"), args.results)
    return 2


def _prairielearn_alone(args: argparse.Namespace, mode: SandboxMode, limits: Limits,
                        secret: bytes) -> int:
    """``--prairielearn``, refused with the options it cannot be combined with."""
    clash = [flag for flag, given in (("a submission PATH", args.path),
                                      ("--gradescope", args.gradescope),
                                      ("--results", args.results),
                                      ("--results-dir", args.results_dir),
                                      ("--format " + str(args.format),
                                       args.format not in (None, "prairielearn")))
             if given]
    if clash:
        print(f"python -m verify grade: --prairielearn grades ROOT/student and writes "
              f"ROOT/results/results.json; it cannot be combined with {', '.join(clash)}",
              file=sys.stderr)
        return 2
    return _prairielearn(args, mode, limits, secret)


def _grade_one(args: argparse.Namespace, target: Any, mode: SandboxMode, rubric: Any,
               limits: Limits, secret: bytes, assignment: Any, output: Any) -> int:
    """Grade one submission; write, print and return what the options ask for."""
    from .grader import grade_submission
    from .outputs import write_results
    from .text import safe_text

    error_results, results_dict = output.error_results, output.results_dict
    try:
        report = grade_submission(target, seed=args.seed, secret=secret, rubric=rubric,
                                  limits=limits, sandbox=mode, fd_check=not args.no_fd,
                                  assignment=assignment, unsafe_sandbox=args.unsafe_sandbox)
    except Exception as exc:  # a grader bug: still leave a valid results.json behind
        if args.results:
            write_results(error_results(f"internal grader error ({type(exc).__name__}: "
                                        f"{safe_text(exc)}); please contact the course staff"),
                          args.results)
        raise
    if args.results:
        write_results(results_dict(report), args.results)
    if args.format == "plain":  # the one line a platform reads from stdout: nothing else there
        from .outputs.plain import line

        print(line(results_dict(report)))
    elif not args.quiet:
        _print_report(report, args.verbose)
    if not report.graded:
        print(f"python -m verify grade: NOT GRADED: {report.notes[0] if report.notes else ''}",
              file=sys.stderr)
        return 3
    return 0


def _plain_error(args: argparse.Namespace, reason: str) -> None:
    """With ``--format plain``, stdout always gets its one line, also when nothing was graded."""
    if args.format == "plain":
        from .outputs.plain import error_results, line

        print(line(error_results(reason)))


def _batch(args: argparse.Namespace, folder: Path, mode: str, rubric: Rubric, limits: Limits,
           secret: bytes, assignment: Assignment, shard: tuple[int, int] | None = None) -> int:
    from .batch import grade_folder, write_csv
    from .records import ResultStore

    start = time.monotonic()
    # Each student's results are written the moment they are graded (a crash or a killed job
    # loses none of the finished ones), and --resume finds them there.
    store = ResultStore(args.results_dir, args.format) if args.results_dir else None
    try:
        result = grade_folder(folder, jobs=args.jobs, seed=args.seed, secret=secret,
                              rubric=rubric, limits=limits, sandbox=mode, entry=args.entry,
                              progress=not args.quiet, fd_check=not args.no_fd,
                              assignment=assignment, store=store, resume=args.resume,
                              shard=shard, unsafe_sandbox=args.unsafe_sandbox)
    except SandboxRefused as exc:
        print(f"python -m verify grade: {exc}", file=sys.stderr)
        return 2
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not result.reports:
        if shard is not None:  # a shard may be empty: nothing to do is not an error
            print(f"shard {shard[0]}/{shard[1]}: no students of {folder} in this shard",
                  file=sys.stderr)
            return 0
        print(f"python -m verify grade: no submissions found in {folder}", file=sys.stderr)
        return 2
    if args.csv:
        write_csv(result, args.csv)
    if not args.quiet:
        _print_batch(result)
        scores = [rep.score for rep in result.reports.values() if rep.graded]
        mean = f"mean {sum(scores) / len(scores):.1f}" if scores else "none graded"
        seed = f"seed {result.seed}" if result.seed is not None else "seeds from each file"
        kept = (f"; {len(result.resumed)} of them kept from an earlier run (--resume)"
                if result.resumed else "")
        part = f"shard {shard[0]}/{shard[1]}, " if shard is not None else ""
        print(f"\n{len(scores)} submissions graded in {time.monotonic() - start:.1f} s "
              f"({part}--jobs {args.jobs}, sandbox {mode}, {seed}, assignment "
              f"{assignment.name}){kept}; {mean}")
        ran = [rep for rep in result.reports.values() if rep.isolation]
        if ran:
            uids = sorted({rep.isolation.get("uid") for rep in ran}, key=str)
            line = isolation_line(ran[0]).replace(f"child uid {ran[0].isolation.get('uid')}",
                                                  f"child uids {', '.join(map(str, uids[:5]))}"
                                                  f"{' ...' if len(uids) > 5 else ''}")
            print(line)
    if result.not_graded:
        print(f"python -m verify grade: {len(result.not_graded)} submission(s) NOT GRADED "
              f"(see the warnings above)", file=sys.stderr)
        return 3
    return 0


def _prairielearn(args: argparse.Namespace, mode: str, limits: Limits, secret: bytes) -> int:
    """``--prairielearn ROOT``: one PrairieLearn job. What it prints is shown to the student
    (PrairieLearn shows the job's output): the points, never the seed."""
    from .prairielearn_job import ConfigError, config_error_results, read_job, run_job

    root = Path(args.prairielearn)
    if not root.is_dir():  # a mistyped root: nothing to grade, and nowhere PrairieLearn reads
        print(f"python -m verify grade: --prairielearn {root}: no such folder "
              f"(expected PrairieLearn's job folder, /grade, holding student/ and data/)",
              file=sys.stderr)
        return 2
    try:
        job = read_job(root, entry=args.entry, assignment=args.assignment, rubric=args.rubric)
    except ConfigError as exc:
        config_error_results(root, str(exc))
        print(f"python -m verify grade: {exc}", file=sys.stderr)
        return 2
    try:
        data, report = run_job(job, seed=args.seed, secret=secret, limits=limits, sandbox=mode,
                               fd_check=not args.no_fd, unsafe_sandbox=args.unsafe_sandbox)
    except Exception as exc:  # a grader bug: still a valid results.json, not gradable
        config_error_results(root, f"internal grader error: {type(exc).__name__}")
        raise
    if report is None or not report.graded:
        print(f"not gradable: {'; '.join(data.get('format_errors', []))}")
        return 3 if report is not None else 0
    print(f"{report.score:g} / {report.max_score:g} points (score {data['score']:.4g}); "
          f"results in {job.results}")
    return 0
