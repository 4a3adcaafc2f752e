"""Issue 10: no student code as root, students isolated from each other, the grader survives any
folder.

Every kind of attack in ``tests/submissions/{python,js}/hostile_*`` (each file says what it
tries and what must happen) is graded in both sandboxes, alone and in a batch (``--jobs 2``):
as root here, whose interpreter lives under a mode-700 home (pyenv under /root: the children
get a readable copy of it and a uid of their own); in the fallback also as an ordinary user
(Landlock stands in for a uid of its own); and where a container's seccomp profile refuses
Landlock, seccomp or namespaces (``tests/deny_syscalls.py``): the grader then says what is
missing and refuses where that would be unsafe.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from points import TOTAL
from procs import REPO, denying, grade_cli, ordinary_user, shared_folder, survivors

from verify.grade import Limits, grade_submission
from verify.grade.isolation import UID_POOL, UidLease, remove_tree
from verify.grade.outputs.gradescope import MAX_BYTES, results_dict
from verify.grade.runners.node import NodeRunner
from verify.grade.sandbox import bwrap_unavailable_reason, capabilities

PY = REPO / "tests" / "submissions" / "python"
JS = REPO / "tests" / "submissions" / "js"
NO_BWRAP = bwrap_unavailable_reason()
MODES = ["rlimits", pytest.param("bwrap", marks=pytest.mark.skipif(
    NO_BWRAP is not None, reason=f"bwrap: {NO_BWRAP}"))]
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root: children then get uids of their own")
needs_node = pytest.mark.skipif(NodeRunner().unavailable_reason() is not None,
                                reason=f"Node runner: {NodeRunner().unavailable_reason()}")
ATTACK = Limits(wall_s=10.0, cpu_s=8, disk_bytes=16 << 20)
SECRET = "STUDENT-SECRET-" + "7731"  # in other students' files; hostile_peek_others looks for it


def _copy(source: Path, folder: Path, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / (name or source.name)
    shutil.copyfile(source, dest)
    dest.chmod(0o644)
    return dest


def _grade(source: Path, tmp_path: Path, mode: str, limits: Limits = ATTACK,
           name: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Grade a copy named after this test (so that survivors are its own); the report and the
    results document as written."""
    unique = f"{source.stem}_{mode}_{os.getpid()}{source.suffix}"
    sub = _copy(source, tmp_path / "sub", name or unique)
    report = grade_submission(sub, seed=7, sandbox=mode, limits=limits, fd_check=False)
    data = results_dict(report)
    assert len(json.dumps(data, indent=2).encode()) <= MAX_BYTES
    assert not survivors(sub.name), f"a process of {sub.name} survived"
    return report, data


def _printed(report: Any) -> str:
    return "\n".join(report.notes)


def _own_uid(report: Any) -> None:
    iso = report.isolation
    assert iso["uid"] in UID_POOL, iso  # never root, never the grader's uid
    assert all(p["active"] for p in iso["protections"].values()), iso


# ------------------------------------------------------------------------------ item 1, 9


@needs_root
@pytest.mark.parametrize("mode", MODES)
def test_the_child_can_reach_nothing_of_the_machine_or_the_grader(mode: str,
                                                                  tmp_path: Path) -> None:
    """hostile_root_powers.py: no root files, no request file, no planting in the grader's
    folder, no killing; the grader (this process) survives and gives full marks."""
    before = set((REPO / "verify" / "grade").iterdir())
    report, data = _grade(PY / "hostile_root_powers.py", tmp_path, mode)
    assert "REACHED: nothing" in _printed(report)
    assert data["score"] == TOTAL
    assert set((REPO / "verify" / "grade").iterdir()) == before
    _own_uid(report)
    assert data["extra_data"]["child_uid"] == report.isolation["uid"]
    assert data["extra_data"]["protections"]["user"]["active"] is True


@pytest.mark.parametrize("mode", MODES)
def test_the_graders_environment_and_memory_are_out_of_reach(mode: str, tmp_path: Path) -> None:
    report, data = _grade(PY / "hostile_grader_memory.py", tmp_path, mode)
    assert "READ: nothing" in _printed(report)
    assert data["score"] == TOTAL


@pytest.mark.parametrize("mode", MODES)
def test_other_students_files_are_out_of_reach_of_a_single_grading(mode: str,
                                                                   tmp_path: Path) -> None:
    """The CLI names the submission on its command line: a file beside it is not readable."""
    folder = tmp_path / "course"
    sub = _copy(PY / "hostile_peek_others.py", folder)
    (folder / "bob.py").write_text(f"# {SECRET}\n")
    (folder / "bob.py").chmod(0o644)
    out = subprocess.run(grade_cli(str(sub), "--sandbox", mode, "--no-fd", "--results",
                                   str(tmp_path / "r.json")),
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "FOUND: nothing" in out.stdout and SECRET not in out.stdout
    assert json.loads((tmp_path / "r.json").read_text())["score"] == TOTAL


# ------------------------------------------------------------------------------ items 3, 4, 5, 7


@pytest.mark.parametrize("mode", MODES)
def test_a_fork_bomb_stops_at_the_process_cap(mode: str, tmp_path: Path) -> None:
    report, data = _grade(PY / "hostile_fork_bomb.py", tmp_path, mode)
    forked = int(next(ln for ln in _printed(report).splitlines() if "FORKED:" in ln).split()[-1])
    assert 0 < forked < ATTACK.nproc, forked
    assert data["score"] == TOTAL
    assert data["extra_data"]["protections"]["process_cap"]["active"] is True


@pytest.mark.parametrize("mode", MODES)
def test_temporary_space_is_bounded_and_cleaned(mode: str, tmp_path: Path) -> None:
    report, data = _grade(PY / "hostile_tmp_filler.py", tmp_path, mode)
    text = "\n".join(t.output for t in report.tests)
    assert ("wrote more than the disk limit allows (16 MiB and 10000 files or folders in all"
            in text), text[:500]
    assert data["score"] == 0
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not [n for n in os.listdir(folder) if n.startswith("verify-tmp-filler")], folder


@pytest.mark.parametrize("mode", MODES)
def test_a_process_that_keeps_moving_does_not_outlive_the_grading(mode: str,
                                                                   tmp_path: Path) -> None:
    # Four chains forking as fast as they can: at the branch point they outlived the grading.
    report, data = _grade(PY / "hostile_fork_chain.py", tmp_path, mode)  # asserts no survivor
    assert data["score"] == TOTAL


# ------------------------------------------------------------------------------ JavaScript


class _Listeners:
    """A TCP listener, a UDP socket and an abstract unix socket outside the sandbox, counting
    what reaches them."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.tcp.getsockname()[1]))
        self.name = f"\0verify-test-{os.getpid()}-{id(self)}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(self.name)
        self.unix.listen(4)
        for s, kind in ((self.tcp, "tcp"), (self.unix, "unix")):
            threading.Thread(target=self._accept, args=(s, kind), daemon=True).start()
        self.udp.settimeout(0.05)

    def _accept(self, s: socket.socket, kind: str) -> None:
        try:
            while True:
                s.accept()[0].close()
                self.hits.append(kind)
        except OSError:
            pass

    def close(self) -> list[str]:
        try:
            if self.udp.recv(64):
                self.hits.append("udp")
        except OSError:
            pass
        for s in (self.tcp, self.udp, self.unix):
            s.close()
        return self.hits


@needs_node
@pytest.mark.parametrize("mode", MODES)
def test_js_code_reaches_no_socket_of_the_grader(mode: str, tmp_path: Path) -> None:
    ears = _Listeners()
    source = (JS / "hostile_network.js").read_text()
    aimed = source.replace("const PORT = 47212;", f"const PORT = {ears.tcp.getsockname()[1]};")
    aimed = aimed.replace("const NAME = '\\0verify-js-network-test';",
                          f"const NAME = '\\0{ears.name[1:]}';")
    assert aimed.count(ears.name[1:]) == 1 and str(ears.tcp.getsockname()[1]) in aimed
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hostile_network.js").write_text(aimed)
    try:
        report, data = _grade(tmp_path / "src" / "hostile_network.js", tmp_path, mode)
    finally:
        hits = ears.close()
    assert hits == []
    assert "NET: " in _printed(report) and "CONNECTED" not in _printed(report)
    assert data["score"] == TOTAL


@needs_node
@pytest.mark.parametrize("mode", MODES)
def test_js_code_reads_and_writes_nothing_of_the_machine(mode: str, tmp_path: Path) -> None:
    report, data = _grade(JS / "hostile_secrets.js", tmp_path, mode)
    assert "LOOT: {}" in _printed(report)
    assert data["score"] == TOTAL
    assert not Path("/tmp/verify-js-secrets-planted").exists()
    assert not Path("/dev/shm/verify-js-secrets-planted").exists()
    if ROOT:
        _own_uid(report)


# ------------------------------------------------------------------------------ batch


_REACH = ("root_powers", "peek_others", "fork_chain", "grader_memory", "kill_launcher")
"""The attacks on other students and on the grader."""
_BOUNDS = ("fork_bomb", "tmp_filler", "deep_tree", "huge_error", "forged_flood")
"""The attacks on the machine's resources and on the results."""


_RUN = f"{os.getpid() % 10000:04d}"
"""This test process's mark on what it starts: other tests (pytest -n) and other checkouts may
be grading the same attacks at the same time, and their processes are not this test's
survivors."""
_SLEEP = f"5353.{_RUN}"
"""What hostile_kill_launcher's detached ``sleep`` is called with in these batches."""


def _student(attack: str) -> str:
    """The student name (and file stem) of ``attack`` in :func:`_attack_folder`'s batch."""
    moving = attack in ("fork_chain", "fork_bomb")
    return f"hostile_{attack}_{_RUN}" if moving else f"hostile_{attack}"


_BATCH_TIME = ("--wall-limit", "40", "--load-limit", "30")
"""Room for hostile_deep_tree's 3,000 mkdirs (seconds on a loaded disk) in each of its two
children: these tests are about containment, not speed; nothing in the folder hangs."""


def _attack_folder(folder: Path, *, layouts: bool = True, js: bool = True,
                   bounds: bool = True) -> None:
    """The attacks (``bounds``: also those on resources), two bystanders whose files hold
    :data:`SECRET`, and (``layouts``) a student whose file name is not UTF-8 and one whose
    folder is 1,300 levels deep."""
    # The pair first, so that two workers grade them at the same time.
    _copy(PY / "hostile_publisher.py", folder, "aa_publisher.py")
    _copy(PY / "hostile_copier.py", folder, "ab_copier.py")
    for name in _REACH + (_BOUNDS if bounds else ()):
        dest = _copy(PY / f"hostile_{name}.py", folder, f"{_student(name)}.py")
        dest.write_text(dest.read_text().replace("5353.5353", _SLEEP))
    if js and NodeRunner().unavailable_reason() is None:
        for name in ("network", "secrets", "huge_error"):
            _copy(JS / f"hostile_{name}.js", folder, f"js_{name}.js")
    correct = (PY / "correct_snake_exact.py").read_text() + f"\n# {SECRET}\n"
    for name in ("bystander_a.py", "bystander_b.py"):
        (folder / name).write_text(correct)
    for p in folder.iterdir():
        p.chmod(0o644)
    if layouts:
        (folder / os.fsdecode(b"b\xffob.py")).write_text(correct)
        deep = folder / "deep_student"
        deep.mkdir(mode=0o755)
        (deep / "mlp.py").write_text(correct)
        level = deep
        for _ in range(1300):
            level = level / "d"
            level.mkdir(mode=0o755)
    folder.chmod(0o755)


def _check_batch(folder: Path, out: Path, proc: subprocess.CompletedProcess[str], *,
                 layouts: bool = True, bounds: bool = True) -> dict[str, dict[str, Any]]:
    """What every student of :func:`_attack_folder` must get; their results documents."""
    assert proc.returncode == (3 if layouts else 0), proc.stderr[-3000:]
    # Every student's results document (records/ beside them is the grader's own).
    results = {p.name: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8"))}
    assert set(rows) == {r[:-5] for r in results}  # every student in both, none forged
    assert "hostile_forged" not in results and "hostile_forged.json" not in results

    def score(name: str) -> float:
        return float(results[f"{name}.json"]["score"])

    def printed(name: str) -> str:
        return results[f"{name}.json"]["output"]

    full = ["bystander_a", "bystander_b", "aa_publisher"] + [_student(n) for n in _REACH]
    if bounds:
        full += [_student("fork_bomb"), _student("deep_tree")]
    for name in full:
        assert score(name) == TOTAL, (name, printed(name)[-2000:])
    assert score("ab_copier") == 0 and "COPIED: nothing" in printed("ab_copier")
    assert "FOUND: nothing" in printed("hostile_peek_others")
    assert "REACHED: nothing" in printed("hostile_root_powers")
    assert "READ: nothing" in printed("hostile_grader_memory")
    if bounds:
        assert score("hostile_tmp_filler") == 0 and score("hostile_forged_flood") == 0
    for doc in results.values():
        assert len(json.dumps(doc, indent=2).encode()) <= MAX_BYTES
    assert SECRET not in json.dumps(results)
    if (folder / "js_network.js").exists():
        assert score("js_network") == TOTAL and "CONNECTED" not in printed("js_network")
        assert score("js_secrets") == TOTAL and "LOOT: {}" in printed("js_secrets")
    if layouts:
        assert score("b\\udcffob") == TOTAL and rows["b\\udcffob"]["score"] == f"{TOTAL:g}"
        assert rows["deep_student"]["score"] == "not graded"
        assert "nested more than 16 folders deep" in printed("deep_student")
    for marker in (_student("fork_chain"), _student("fork_bomb"), _SLEEP):
        assert not survivors(marker), marker
    return results


@pytest.mark.parametrize("mode", MODES)
def test_a_batch_of_every_attack(mode: str, tmp_path: Path) -> None:
    """--jobs 2: the attacks run side by side with each other and with two bystanders; every
    student gets their own result, the bystanders and the publisher full marks, the copier 0,
    the 1,300-deep folder a NOT GRADED verdict, the non-UTF-8 name its grade."""
    folder = tmp_path / "course"
    out = tmp_path / "out"
    out.mkdir()
    before = set((REPO / "verify" / "grade").iterdir())
    try:
        _attack_folder(folder)
        proc = subprocess.run(grade_cli(str(folder), "--jobs", "2", "--sandbox", mode, "--no-fd",
                                        *_BATCH_TIME, "--csv", str(out / "grades.csv"),
                                        "--results-dir", str(out / "results")),
                              capture_output=True, text=True, cwd=REPO, timeout=600)
    finally:
        remove_tree(folder / "deep_student")  # pytest's own clean-up would recurse
    results = _check_batch(folder, out, proc)
    assert set((REPO / "verify" / "grade").iterdir()) == before
    assert f"sandbox {mode}, child uids" in proc.stdout
    if ROOT:
        uids = {r["extra_data"]["child_uid"] for r in results.values()
                if r["extra_data"].get("child_uid") is not None}
        assert uids and all(u in UID_POOL for u in uids)


# ------------------------------------------------------------------------------ ordinary user


@pytest.fixture()
def as_user() -> tuple[list[str], dict[str, str]]:
    found = ordinary_user()
    if isinstance(found, str):
        pytest.skip(found)
    return found


def _user_folder(prefix: str) -> Path:
    folder = shared_folder(prefix)
    os.chown(folder, 61001, 61001)
    return folder


@pytest.mark.parametrize("mode", MODES)
def test_as_an_ordinary_user_the_grader_is_out_of_reach(
        mode: str, as_user: tuple[list[str], dict[str, str]]) -> None:
    """Item 9: the child shares the grader's uid; Landlock (fallback) or the namespaces keep
    its environment, memory, processes and files out of reach."""
    if mode == "rlimits" and capabilities().landlock_abi < 6:
        pytest.skip("the fallback as an ordinary user needs Landlock ABI 6 (refused otherwise)")
    argv, env = as_user
    work = _user_folder("verify-test-user-")
    try:
        for name in ("hostile_grader_memory.py", "hostile_root_powers.py"):
            sub = _copy(PY / name, work / "in")
            (work / "in").chmod(0o755)
            proc = subprocess.run([*argv, str(sub), "--sandbox", mode, "--no-fd",
                                   "--results", str(work / "r.json")],
                                  env={**env, "VERIFY_GRADER_CANARY": "1"}, capture_output=True,
                                  text=True, cwd=REPO, timeout=120)
            assert proc.returncode == 0, proc.stderr[-2000:]
            doc = json.loads((work / "r.json").read_text())
            assert doc["score"] == TOTAL, doc["output"]
            assert "READ: nothing" in doc["output"] or "REACHED: nothing" in doc["output"]
            assert doc["extra_data"]["child_uid"] == 61001
            assert doc["extra_data"]["protections"]["user"]["active"] is False
    finally:
        remove_tree(work)


def test_as_an_ordinary_user_a_batch_keeps_students_apart(
        as_user: tuple[list[str], dict[str, str]]) -> None:
    if capabilities().landlock_abi < 6:
        pytest.skip("the fallback as an ordinary user needs Landlock ABI 6 (refused otherwise)")
    argv, env = as_user
    work = _user_folder("verify-test-user-batch-")
    try:
        folder = work / "course"
        folder.mkdir()
        _attack_folder(folder, layouts=False, js=False, bounds=False)
        (work / "out").mkdir()
        os.chown(work / "out", 61001, 61001)
        proc = subprocess.run([*argv, str(folder), "--jobs", "2", "--sandbox", "rlimits",
                               "--no-fd", *_BATCH_TIME, "--csv",
                               str(work / "out" / "grades.csv"),
                               "--results-dir", str(work / "out" / "results")],
                              env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
        _check_batch(folder, work / "out", proc, layouts=False, bounds=False)
    finally:
        remove_tree(work)


def test_as_an_ordinary_user_one_childs_processes_take_no_others_room(
        as_user: tuple[list[str], dict[str, str]]) -> None:
    """Children of the grader's uid share one RLIMIT_NPROC count: run side by side (a
    submission's visible and hidden tests, two students of a batch), one child's processes made
    the other's fork() fail, and a student lost a section for what ran beside it (CI: the fork
    chain's hidden test). 40 processes each fit the cap of 64 one at a time, not two at once."""
    if capabilities().landlock_abi < 6:
        pytest.skip("the fallback as an ordinary user needs Landlock ABI 6 (refused otherwise)")
    argv, env = as_user
    work = _user_folder("verify-test-user-room-")
    try:
        folder = work / "course"
        folder.mkdir()
        for name in ("room_a.py", "room_b.py"):
            _copy(PY / "hostile_process_room.py", folder, name).chmod(0o644)
        folder.chmod(0o755)
        (work / "out").mkdir()
        os.chown(work / "out", 61001, 61001)
        proc = subprocess.run([*argv, str(folder), "--jobs", "2", "--sandbox", "rlimits",
                               "--no-fd", "--csv", str(work / "out" / "grades.csv"),
                               "--results-dir", str(work / "out" / "results")],
                              env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        for name in ("room_a", "room_b"):
            doc = json.loads((work / "out" / "results" / f"{name}.json").read_text())
            failed = [t["output"][:600] for t in doc["tests"] if t["score"] != t["max_score"]]
            assert doc["score"] == TOTAL, (name, failed)
    finally:
        remove_tree(work)


# ------------------------------------------------------------------------------ degraded machines


def _run(argv: list[str], cwd: Path = REPO, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300, **kw)


@needs_root
def test_without_landlock_the_fallback_refuses_what_it_cannot_keep_safe(tmp_path: Path) -> None:
    """A container that refuses Landlock: a single grading is refused while the grader's files
    are readable by every user (they are, in this checkout), a batch always; --unsafe-sandbox
    grades anyway and says what was not active."""
    from verify.grade.isolation import reachable

    sub = _copy(PY / "correct_snake_exact.py", tmp_path)
    # A checkout under a private folder (mktemp -d, mode 700) is the root-only layout, which
    # may grade one submission without Landlock: the next test covers that case.
    if reachable(REPO / "verify" / "grade"):
        proc = _run(denying("landlock", grade_cli(str(sub), "--sandbox", "rlimits",
                                                  "--results", str(tmp_path / "r.json"))))
        assert proc.returncode == 2
        assert "missing Landlock, or grader files that only root can read" in proc.stderr
        assert "chmod -R go-rwx" in proc.stderr
        assert "NOT GRADED" in json.loads((tmp_path / "r.json").read_text())["output"]
    proc = _run(denying("landlock", grade_cli(str(tmp_path), "--sandbox", "rlimits")))
    assert proc.returncode == 2 and "keeps students' children from each other" in proc.stderr
    proc = _run(denying("landlock", grade_cli(str(sub), "--sandbox", "rlimits", "--unsafe-sandbox",
                                              "--no-fd", "--results", str(tmp_path / "r.json"))))
    assert proc.returncode == 0, proc.stderr
    if reachable(REPO / "verify" / "grade"):  # root-only: nothing was missing to warn about
        assert "WARNING (--unsafe-sandbox): missing Landlock" in proc.stderr
    extra = json.loads((tmp_path / "r.json").read_text())["extra_data"]
    assert extra["protections"]["files"]["active"] is False
    assert extra["protections"]["network"]["active"] is True  # seccomp still applied
    assert extra["child_uid"] in UID_POOL  # still never root


@needs_root
def test_without_landlock_a_grader_only_root_can_read_grades_and_cleans_tmp(tmp_path: Path) -> None:
    """As the Gradescope bundle lays it out (the grader root-only, one submission): allowed
    without Landlock; what the child leaves in /tmp is removed."""
    grader = tmp_path / "source"
    for pkg in ("verify", "reference_mlp"):
        shutil.copytree(REPO / pkg, grader / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    shutil.copy(REPO / "pyproject.toml", grader)
    grader.chmod(0o700)
    sub = tmp_path / "submission" / "litter.py"
    sub.parent.mkdir()
    sub.write_text("import os\n"
                   "for d in ('/tmp', '/var/tmp', '/dev/shm'):\n"
                   "    os.makedirs(f'{d}/verify-tmp-filler-{os.getpid()}/a/b')\n"
                   "    open(f'{d}/verify-tmp-filler-{os.getpid()}.bin', 'w').write('x' * 1000)\n"
                   "print('WROTE MiB: all three')\n"
                   + (PY / "correct_snake_exact.py").read_text())
    proc = _run(denying("landlock", [*grade_cli(str(sub), "--sandbox", "rlimits", "--no-fd",
                                                "--results", str(tmp_path / "r.json"))]),
                cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(grader)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["extra_data"]["protections"]["temp_space"]["active"] is False
    assert "WROTE MiB: all three" in doc["output"] and doc["score"] == TOTAL
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not [n for n in os.listdir(folder) if n.startswith("verify-tmp-filler")], folder


def test_without_seccomp_the_fallback_refuses(tmp_path: Path) -> None:
    sub = _copy(PY / "correct_snake_exact.py", tmp_path)
    proc = _run(denying("seccomp", grade_cli(str(sub), "--sandbox", "rlimits")))
    assert proc.returncode == 2
    assert "missing the seccomp filter" in proc.stderr and "libseccomp2" in proc.stderr


def test_without_namespaces_bubblewrap_is_refused_and_auto_picks_the_fallback(
        tmp_path: Path) -> None:
    sub = _copy(PY / "correct_snake_exact.py", tmp_path)
    proc = _run(denying("namespaces", grade_cli(str(sub), "--sandbox", "bwrap")))
    assert proc.returncode == 2 and "--sandbox bwrap is not usable" in proc.stderr
    proc = _run(denying("namespaces", grade_cli(str(sub), "--no-fd")))
    assert proc.returncode == 0 and "sandbox rlimits" in proc.stdout, proc.stderr


def test_as_an_ordinary_user_without_landlock_the_fallback_refuses(
        as_user: tuple[list[str], dict[str, str]]) -> None:
    argv, env = as_user
    work = _user_folder("verify-test-user-nl-")
    try:
        sub = _copy(PY / "correct_snake_exact.py", work)
        proc = _run(denying("landlock", [*argv, str(sub), "--sandbox", "rlimits"]), env=env)
        assert proc.returncode == 2
        assert "missing Landlock ABI 6 or newer" in proc.stderr
        assert "--unsafe-sandbox grades anyway" in proc.stderr
        proc = _run(denying("landlock", [*argv, str(sub), "--sandbox", "rlimits", "--no-fd",
                                         "--unsafe-sandbox"]), env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "WARNING (--unsafe-sandbox)" in proc.stderr and "NOT active: user" in proc.stdout
    finally:
        remove_tree(work)


# ------------------------------------------------------------------------------ --sandbox-info


def test_sandbox_info_probes_each_mode_for_real() -> None:
    """Item 8: what a probe child could do, from inside, in each mode that works here."""
    proc = _run(grade_cli("--sandbox-info"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    modes = ["rlimits"] + (["bwrap"] if NO_BWRAP is None else [])
    for mode in modes:
        assert f"{mode}: a probe child tried, from inside:" in proc.stdout
    for check in ("network", "sockets", "processes", "files", "temp_space", "process_cap",
                  "cleanup"):
        rows = [ln for ln in proc.stdout.splitlines() if ln.startswith(check + " ")]
        assert len(rows) == len(modes) and all(" active " in r for r in rows), rows
    assert "socket() refused" in proc.stdout  # the fallback's filter, seen from inside
    assert "fork failed after" in proc.stdout and "stopped: it wrote more" in proc.stdout


def test_sandbox_info_shows_what_a_container_refuses() -> None:
    proc = _run(denying("seccomp", grade_cli("--sandbox-info", "--sandbox", "rlimits")))
    assert proc.returncode == 2
    assert "REFUSED for untrusted code: missing the seccomp filter" in proc.stdout
    network = next(ln for ln in proc.stdout.splitlines() if ln.startswith("network "))
    assert "NOT ACTIVE" in network  # UDP gets out: seen from inside, not read from settings


# ------------------------------------------------------------------------------ parts


@needs_root
def test_uid_leases_are_unique_and_released() -> None:
    leases = [UidLease() for _ in range(5)]
    uids = {lease.uid for lease in leases}
    assert len(uids) == 5 and all(u in UID_POOL for u in uids)
    for lease in leases:
        lease.release()


def test_remove_tree_handles_depth_and_names(tmp_path: Path) -> None:
    root = tmp_path / "w"
    level = root
    level.mkdir()
    fd = os.open(root, os.O_RDONLY)
    try:  # deeper than PATH_MAX: built with relative paths
        os.mkdir("d", dir_fd=fd)
        cur = os.open("d", os.O_RDONLY, dir_fd=fd)
        for _ in range(2500):
            os.mkdir("dd", dir_fd=cur)
            nxt = os.open("dd", os.O_RDONLY, dir_fd=cur)
            os.close(cur)
            cur = nxt
        with open(os.open(os.fsdecode(b"\xff.bin"), os.O_CREAT | os.O_WRONLY, dir_fd=cur), "w"):
            pass
        os.close(cur)
    finally:
        os.close(fd)
    remove_tree(root)
    assert not root.exists()
    remove_tree(root)  # gone already: nothing to do, no error

