"""Seeds from the file's content and the course's secret (verify/grade/seeding.py): the same
file gets the same grade and feedback, byte for byte, however often it is graded."""

from __future__ import annotations

import difflib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from verify.grade import grade_submission
from verify.grade.batch import grade_folder
from verify.grade.bundle import build_bundle
from verify.grade.outputs.gradescope import results_dict
from verify.grade.seeding import ENV_SECRET_FILE, derive_seed, load_secret, new_secret

CORPUS = Path(__file__).parent / "submissions" / "python"
# Its score depends on the drawn numbers (38.29 to 40.29 across seeds, measured).
SEED_SENSITIVE = CORPUS / "buggy_missing_activation_derivative.py"


def _stable(report) -> str:  # noqa: ANN001
    data = results_dict(report)
    data["extra_data"].pop("execution_time")
    data["extra_data"].pop("child_uid")  # machine facts, like the time: not feedback
    return json.dumps(data, sort_keys=True)


def test_the_seed_is_a_function_of_content_and_secret() -> None:
    code = SEED_SENSITIVE.read_bytes()
    assert derive_seed(code) == derive_seed(code)
    assert derive_seed(code + b"\n# a comment") != derive_seed(code)
    assert derive_seed(code, b"s" * 64) != derive_seed(code) != derive_seed(code, b"t" * 64)
    assert 0 <= derive_seed(code) < 2**32
    files = [("mlp.py", code), ("helpers.py", b"x = 1\n")]
    assert derive_seed(files) == derive_seed(list(reversed(files)))  # order does not matter
    assert derive_seed(files) != derive_seed([("mlp.py", code), ("util.py", b"x = 1\n")])


def test_a_regrade_gives_the_same_score_and_feedback_byte_for_byte(tmp_path: Path) -> None:
    secret = new_secret().encode()
    first = grade_submission(SEED_SENSITIVE, secret=secret)
    again = grade_submission(SEED_SENSITIVE, secret=secret)
    assert first.seed == again.seed and first.seed_source == "content+secret"
    assert _stable(first) == _stable(again)
    # A batch run gives every student the grade a single run gives them.
    shutil.copy(SEED_SENSITIVE, tmp_path / "alice.py")
    single = grade_submission(tmp_path / "alice.py", secret=secret)
    batch = grade_folder(tmp_path, jobs=1, secret=secret, progress=False)
    assert _stable(batch.reports["alice"]) == _stable(single)
    # Another secret (another bundle) draws other numbers.
    assert grade_submission(SEED_SENSITIVE, secret=new_secret().encode()).seed != first.seed


def test_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_secret(None) == b""
    good = tmp_path / "secret"
    good.write_text(new_secret() + "\n")
    assert len(load_secret(good)) == 64
    monkeypatch.setenv(ENV_SECRET_FILE, str(good))
    assert load_secret(None) == load_secret(good)
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ValueError, match="expected at least 32 characters"):
        load_secret(short)
    with pytest.raises(ValueError, match="cannot be read"):
        load_secret(tmp_path / "missing")


def test_each_bundle_ships_its_own_secret_and_uses_it(tmp_path: Path) -> None:
    secrets = []
    for i in range(2):
        out = build_bundle(tmp_path / f"b{i}.zip")
        with zipfile.ZipFile(out) as zf:
            secrets.append(zf.read("grading_secret").decode().strip())
            run = zf.read("run_autograder").decode()
        assert "--secret-file /autograder/source/grading_secret" in run
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in secrets) and secrets[0] != secrets[1]


def test_a_regrade_in_another_process_is_the_same_byte_for_byte() -> None:
    """Another process hashes strings differently (PYTHONHASHSEED): the likely causes named
    (Gradescope's tags) came out in another order before the cover was made deterministic.
    Timings and the uid the child ran as (from a pool) are the only fields allowed to differ."""
    import os
    import subprocess
    import sys

    code = ("import json, sys; from verify.grade import grade_submission; "
            "from verify.grade.outputs.gradescope import results_dict; "
            "d = results_dict(grade_submission(sys.argv[1], seed=7, fd_check=False)); "
            "d['extra_data'].pop('execution_time'); d['extra_data'].pop('child_uid', None); "
            "print(json.dumps(d, sort_keys=True))")
    runs = [subprocess.run([sys.executable, "-c", code, str(CORPUS / "buggy_bias_averaged.py")],
                           env={**os.environ, "PYTHONHASHSEED": str(h)}, capture_output=True,
                           text=True, check=True).stdout for h in (1, 2, 3)]
    for other in runs[1:]:  # the lines that differ, not two 5,000-character lines
        diff = difflib.unified_diff(
            json.dumps(json.loads(runs[0]), indent=1, sort_keys=True).splitlines(),
            json.dumps(json.loads(other), indent=1, sort_keys=True).splitlines(), lineterm="")
        assert other == runs[0], "\n".join(diff)
    assert "bias_averaged@1" in runs[0]
