"""Who the students of a batch are (verify/grade/students.py): names from Gradescope's
submission_metadata.yml, shards that cover everyone exactly once, safe file names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verify.grade.students import (
    Person,
    file_stem,
    in_shard,
    parse_shard,
    read_submission_metadata,
    student_names,
)

# The shape of Gradescope's export (Ruby-symbol keys, quoted sids, a group submission, a score
# history whose list items must not be taken for submitters).
METADATA = """\
---
submission_101:
  :submitters:
  - :name: Alice Smith
    :sid: '100'
    :email: alice@example.edu
  :created_at: 2024-02-01 10:00:00.000000000 -08:00
  :score: 10.0
  :history:
  - :id: 7
    :name: not a submitter
submission_102:
  :submitters:
  - :name: "Ren\\u00e9 O'Brien: Jr"
    :sid: '101'
    :email: rene@example.edu
  - :name: 'Pat ''P'' Lee'  # a comment
    :sid: '102'
    :email: pat@example.edu
  :score: 7.5
submission_103:
  :submitters:
    - :email: noname@example.edu
      :sid: '103'
submission_104:
  :submitters:
  - :name: Alice Smith
    :sid: '104'
    :email: alice2@example.edu
"""


def test_the_metadata_names_each_folders_submitters(tmp_path: Path) -> None:
    path = tmp_path / "submission_metadata.yml"
    path.write_text(METADATA)
    meta, warnings = read_submission_metadata(path)
    assert warnings == []
    assert meta["submission_101"] == [Person("Alice Smith", "100", "alice@example.edu")]
    assert meta["submission_102"] == [Person("René O'Brien: Jr", "101", "rene@example.edu"),
                                      Person("Pat 'P' Lee", "102", "pat@example.edu")]
    assert meta["submission_103"] == [Person("", "103", "noname@example.edu")]


def test_students_are_named_after_their_submitters(tmp_path: Path) -> None:
    (tmp_path / "submission_metadata.yml").write_text(METADATA)
    folders = ["submission_101", "submission_102", "submission_103", "submission_104",
               "submission_999", "carol"]
    names, people, warnings = student_names(tmp_path, folders)
    assert names == {
        "submission_101": "Alice Smith (submission_101)",  # two Alice Smiths: told apart
        "submission_102": "René O'Brien: Jr + Pat 'P' Lee",
        "submission_103": "noname@example.edu",
        "submission_104": "Alice Smith (submission_104)",
        "submission_999": "submission_999",
        "carol": "carol",
    }
    assert people["René O'Brien: Jr + Pat 'P' Lee"][1].sid == "102"
    assert warnings == ["submission_metadata.yml names no submitter for 1 folder(s) "
                        "(submission_999): they keep their folder names"]
    no_meta = tmp_path / "plain"
    no_meta.mkdir()
    assert student_names(no_meta, ["a", "b"]) == ({"a": "a", "b": "b"}, {}, [])


@pytest.mark.parametrize("text", ["", "\x00\x01", "submission_1: [1, 2", ":\n  - - - :\n",
                                  "a:\n  :submitters: oops\n  - :name:\n"])
def test_a_malformed_metadata_file_never_raises(tmp_path: Path, text: str) -> None:
    path = tmp_path / "submission_metadata.yml"
    path.write_text(text)
    meta, _ = read_submission_metadata(path)
    assert all(isinstance(v, list) for v in meta.values())
    assert read_submission_metadata(tmp_path / "missing.yml")[1][0].startswith(
        "missing.yml: cannot be read")


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=60, unique=True),
       st.integers(1, 9))
def test_shards_cover_every_student_exactly_once(names: list[str], n: int) -> None:
    owners = {name: [k for k in range(1, n + 1) if in_shard(name, k, n)] for name in names}
    assert all(len(ks) == 1 for ks in owners.values())


def test_shards_are_balanced_and_stable() -> None:
    names = [f"submission_{i}" for i in range(2000)]
    sizes = [sum(in_shard(name, k, 8) for name in names) for k in range(1, 9)]
    assert sum(sizes) == 2000 and min(sizes) > 2000 / 8 * 0.8, sizes
    # A late submission moves nobody: membership depends on the name alone.
    assert [in_shard("submission_5", k, 8) for k in range(1, 9)] == \
        [in_shard("submission_5", k, 8) for k in range(1, 9)]


@pytest.mark.parametrize(("text", "expected"), [("1/4", (1, 4)), (" 4 / 4 ", (4, 4)),
                                                ("1/1", (1, 1))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "2", "-1/3", ""])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--shard must be K/N with 1 <= K <= N"):
        parse_shard(text)


def test_file_stems_are_safe() -> None:
    assert file_stem("Alice Smith") == "Alice Smith"
    assert file_stem("René O'Brien + Pat") == "René O'Brien + Pat"
    assert file_stem("../../etc/passwd") == "_.._etc_passwd"
    assert file_stem("a/b\x00c\nd") == "a_b_c_d"
    assert file_stem("...") == "student" and file_stem("") == "student"
    assert len(file_stem("x" * 500)) == 100
