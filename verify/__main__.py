"""``python -m verify COMMAND``: dispatch only; each command lives in its own module."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    "report": ("verify.report.cli",
               "per-layer gradient-error report of the reference (tables, plots)"),
    "bench": ("verify.bench",
              "speed benchmark: this checker vs a per-parameter loop vs torch gradcheck"),
    "grade": ("verify.grade.cli", "grade students' submissions in a sandbox (Gradescope output)"),
}


def _usage() -> str:
    lines = ["usage: python -m verify COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<8} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "examples:",
              "  python -m verify report                      # the reference, every method",
              "  python -m verify report --format json        # the same rows, for machines",
              "  python -m verify grade alice.py --results results.json",
              "  python -m verify bench",
              "", "python -m verify COMMAND --help shows a command's options; docs/ explains each."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"python -m verify: unknown command {name!r}; expected one of {', '.join(COMMANDS)}",
              file=sys.stderr)
        print(_usage(), file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
