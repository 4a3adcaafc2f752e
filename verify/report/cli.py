"""``python -m verify report``: run the suite, print the table, write the report files.

Exit status: 0 when every check passes, 1 when any fails (the failing rows are repeated at the
end), 2 for a usage error (a bad option or value, an unwritable ``--out``, a ``--model`` that
cannot be loaded). Files are written only with ``--out DIR`` (and ``--junit FILE``), so the
default run leaves the working tree as it found it. ``--model MODULE:FACTORY`` reports on a
user's model and data instead of the suite. Under GitHub Actions (``GITHUB_ACTIONS=true``) a
failing report also prints one ``::error`` annotation per failing row, on stderr.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from verify.compare import METHODS

from .runner import DEFAULT_METHODS, Report, run_model_case, run_variant
from .suite import CASES, DTYPES, get_cases

__all__ = ["build_parser", "main", "run_report", "write_report"]

PROG = "python -m verify report"
REPORT_STEM = "gradient-report"


def _names(
    valid: Sequence[str], option: str, *, allow_all: bool = False
) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        if allow_all and names == ["all"]:
            return list(valid)
        unknown = [name for name in names if name not in valid]
        if unknown or not names:
            extra = " (or 'all')" if allow_all else ""
            what = f"unknown {option} {', '.join(map(repr, unknown))}" if unknown else \
                f"no {option} given"
            raise argparse.ArgumentTypeError(
                f"{what}; expected a comma-separated list of: {', '.join(valid)}{extra}"
            )
        return names

    return parse


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _entries(text: str) -> int | float:
    from verify.sampling import validate_entries

    try:
        value: int | float = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
    try:
        entries = validate_entries(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count >= 1 or a fraction in (0, 1], got {text!r}") from None
    assert entries is not None
    return entries


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The options of the report command. Long because it lists every option with its help
    text, one after the other; split, the options would only be harder to find."""
    from .render import FORMATS

    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Check every gradient of the reference MLP on a suite of named cases, with every\n"
            "method, and report the error of each layer's weights, biases and input gradient.\n"
            "Prints the table (--format); with --out DIR also writes gradient-report.md, .json\n"
            "and .html there (the committed example: --plot --out reports)."
        ),
        epilog=(
            "exit status: 0 every check passes; 1 some check fails (failing rows repeated at\n"
            "the end); 2 usage error.\n\n"
            "examples:\n"
            f"  {PROG}                                   # the default suite, all methods\n"
            f"  {PROG} --cases lesson-example --methods central\n"
            f"  {PROG} --out build/report                # + gradient-report.md/.json/.html\n"
            f"  {PROG} --plot --out reports              # the committed example report + plots\n"
            f"  {PROG} --fuzz 50                         # + 50 hypothesis-generated networks\n"
            f"  {PROG} --model mynet:make --junit out.xml  # your model, JUnit XML for CI\n"
            f"  {PROG} --format json | jq .passed\n"
            f"  {PROG} --list-cases"
        ),
    )
    parser.add_argument(
        "--cases", type=_names(tuple(CASES), "case"), default=None, metavar="NAME[,NAME...]",
        help="cases to run, comma-separated (default: all; --list-cases shows them)",
    )
    parser.add_argument(
        "--methods", type=_names(METHODS, "method", allow_all=True), default=None,
        metavar="M[,M...]",
        help=f"methods, comma-separated, from {', '.join(METHODS)}, or 'all' "
        f"(default: {','.join(DEFAULT_METHODS)})",
    )
    parser.add_argument(
        "--seed", type=_non_negative_int, default=42,
        help="seed for every case's weights and data, the directional checks' directions and "
        "--fuzz (default 42, the walkthrough's)",
    )
    parser.add_argument(
        "--dtype", choices=DTYPES, default=None,
        help="run every case in this dtype (default: each case's own; float32-vs-float64 "
        "runs both)",
    )
    parser.add_argument(
        "--atol", type=_tolerance, default=None,
        help="absolute tolerance for every row, replacing verify.compare.TOLERANCES' "
        "(an entry passes when |analytic - reference| <= atol + rtol*|reference|)",
    )
    parser.add_argument(
        "--rtol", type=_tolerance, default=None,
        help="relative tolerance for every row (default: TOLERANCES' per dtype and method)",
    )
    parser.add_argument(
        "--entries", type=_entries, default=None, metavar="K|F",
        help="check a seeded sample of each gradient instead of every entry: K entries (an "
        "integer >= 1) or a fraction F in (0, 1] per tensor, biases in full, drawn from "
        "--seed; applies to central, forward and complex_step, and every sampled row says "
        "how much was checked (default: every entry)",
    )
    parser.add_argument(
        "--fuzz", type=_non_negative_int, default=0, metavar="N",
        help="also check N hypothesis-generated networks (from verify.strategies, seeded by "
        "--seed) and report the worst error found per method (default 0)",
    )
    parser.add_argument(
        "--plot", action="store_true",
        help="also draw, per case, the central-difference error versus the step size "
        "(log-log, per layer) into OUT/plots/*.png, embedded in the HTML (needs --out)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="write gradient-report.md, .json, .html (and --plot's PNGs) into DIR "
        "(default: write nothing, only print)",
    )
    parser.add_argument(
        "--format", choices=tuple(FORMATS), default="text",
        help="what to print on stdout (default: text)",
    )
    parser.add_argument(
        "--no-write", action="store_true",
        help="print only, even with --out (--plot still writes its PNGs there)",
    )
    parser.add_argument(
        "--model", default=None, metavar="MODULE:FACTORY",
        help="report on your own model and data instead of the suite: FACTORY() returns "
        "(model, x, y) or (model, x, y, loss); MODULE is importable or a path to a .py file. "
        "Methods that do not apply to it are left out (unless named by --methods)",
    )
    parser.add_argument(
        "--junit", type=Path, default=None, metavar="FILE",
        help="also write the report as JUnit XML to FILE (one test case per row)",
    )
    parser.add_argument(
        "--list-cases", action="store_true", help="list the cases with their descriptions and exit"
    )
    return parser


def environment(args: argparse.Namespace, methods: Sequence[str]) -> dict[str, Any]:
    """Versions, seed, dtype and methods: what a reader needs to reproduce the report."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "numpy": version("numpy"),
        "torch": version("torch"),
        "hypothesis": version("hypothesis"),
        "backprop-verify": version("backprop-verify"),
        "seed": args.seed,
        "dtype": args.dtype or "per case",
        "methods": list(methods),
        "tolerance_override": None if args.atol is None and args.rtol is None
        else {"atol": args.atol, "rtol": args.rtol},
        "model": getattr(args, "model", None),
        **({"entries": args.entries} if getattr(args, "entries", None) is not None else {}),
    }


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, disable=not sys.stderr.isatty(), unit="check",
                leave=False, dynamic_ncols=True)


def run_report(args: argparse.Namespace, *, command: str) -> Report:
    """Run the selected cases (or ``--model``; and --fuzz, --plot) into a :class:`Report`."""
    model = getattr(args, "model", None)
    cases = [] if model else get_cases(args.cases)
    methods = tuple(args.methods or DEFAULT_METHODS)
    variants = [variant for case in cases for variant in case.variants(args.dtype)]
    tolerance = (args.atol, args.rtol)
    total = (len(variants) + args.fuzz) * len(methods) + (len(variants) if args.plot else 0)
    start = time.perf_counter()
    report = Report(results=[], methods=methods, seed=args.seed, command=command,
                    environment=environment(args, methods), tolerance=tolerance,
                    fuzz_requested=args.fuzz)
    with _progress(total) as bar:
        def done(desc: str) -> None:
            bar.set_description(desc, refresh=False)
            bar.update()

        if model:
            result = run_model_case(model, methods, seed=args.seed, explicit=bool(args.methods),
                                    tolerance=tolerance, on_done=done)
            report.results.append(result)
            report.methods = tuple(check.method for check in result.checks)
        for variant in variants:
            report.results.append(
                run_variant(variant, methods, seed=args.seed, tolerance=tolerance, on_done=done,
                            entries=args.entries)
            )
        if args.fuzz:
            from .runner import run_fuzz

            report.fuzz = run_fuzz(args.fuzz, methods, seed=args.seed, dtype=args.dtype,
                                   tolerance=tolerance, on_done=done, entries=args.entries)
        if args.plot:
            from .plots import plot_filename, plot_sweep, sweep_steps

            for variant in variants:
                sweep = sweep_steps(variant.build(args.seed), label=variant.label, seed=args.seed)
                path = plot_sweep(sweep, args.out / "plots" / plot_filename(variant.label))
                report.plots[variant.label] = path
                done(f"{variant.label} plot")
    report.seconds = time.perf_counter() - start
    return report


def write_report(report: Report, out: Path) -> list[Path]:
    """Write gradient-report.md, .json and .html into ``out``; returns the paths."""
    from .render import render_html, render_json, render_markdown

    out.mkdir(parents=True, exist_ok=True)
    links = {
        label: Path(path).resolve().relative_to(out.resolve()).as_posix()
        if Path(path).resolve().is_relative_to(out.resolve()) else Path(path).as_posix()
        for label, path in report.plots.items()
    }
    files = {
        out / f"{REPORT_STEM}.md": render_markdown(report, plot_links=links),
        out / f"{REPORT_STEM}.json": render_json(report, plot_links=links),
        out / f"{REPORT_STEM}.html": render_html(report, plot_links=links),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)


def _list_cases() -> str:
    from tabulate import tabulate

    from .suite import get_cases as cases

    rows = []
    for case in cases():
        problem = case.build(seed=42)
        variants = ", ".join(v.label for v in case.variants())
        rows.append([case.name, problem.network, variants, case.description])
    return tabulate(rows, headers=["case", "network (seed 42)", "variants", "description"],
                    tablefmt="simple", maxcolwidths=[None, 28, 30, 60])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m verify report``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(_join_negative_numbers(argv))
    except SystemExit as exit_:  # argparse: 0 for --help, 2 for a usage error
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.list_cases:
        print(_list_cases())
        return 0
    if args.plot and args.out is None:
        print(f"{PROG}: error: argument --plot: needs --out DIR (where the PNGs go)",
              file=sys.stderr)
        return 2
    if args.model is not None:
        clash = [name for name, value in (("--cases", args.cases), ("--dtype", args.dtype),
                                          ("--plot", args.plot)) if value]
        if clash:
            print(f"{PROG}: error: argument --model: reports on your model alone; not with "
                  f"{', '.join(clash)}", file=sys.stderr)
            return 2
        from .runner import load_factory

        try:
            load_factory(args.model)
        except ValueError as error:
            print(f"{PROG}: error: argument --model: {error}", file=sys.stderr)
            return 2
    if args.out is not None and (args.plot or not args.no_write):
        problem = _unwritable(args.out)
        if problem:
            print(f"{PROG}: error: argument --out: {problem}", file=sys.stderr)
            return 2
    from .render import render

    command = " ".join([PROG, *map(shlex.quote, argv)])
    try:
        report = run_report(args, command=command)
    except (TypeError, ValueError) as error:  # a --model factory or model the check refuses
        if args.model is None:
            raise
        print(f"{PROG}: error: argument --model: {error}", file=sys.stderr)
        return 2
    written = [] if args.no_write or args.out is None else write_report(report, args.out)
    if args.junit is not None:
        from .ci import write_junit

        written.append(write_junit(report, args.junit))
    try:
        sys.stdout.write(render(report, args.format))
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head`: the reader left; the exit status still counts
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    if written:
        print(f"wrote {', '.join(map(str, written))}", file=sys.stderr)
    if args.format != "text":
        # stdout holds the machine-readable report; a CI log still gets the verdict and, on
        # failure, every failing row.
        from .render import failure_lines, verdict

        for line in failure_lines(report):
            print(f"  {line}", file=sys.stderr)
        print(verdict(report), file=sys.stderr)
    if os.environ.get("GITHUB_ACTIONS") == "true" and not report.passed:
        from .ci import github_annotations

        for line in github_annotations(report):  # the runner reads workflow commands on stderr
            print(line, file=sys.stderr)
    return 0 if report.passed else 1


_NUMERIC_OPTIONS = ("--atol", "--rtol", "--seed", "--fuzz", "--entries")


def _join_negative_numbers(argv: list[str]) -> list[str]:
    """``--atol -1e-3`` -> ``--atol=-1e-3``: argparse would take ``-1e-3`` for an option and
    say only "expected one argument"; joined, the value reaches its check and its message."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in _NUMERIC_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            try:
                float(argv[i + 1])
            except ValueError:
                pass
            else:
                out.append(f"{argv[i]}={argv[i + 1]}")
                i += 2
                continue
        out.append(argv[i])
        i += 1
    return out


def _unwritable(out: Path) -> str:
    """Why ``out`` cannot hold the report, or ''."""
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                return f"{str(parent)!r} exists and is not a directory"
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot create directory {str(out)!r}: {error.strerror or error}"
    probe = out / ".verify-report-write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        return f"directory {str(out)!r} is not writable: {error.strerror or error}"
    return ""
