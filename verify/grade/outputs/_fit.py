"""Keeping a results document under a size limit, saying where it was cut."""

from __future__ import annotations

import json
from typing import Any

from ..text import cut_json, json_size

__all__ = ["document_size", "fit"]


def document_size(data: Any) -> int:
    """Bytes of ``data`` as :func:`~verify.grade.outputs.write_results` writes it."""
    return len(json.dumps(data, indent=2, allow_nan=False).encode())


def fit(data: dict[str, Any], max_bytes: int, fields: list[tuple[dict[str, Any], str]],
        why: str) -> dict[str, Any]:
    """``data`` with the text ``fields`` (``(container, key)`` pairs inside it) cut, longest
    first, until the whole document takes at most ``max_bytes``; each cut ends with a line
    saying so (``why``). Changes ``data`` in place and returns it; never raises. What cannot be
    made to fit by cutting texts (absurdly many fields) is left as it is."""
    for _ in range(4 * len(fields) + 4):
        excess = document_size(data) - max_bytes
        if excess <= 0:
            break
        sizes = [(json_size(c[k]) if isinstance(c.get(k), str) else 0, i)
                 for i, (c, k) in enumerate(fields)]
        size, i = max(sizes, default=(0, -1))
        if size <= 1024:
            break
        container, key = fields[i]
        container[key] = cut_json(container[key], max(1024, size - excess - 256), why)
    return data
