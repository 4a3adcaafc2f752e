"""``python -m verify report``: the per-layer gradient-error report of the reference MLP.

* :mod:`verify.report.suite`: the named, documented cases (networks, data, loss conventions);
* :mod:`verify.report.runner`: running them with every method into a
  :class:`~verify.report.runner.Report`;
* :mod:`verify.report.render`: text, markdown, HTML, JSON and CSV renderings of a report;
* :mod:`verify.report.plots`: error versus step size (matplotlib, PNG);
* :mod:`verify.report.cli`: the command line (``main(argv) -> exit status``).
"""

from .runner import DEFAULT_METHODS, CaseResult, Report
from .suite import CASES, Case, Problem, get_cases

__all__ = ["CASES", "DEFAULT_METHODS", "Case", "CaseResult", "Problem", "Report", "get_cases"]
