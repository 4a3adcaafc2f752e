"""Text that came from a submission, made safe to store, show and print.

Student code controls every string it prints or raises, so what the grader passes on (exception
messages, tracebacks, printed output, file names) is cleaned at the boundary:

* **Storable.** PostgreSQL's ``json``/``jsonb`` types, where course platforms keep results,
  reject ``\\u0000`` and unpaired surrogates (``\\udce9``, which Python makes from an undecodable
  byte with ``surrogateescape``). NUL becomes the visible text ``\\x00`` and a lone surrogate
  its ``\\udcXX`` escape: the student still sees that something odd was there.
* **Printable.** Other C0 and C1 control characters (ESC, carriage return, backspace, CSI) would
  let printed output move the cursor or clear the grader's terminal and draw a fake result over
  the real one; they are shown as ``\\xNN`` too. Bidirectional-override characters (which can
  make text read in a different order than it is stored, "Trojan Source", CVE-2021-42574) are
  shown as ``\\uNNNN``. Newlines and tabs are kept.

:func:`safe_text` is idempotent on its own output (a backslash is never added in front of text
that is already safe), and :func:`safe_json` applies it to every string in a document.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["cut_json", "json_size", "safe_json", "safe_text", "truncate"]

# C0 controls except \t and \n, DEL, C1 controls; bidi embedding/override/isolate marks.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: object) -> str:
    """``value`` as text that every JSON store accepts and no terminal interprets.

    >>> safe_text("a\\x00b\\x1b[2Jc\\udce9")
    'a\\\\x00b\\\\x1b[2Jc\\\\udce9'
    """
    text = value if isinstance(value, str) else str(value)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(_escape, text)
    return _UNSAFE.sub(_escape, text)


def truncate(text: str, limit: int, what: str = "text") -> str:
    """``text`` cut to at most about ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters of {what} not shown)"


def safe_json(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every string made safe,
    keys included."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(k): safe_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe_json(v) for v in value]
    return value


def json_size(text: str) -> int:
    """Bytes ``text`` takes in a JSON document (``json.dumps``, ASCII-escaped: a character
    outside the BMP takes 12)."""
    return len(json.dumps(text))


def cut_json(text: str, max_bytes: int, why: str) -> str:
    """``text`` cut so that it takes at most ``max_bytes`` bytes in a JSON document, ending
    with a line that says so (``why``: e.g. "the limit per test is 32 KiB"); unchanged if it
    fits."""
    if json_size(text) <= max_bytes:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the note
        mid = (lo + hi + 1) // 2
        note = f"\n... [cut here: {len(text) - mid} more characters not shown; {why}]"
        if json_size(text[:mid] + note) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + f"\n... [cut here: {len(text) - lo} more characters not shown; {why}]"
