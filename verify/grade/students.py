"""Who the students of a batch are: their names, their shard, their results file's name.

* **Names.** Gradescope's "Download Submissions" export holds one folder per submission
  (``submission_<id>/``) and ``submission_metadata.yml``, which names each folder's submitters::

      submission_123:
        :submitters:
        - :name: Alice Smith
          :sid: '100'
          :email: alice@example.edu
        :created_at: 2024-02-01 10:00:00.000000000 -08:00
        :score: 10.0

  :func:`read_submission_metadata` reads that (a small reader of this shape only: no YAML
  library is needed, and none is trusted with the file), and :func:`student_names` names each
  student after their submitters (``Alice Smith``; a group ``Pair One + Pair Two``; the same
  name twice gets the folder's name added), keeping the folder's name where the metadata has
  none.
* **Shards.** ``--shard K/N`` grades the students whose name hashes to ``K - 1`` modulo ``N``
  (:func:`in_shard`): every student lands in exactly one of the ``N`` shards, whatever the
  machine, the order of the folder or the other students (a late submission moves nobody).
* **File names.** :func:`file_stem` turns a name into one a results file can have.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["METADATA", "Person", "file_stem", "in_shard", "parse_shard",
           "read_submission_metadata", "student_names"]

METADATA = "submission_metadata.yml"
_MAX_METADATA_BYTES = 64 << 20
_KEY = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>'[^']*'|\"[^\"]*\"|:?[^\s:'\"#][^:]*?)"
                  r"\s*:(?:\s+(?P<value>.*?))?\s*$")


@dataclass(frozen=True)
class Person:
    """One submitter, as Gradescope's metadata names them."""

    name: str = ""
    sid: str = ""
    email: str = ""

    @property
    def label(self) -> str:
        return self.name or self.email or self.sid


def _scalar(text: str | None) -> str:
    """A YAML scalar as plain text: quoted ('...' with '' for ', or "..." with escapes) or plain
    (a trailing `` # comment`` dropped)."""
    text = (text or "").strip()
    if text.startswith("'"):
        m = re.match(r"'((?:[^']|'')*)'", text)
        if m:
            return m.group(1).replace("''", "'")
    if text.startswith('"'):
        m = re.match(r'"((?:[^"\\]|\\.)*)"', text)
        if m:
            try:
                value = json.loads(m.group(0))
                return value if isinstance(value, str) else m.group(1)
            except ValueError:
                return m.group(1)
    return re.sub(r"(^|\s+)#.*$", "", text)


def read_submission_metadata(path: Path) -> tuple[dict[str, list[Person]], list[str]]:
    """Folder name -> its submitters, from a Gradescope export's ``submission_metadata.yml``;
    plus warnings. Never raises: what it cannot read is named in a warning and left out."""
    try:
        if path.stat().st_size > _MAX_METADATA_BYTES:
            return {}, [f"{path.name}: larger than {_MAX_METADATA_BYTES >> 20} MiB; not read"]
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return {}, [f"{path.name}: cannot be read ({exc}); students keep their folder names"]
    found: dict[str, list[Person]] = {}
    current: str | None = None
    in_submitters = False
    submitters_indent = 0
    person: dict[str, str] | None = None
    person_indent = 0

    def close_person() -> None:
        nonlocal person
        if person is not None and current is not None:
            found[current].append(Person(person.get("name", ""), person.get("sid", ""),
                                         person.get("email", "")))
        person = None

    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#") or raw.startswith(("---", "...")):
            continue
        m = _KEY.match(raw.replace("\t", "    "))
        if m is None:
            continue  # a line of a value this reader does not need (e.g. a long score history)
        indent = len(m.group("indent"))
        key = _scalar(m.group("key")).lstrip(":")
        value = m.group("value")
        if indent == 0 and not m.group("dash"):
            close_person()
            current, in_submitters = key, False
            found.setdefault(current, [])
            continue
        if current is None:
            continue
        if m.group("dash") and in_submitters and indent >= submitters_indent:
            close_person()
            person, person_indent = {}, indent + len(m.group("dash"))
            person[key] = _scalar(value)
        elif person is not None and indent == person_indent and not m.group("dash"):
            person[key] = _scalar(value)
        elif indent <= submitters_indent or not in_submitters:
            close_person()
            in_submitters = key == "submitters"
            submitters_indent = indent
    close_person()
    people = {k: [p for p in v if p.label] for k, v in found.items()}
    return {k: v for k, v in people.items() if v}, []


def student_names(folder: Path, names: Iterable[str]) -> tuple[dict[str, str], dict[str,
                                                                                  list[Person]],
                                                                list[str]]:
    """For each student ``names`` (their folder names), the name to show: from ``folder``'s
    ``submission_metadata.yml`` where it names their submitters, else their folder's name.
    Returns (folder name -> name, name -> submitters, warnings)."""
    names = list(names)
    meta_path = folder / METADATA
    if not meta_path.is_file():
        return {n: n for n in names}, {}, []
    meta, warnings = read_submission_metadata(meta_path)
    proposed = {n: " + ".join(p.label for p in meta[n]) if n in meta else n for n in names}
    counts: dict[str, int] = {}
    for shown in proposed.values():
        counts[shown] = counts.get(shown, 0) + 1
    renamed: dict[str, str] = {}
    for n, shown in proposed.items():
        if n in meta and (counts[shown] > 1 or shown in names and shown != n):
            shown = f"{shown} ({n})"  # the same name twice: the folder tells them apart
        renamed[n] = shown
    unnamed = [n for n in names if n not in meta and n.startswith("submission_")]
    if unnamed:
        warnings.append(f"{METADATA} names no submitter for {len(unnamed)} folder(s) "
                        f"({', '.join(unnamed[:5])}{' ...' if len(unnamed) > 5 else ''}): "
                        f"they keep their folder names")
    people = {renamed[n]: meta[n] for n in names if n in meta}
    return renamed, people, warnings


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (1 <= K <= N) as ``(K, N)``; ValueError saying what is expected otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--shard must be K/N with 1 <= K <= N (e.g. 1/4: the first of four "
                         f"shards), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def in_shard(name: str, k: int, n: int) -> bool:
    """Whether student ``name`` belongs to shard ``k`` of ``n`` (a hash of the name alone)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1


def file_stem(name: str) -> str:
    """``name`` as the stem of a results file: letters, digits, spaces, ``-_.,@+'()`` and
    backslashes (a name that is not UTF-8, shown escaped: ``b\\udcffob``) kept, anything else
    (``/``, control characters) ``_``; never hidden, never empty, at most 100 characters.
    Different names may share a stem: callers keep stems unique."""
    stem = "".join(c if c.isalnum() or c in " -_.,@+'()\\" else "_" for c in name)
    stem = stem.strip().lstrip(".")[:100].strip()
    return stem or "student"
