"""Reading TOML on every supported Python: the one place the grader imports a TOML parser.

``tomllib`` is in the standard library from Python 3.11; Python 3.10 (Gradescope's Ubuntu 22.04
image) has the ``tomli`` backport it came from (same API), which pyproject.toml and the bundle's
setup.sh install there. Rubrics and assignment files both read TOML through :func:`loads`
(a test checks that no other module imports a TOML parser).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["loads"]


def loads(text: str, what: str) -> dict[str, Any]:
    """``text`` parsed as TOML; ValueError starting with ``what`` (e.g. ``rubric r.toml``) when
    it is not valid TOML or no TOML parser is installed."""
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ValueError(f"{what}: reading TOML needs Python >= 3.11 or the tomli package "
                             f"(this is Python {sys.version_info.major}."
                             f"{sys.version_info.minor}: pip install 'tomli>=1.1')") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{what}: invalid TOML: {exc}") from None
