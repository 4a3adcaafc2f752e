"""``python -m verify report``: the per-layer gradient-error report of the reference MLP.

* :mod:`verify.report.suite`: the named, documented cases and running them into a
  :class:`~verify.report.suite.Report`;
* :mod:`verify.report.render`: text, markdown, HTML, JSON and CSV renderings of a report;
* :mod:`verify.report.plots`: error versus step size (matplotlib, PNG);
* :mod:`verify.report.cli`: the command line (``main(argv) -> exit status``).
"""

from .suite import CASES, DEFAULT_METHODS, Case, CaseResult, Problem, Report, get_cases

__all__ = ["CASES", "DEFAULT_METHODS", "Case", "CaseResult", "Problem", "Report", "get_cases"]
