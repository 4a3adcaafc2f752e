"""Where a grading run's seed comes from: the submission's content and the course's secret.

The seed draws every weight and input of the tests (:func:`verify.grade.cases.draw_cases`).
It is ``HMAC-SHA256(secret, "verify-grade/seed/1" + SHA-256(content))``, cut to 32 bits:

* **Stable.** The same file graded by the same bundle (the same secret) always gets the same
  cases, so the same score and the same feedback: Gradescope's "Regrade all", a batch rerun and
  a single grade all agree, byte for byte apart from timings and the child's uid
  (``extra_data.child_uid``: taken from a pool, so it differs run to run).
* **Fresh where it matters.** Any change to the file, even a comment, draws new cases. A
  student who copies expected values out of their feedback into their code has changed the
  code, and so the inputs the values belonged to; hidden tests never show values at all.
* **Unpredictable without the secret.** The secret is made when the bundle is built
  (``grading_secret``, readable by root only on the grading image, never mounted into the
  sandbox), so a student cannot compute their inputs in advance and tune to them. Without a
  secret (a plain local ``python -m verify grade``) the seed depends on the content alone:
  reproducible by anyone with this tool, which is right for one's own checks and wrong for a
  course, where the bundle always has one.

``--seed N`` still overrides everything (reproducing a run, tests).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

__all__ = ["ENV_SECRET_FILE", "SECRET_BYTES", "derive_seed", "load_secret", "new_secret"]

ENV_SECRET_FILE = "VERIFY_GRADE_SECRET_FILE"
"""Environment variable naming the secret file (``--secret-file`` wins over it)."""
SECRET_BYTES = 32
_DOMAIN = b"verify-grade/seed/1\0"


def new_secret() -> str:
    """A fresh secret, as the text of a secret file (64 hex digits)."""
    return secrets.token_hex(SECRET_BYTES)


def load_secret(path: str | os.PathLike[str] | None = None) -> bytes:
    """The secret in ``path`` (or ``$VERIFY_GRADE_SECRET_FILE``), or ``b""`` when neither is
    given. ValueError when the file is unreadable or too short to be a secret."""
    path = path if path is not None else os.environ.get(ENV_SECRET_FILE) or None
    if path is None:
        return b""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"secret file {path}: cannot be read ({exc})") from None
    if len(text) < 32:
        raise ValueError(f"secret file {path}: expected at least 32 characters (e.g. the 64 hex "
                         f"digits that `python -m verify grade bundle` writes), got {len(text)}")
    return text.encode("ascii")


def derive_seed(contents: bytes | Iterable[tuple[str, bytes]], secret: bytes = b"") -> int:
    """The seed for a submission whose file content is ``contents`` (or whose files are
    ``(name, content)`` pairs: names count too, so renaming a helper module changes it)."""
    digest = hashlib.sha256()
    if isinstance(contents, bytes):
        digest.update(contents)
    else:
        for name, data in sorted(contents):
            for part in (name.encode("utf-8", "surrogateescape"), data):
                digest.update(len(part).to_bytes(8, "big"))
                digest.update(part)
    mac = hmac.new(secret, _DOMAIN + digest.digest(), hashlib.sha256).digest()
    return int.from_bytes(mac[:4], "big")
