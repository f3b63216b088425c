"""The progress store: where it lives, atomic writes, a corrupt or unusable file, kernels writing at once,
reset, the dashboard, and a first-attempt score that survives a restart (a new process)."""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import progress, quiz
from course_lib.quiz_bank import load_bank

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(monkeypatch, tmp_path) -> Path:
    """A private progress file for the test (its folder does not exist yet)."""
    path = tmp_path / "data" / "progress.json"
    monkeypatch.setenv(progress.ENV_VAR, str(path))
    monkeypatch.setattr(progress, "_SAID", set())
    quiz.reset_scores()
    yield path
    quiz.reset_scores()


def _one_line(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    assert "Traceback" not in out
    return lines[0]


# --------------------------------------------------------------------------------------------- location

def test_location_default_env_and_off(monkeypatch, tmp_path):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert progress.store_path() == tmp_path / "xdg" / "actor-critic-to-ppo" / "progress.json"
    monkeypatch.setenv(progress.ENV_VAR, str(tmp_path / "mine.json"))
    assert progress.store_path() == tmp_path / "mine.json"
    monkeypatch.setenv(progress.ENV_VAR, "off")
    assert progress.store_path() is None
    progress.record_hint("01.x", 2)                       # kept in memory, nothing written
    assert progress.load()["hints"] == {"01.x": 2}
    assert not list(tmp_path.rglob("*.json"))


def test_tests_never_use_the_real_store():
    """tests/conftest.py points every test (and every kernel started from the tests) at a temporary file."""
    path = Path(os.environ[progress.ENV_VAR])
    assert Path.home() / ".local" not in path.parents and "course-progress-test-" in str(path)


# --------------------------------------------------------------------------------------------- records

def test_records_quiz_exercise_and_hint(store):
    assert progress.quiz_record("01.a") is None
    rec = progress.record_quiz("01.a", False, 0.0, 2.0)
    assert rec == {"attempts": 1, "wrong": 1, "first_points": 0.0, "max_points": 2.0, "solved": False}
    rec = progress.record_quiz("01.a", True, 2.0, 2.0)
    assert rec["attempts"] == 2 and rec["first_points"] == 0.0 and rec["solved"]   # first attempt decides
    progress.record_exercise("01.ex", False)
    progress.record_exercise("01.ex", True)
    progress.record_exercise("01.ex", False)               # once passed, stays passed
    progress.record_hint("01.ex", 2)
    progress.record_hint("01.ex", 1)                       # the highest level opened is kept
    data = json.loads(store.read_text())
    assert data["exercises"] == {"01.ex": {"attempts": 3, "passed": True}} and data["hints"] == {"01.ex": 2}
    assert data["version"] == 1 and progress.load() == data


def test_write_is_atomic(store, monkeypatch):
    """A write goes to a temporary file in the same folder and is moved into place; if the move fails, the
    old file is intact and no temporary file is left behind."""
    progress.record_quiz("01.a", True, 1.0, 1.0)
    before = store.read_bytes()
    moves = []
    real_replace = os.replace

    def failing_replace(src, dst):
        moves.append((Path(src), Path(dst)))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(progress.os, "replace", failing_replace)
    progress.record_quiz("01.b", True, 1.0, 1.0)           # falls back to memory, with one line
    assert moves and moves[0][1] == store and moves[0][0].parent == store.parent and moves[0][0] != store
    assert store.read_bytes() == before
    assert [p.name for p in store.parent.iterdir()] in (["progress.json", "progress.json.lock"],
                                                        ["progress.json.lock", "progress.json"])
    monkeypatch.setattr(progress.os, "replace", real_replace)


def test_write_failure_gives_one_line_and_keeps_going(store, monkeypatch, capsys):
    monkeypatch.setattr(progress.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "disk full")))
    progress.record_quiz("01.a", True, 1.0, 1.0)
    line = _one_line(capsys.readouterr().out)
    assert "cannot be saved" in line and progress.ENV_VAR in line
    assert progress.quiz_record("01.a")["solved"]          # remembered in memory for this session


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe garbage", b'{"version": 1}', b"[]",
                                     b'{"version": 1, "quizzes": {"01.a": 3}, "exercises": {}, "hints": {}}'])
def test_corrupt_file_is_kept_aside_and_a_fresh_record_starts(store, capsys, content):
    store.parent.mkdir(parents=True)
    store.write_bytes(content)
    progress.record_quiz("01.a", True, 1.0, 1.0)
    line = _one_line(capsys.readouterr().out)
    backups = sorted(store.parent.glob("progress.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == content
    assert backups[0].name in line and "fresh record" in line
    assert progress.load()["quizzes"] == {"01.a": {"attempts": 1, "wrong": 0, "first_points": 1.0,
                                                   "max_points": 1.0, "solved": True}}


def test_a_second_corruption_never_overwrites_the_first_backup(store, capsys):
    store.parent.mkdir(parents=True)
    for n, junk in enumerate([b"first junk", b"second junk", b"third junk"]):
        store.write_bytes(junk)
        progress._SAID.clear()
        progress.load()
        assert len(list(store.parent.glob("progress.json.corrupt-*"))) == n + 1
    kept = {p.read_bytes() for p in store.parent.glob("progress.json.corrupt-*")}
    assert kept == {b"first junk", b"second junk", b"third junk"}
    capsys.readouterr()


def test_unreadable_store_is_kept_aside(store, capsys):
    store.mkdir(parents=True)                              # a folder where the file should be: cannot be read
    (store / "inside.txt").write_text("keep me")
    assert progress.load()["quizzes"] == {}
    line = _one_line(capsys.readouterr().out)
    assert "cannot be read" in line and "fresh record" in line
    backup = next(store.parent.glob("progress.json.corrupt-*"))
    assert (backup / "inside.txt").read_text() == "keep me"


def test_unwritable_folder_gives_one_line_and_memory(monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv(progress.ENV_VAR, str(blocker / "progress.json"))
    monkeypatch.setattr(progress, "_SAID", set())
    monkeypatch.setattr(progress, "_MEMORY", {})
    progress.record_quiz("01.a", True, 1.0, 1.0)
    progress.record_quiz("01.a", True, 1.0, 1.0)
    line = _one_line(capsys.readouterr().out)               # said once, not at every answer
    assert "cannot be saved" in line and progress.ENV_VAR in line
    assert progress.quiz_record("01.a")["attempts"] == 2


# --------------------------------------------------------------------------------------------- concurrency

def _hammer(path: str, worker: int, n: int) -> None:
    os.environ[progress.ENV_VAR] = path
    for i in range(n):
        progress.record_quiz("01.shared", i % 2 == 0, 1.0, 1.0)
        progress.record_quiz(f"01.own_{worker}", True, 1.0, 1.0)
        progress.record_exercise("01.ex", False)


def test_kernels_writing_at_once_lose_nothing(store):
    workers, n = 4, 40
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(store), w, n)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers
    data = json.loads(store.read_text())
    assert data["quizzes"]["01.shared"]["attempts"] == workers * n
    assert data["quizzes"]["01.shared"]["wrong"] == workers * n // 2
    assert all(data["quizzes"][f"01.own_{w}"]["attempts"] == n for w in range(workers))
    assert data["exercises"]["01.ex"]["attempts"] == workers * n
    assert not list(store.parent.glob("*.tmp")) and not list(store.parent.glob("*corrupt*"))


# --------------------------------------------------------------------------------------------- reset

def test_reset_one_notebook_or_all_after_confirmation(store, monkeypatch, capsys):
    for qid in ("01.a", "02.b"):
        progress.record_quiz(qid, True, 1.0, 1.0)
    progress.record_exercise("01.ex", True)
    progress.record_hint("02.ex", 1)

    def no_stdin(prompt=""):
        raise EOFError
    monkeypatch.setattr("builtins.input", no_stdin)
    assert progress.reset("01") is False                    # no way to ask: nothing cleared, says how
    assert "confirm=True" in capsys.readouterr().out and progress.quiz_record("01.a")

    monkeypatch.setattr("builtins.input", lambda prompt="": "no")
    assert progress.reset() is False and progress.quiz_record("02.b")

    monkeypatch.setattr("builtins.input", lambda prompt="": "yes")
    assert progress.reset("01_actor_critic_basics") is True
    data = progress.load()
    assert set(data["quizzes"]) == {"02.b"} and data["exercises"] == {} and data["hints"] == {"02.ex": 1}

    assert progress.reset(confirm=True) is True
    assert progress.load() == progress._empty()
    assert progress.reset("banana", confirm=True) is False
    assert "Cannot reset: notebook must be a notebook number" in capsys.readouterr().out


def test_reset_also_forgets_the_hint_levels_held_in_this_kernel(store):
    from course_lib import exercises
    from course_lib.exercises import hints
    first, other = exercises.list_exercises("01")[0], exercises.list_exercises("02")[0]
    saved = dict(hints.HINT_LEVELS), set(hints.SOLUTIONS_SHOWN)
    try:
        hints.HINT_LEVELS.update({first.id: 2, other.id: 1})
        hints.SOLUTIONS_SHOWN.update({first.id, other.id})
        assert progress.reset("01", confirm=True) is True
        assert first.id not in hints.HINT_LEVELS and first.id not in hints.SOLUTIONS_SHOWN
        assert hints.HINT_LEVELS[other.id] == 1 and other.id in hints.SOLUTIONS_SHOWN   # other notebooks kept
        assert hints.reveal_next(first) == (1, False)      # the ladder starts again at its first level
        assert progress.reset(confirm=True) is True
        assert hints.HINT_LEVELS == {} and hints.SOLUTIONS_SHOWN == set()
    finally:
        hints.HINT_LEVELS.clear(); hints.HINT_LEVELS.update(saved[0])
        hints.SOLUTIONS_SHOWN.clear(); hints.SOLUTIONS_SHOWN.update(saved[1])


# --------------------------------------------------------------------------------------------- dashboard

def test_dashboard_counts_and_text_fallback(store):
    bank = load_bank()
    nb01 = [q for q in bank.values() if q.number == "01"]
    first, second = nb01[0], nb01[1]
    right = next(c.id for c in first.choices if c.correct)
    wrong = next(c.id for c in second.choices if not c.correct)
    quiz.check_answer(first.id, right)
    quiz.check_answer(second.id, wrong)
    progress.record_exercise("01.detach_critic", True)
    progress.record_hint("01.detach_critic", 2)
    rows = {r.notebook: r for r in progress.summary()}
    r = rows["01"]
    assert (r.tried, r.solved, r.first_points, r.passed, r.hints) == (2, 1, first.points, 1, 2)
    assert r.questions == len(nb01) and r.max_points == sum(q.points for q in nb01) and r.exercises >= 1
    assert rows["02"].tried == 0 and set(rows) >= {"01", "02", "03", "04", "05", "06", "07"}
    dash = progress.Dashboard()
    bundle = dash._repr_mimebundle_()
    text, page = bundle["text/plain"], bundle["text/html"]
    assert text.startswith("Your progress in the course") and "First-attempt score" in text
    assert "01_actor_critic_basics" in text and f"2 / {len(nb01)}" in text and str(store) in text
    assert "<table" in page and "<caption" in page and 'scope="col"' in page and "01_actor_critic_basics" in page
    assert max(len(line) for line in text.splitlines() if str(store) not in line) <= 100


def test_show_outside_ipython_prints_the_table(store, capsys):
    progress.show()
    assert capsys.readouterr().out.startswith("Your progress in the course")


# --------------------------------------------------------------------------------------------- restart

_ANSWER = """
from course_lib import quiz
quiz.check("01.td_error_terminal", {answer})
"""
_READ = """
from course_lib import progress, quiz
print("SCORE", quiz.score("01").points, quiz.score("01").attempts)
progress.show()
"""


def _python(code: str, store: Path) -> str:
    env = {**os.environ, progress.ENV_VAR: str(store)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_first_attempt_score_survives_a_restart(store):
    q = load_bank()["01.td_error_terminal"]
    out = _python(_ANSWER.format(answer=q.answer), store)          # kernel 1: right first time
    assert "attempt 1: Correct." in out
    out = _python(_ANSWER.format(answer=q.answer + 10), store)     # kernel 2: a later wrong answer
    assert "attempt 2: Not quite." in out
    out = _python(_READ, store)                                    # kernel 3 only reads
    assert f"SCORE {q.points} {{'01.td_error_terminal': 2}}" in out
    assert "Your progress in the course" in out and f"{q.points:g} / " in out


# --------------------------------------------------------------------------------------------- exercises

def test_exercise_checks_and_hints_are_saved(store, capsys, monkeypatch):
    from course_lib import exercises
    from course_lib.exercises import hints
    from course_lib.exercises.cells import exec_cell

    monkeypatch.setattr(hints, "HINT_LEVELS", {})          # this kernel has opened no hint yet

    ex = exercises.list_exercises("01")[0]
    buggy = exec_cell(ex.starter, ex.func_name)
    assert not exercises.check(ex.id, buggy, quiet=True).passed
    exercises.hint(ex.id)
    exercises.hint(ex.id)
    assert exercises.check(ex.id, ex.reference_function, quiet=True).passed
    data = progress.load()
    assert data["exercises"][ex.id] == {"attempts": 2, "passed": True}
    assert data["hints"][ex.id] == min(2, len(ex.hints)) == exercises.hints_used()[ex.id]
    row = next(r for r in progress.summary() if r.notebook == "01")
    assert row.passed == 1 and row.hints == data["hints"][ex.id]
    capsys.readouterr()
