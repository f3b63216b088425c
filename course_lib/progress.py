"""Your progress through the course, kept on disk so it survives a kernel restart.

In a notebook::

    from course_lib import progress
    progress.show()                    # a table: per notebook questions tried/solved, first-attempt score,
                                       # exercises passed, hints used
    progress.reset("03", confirm=True) # forget notebook 03 (without confirm=True it asks first)
    progress.reset(confirm=True)       # forget everything

What is recorded: every quiz answer (widget Submit, ``quiz.check`` and ``quiz.check_answer``: attempts, the
points of the *first* attempt, solved or not), every ``exercises.check`` result (attempts, passed) and the
highest hint level opened with ``exercises.hint``. Nothing else, and nothing leaves your machine.

Where it is kept (one small JSON file per user):

- ``$COURSE_PROGRESS_FILE`` if that environment variable is set (the tests point it at a temporary folder;
  ``COURSE_PROGRESS_FILE=off`` keeps progress in memory only, for that process);
- otherwise ``$XDG_DATA_HOME/actor-critic-to-ppo/progress.json``, i.e. by default
  ``~/.local/share/actor-critic-to-ppo/progress.json`` on Linux,
  ``~/Library/Application Support/actor-critic-to-ppo/progress.json`` on macOS and
  ``%APPDATA%\\actor-critic-to-ppo\\progress.json`` on Windows.

Safety: every change is a read-modify-write under an exclusive lock on ``progress.json.lock`` (so several
kernels answering at the same moment lose nothing), written to a temporary file in the same folder and moved
into place with ``os.replace`` (so a crash never leaves half a file). A file that cannot be read as a progress
record is renamed to ``progress.json.corrupt-<date>-<time>[-n]`` (an earlier backup is never overwritten), a
one-line message says so, and a fresh record starts. If the folder cannot be written, a one-line message says
so and progress is kept in memory for the rest of the session.
"""
from __future__ import annotations

import contextlib
import html
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["ENV_VAR", "store_path", "load", "record_quiz", "record_exercise", "record_hint", "quiz_record",
           "summary", "show", "reset", "NotebookProgress", "Dashboard"]

ENV_VAR = "COURSE_PROGRESS_FILE"
APP_DIR = "actor-critic-to-ppo"
VERSION = 1
_OFF = {"off", "none", "memory"}

try:  # POSIX advisory locks; on Windows msvcrt's byte-range lock does the same job
    import fcntl
except ImportError:  # pragma: no cover - exercised on Windows only
    fcntl = None
    import msvcrt


# --------------------------------------------------------------------------------------------- location

def store_path() -> Path | None:
    """The progress file in use now (read from the environment at every call); None when it is ``off``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return None if env.lower() in _OFF else Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / APP_DIR / "progress.json"


def _empty() -> dict[str, Any]:
    return {"version": VERSION, "quizzes": {}, "exercises": {}, "hints": {}}


# progress kept in memory: for COURSE_PROGRESS_FILE=off, or for a file whose folder cannot be written
_MEMORY: dict[str, dict[str, Any]] = {}
_SAID: set[str] = set()          # one-line messages already printed in this process (say each once)


def _say(message: str) -> None:
    if message not in _SAID:
        _SAID.add(message)
        print(message)


# --------------------------------------------------------------------------------------------- the file

def _valid(data: Any) -> bool:
    """True when ``data`` has the shape of a progress record (version 1)."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return False
    if not all(isinstance(data.get(k), dict) for k in ("quizzes", "exercises", "hints")):
        return False
    quiz_ok = all(isinstance(r, dict) and isinstance(r.get("attempts"), int) for r in data["quizzes"].values())
    ex_ok = all(isinstance(r, dict) and isinstance(r.get("attempts"), int) for r in data["exercises"].values())
    hints_ok = all(isinstance(v, int) and not isinstance(v, bool) for v in data["hints"].values())
    return quiz_ok and ex_ok and hints_ok


def _backup_name(path: Path) -> Path:
    """A backup name next to ``path`` that does not exist yet (an earlier backup is never overwritten)."""
    stem = f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate, n = path.with_name(stem), 1
    while candidate.exists():
        candidate, n = path.with_name(f"{stem}-{n}"), n + 1
    return candidate


def _read(path: Path) -> dict[str, Any]:
    """Read the record (the caller holds the lock). Missing file: a fresh record. Unreadable or malformed
    file: kept aside as a backup, one line printed, a fresh record."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _empty()
    except OSError as err:
        problem = f"it cannot be read ({type(err).__name__}: {err.strerror or err})"
    else:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
        if _valid(data):
            return data
        problem = "it is not a valid progress record"
    try:
        backup = _backup_name(path)
        os.replace(path, backup)
    except OSError as err:
        raise _Unwritable(f"Course progress: {path} could not be used ({problem}) nor moved aside "
                          f"({err.strerror or err}); set {ENV_VAR} to a file in a folder you can write.")
    _say(f"Course progress: {path} could not be used ({problem}); kept it as {backup.name} and started a "
         "fresh record.")
    return _empty()


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, flushed to disk, then ``os.replace``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _Unwritable(Exception):
    """The progress file's folder cannot be used; the message says what to do."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (blocks until other kernels have finished their update)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path.with_name(path.name + ".lock"), "a+b")
    except OSError as err:
        raise _Unwritable(f"Course progress cannot be saved in {path.parent} ({err.strerror or err}); it is "
                          f"kept in memory for this session. Set {ENV_VAR} to a file in a folder you can "
                          "write.") from None
    with fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        else:  # pragma: no cover
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            else:  # pragma: no cover
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)


def _transaction(change: Callable[[dict[str, Any]], Any] | None = None) -> tuple[dict[str, Any], Any]:
    """Read the record, apply ``change`` (which edits it in place and may return a value), write it back.

    Returns (record after the change, change's return value). Problems with the file never raise: they
    print one line and fall back to memory.
    """
    path = store_path()
    key = str(path)
    if path is not None and key not in _MEMORY:
        try:
            with _locked(path):
                data = _read(path)
                value = change(data) if change is not None else None
                if change is not None:
                    _write(path, data)
                return data, value
        except _Unwritable as err:
            _say(str(err))
            _MEMORY[key] = _empty()
        except OSError as err:
            _say(f"Course progress cannot be saved to {path} ({err.strerror or err}); it is kept in memory "
                 f"for this session. Set {ENV_VAR} to a file in a folder you can write.")
            _MEMORY[key] = _empty()
    data = _MEMORY.setdefault(key, _empty())
    value = change(data) if change is not None else None
    return data, value


def load() -> dict[str, Any]:
    """The whole record as a dict: ``{"version", "quizzes", "exercises", "hints"}`` (a copy)."""
    return json.loads(json.dumps(_transaction()[0]))


# --------------------------------------------------------------------------------------------- recording

def record_quiz(qid: str, correct: bool, points: float, max_points: float) -> dict[str, Any]:
    """Count one answer to question ``qid``; returns its record after the update.

    The record: ``attempts`` (answers so far, this one included), ``wrong`` (wrong answers so far),
    ``first_points`` (points of the first answer; later answers never change it), ``max_points``, ``solved``.
    """
    def change(data):
        rec = data["quizzes"].setdefault(qid, {"attempts": 0, "wrong": 0, "first_points": float(points),
                                               "solved": False})
        rec["attempts"] += 1
        rec["wrong"] = rec.get("wrong", 0) + (0 if correct else 1)
        rec["max_points"] = float(max_points)
        rec["solved"] = bool(rec.get("solved")) or bool(correct)
        return dict(rec)
    return _transaction(change)[1]


def record_exercise(exercise_id: str, passed: bool) -> None:
    """Count one ``exercises.check`` of ``exercise_id``; an exercise stays passed once it has passed."""
    def change(data):
        rec = data["exercises"].setdefault(exercise_id, {"attempts": 0, "passed": False})
        rec["attempts"] += 1
        rec["passed"] = bool(rec.get("passed")) or bool(passed)
    _transaction(change)


def record_hint(exercise_id: str, level: int) -> None:
    """Remember that hint ``level`` (1, 2, ...) of ``exercise_id`` was opened; the highest level is kept."""
    def change(data):
        data["hints"][exercise_id] = max(int(level), data["hints"].get(exercise_id, 0))
    _transaction(change)


def quiz_record(qid: str) -> dict[str, Any] | None:
    """The saved record of question ``qid`` (see :func:`record_quiz`), or None if it was never answered."""
    rec = _transaction()[0]["quizzes"].get(qid)
    return dict(rec) if rec is not None else None


# --------------------------------------------------------------------------------------------- reset

def _notebook_number(notebook: str | None) -> str | None:
    if notebook is None:
        return None
    text = str(notebook).strip()
    if len(text) >= 2 and text[:2].isdigit() and (len(text) == 2 or text[2] in "._"):
        return text[:2]
    if text.isdigit() and len(text) == 1:
        return "0" + text
    raise ValueError(f"notebook must be a notebook number such as '03' (or '03_baselines_and_advantage'), "
                     f"or None for all notebooks; got {notebook!r}")


def reset(notebook: str | None = None, *, confirm: bool = False) -> bool:
    """Forget the saved progress of one notebook (``"03"``) or, with no argument, of the whole course.

    Without ``confirm=True`` it asks "yes/no" first (answer ``yes`` to go ahead). Returns True when something
    was cleared, including this kernel's hint levels for those exercises (the next ``exercises.hint`` starts at
    the first level again). Quiz widgets already on screen show the new score after their next Submit.
    """
    try:
        number = _notebook_number(notebook)
    except ValueError as err:
        print(f"Cannot reset: {err}")
        return False
    what = "all your course progress" if number is None else f"your progress in notebook {number}"
    if not confirm:
        try:
            reply = input(f"Clear {what} (quiz scores, exercise results, hints used)? Type yes to confirm: ")
        except Exception:  # no interactive input here (a script, a test run, a kernel without stdin)
            print(f"Nothing cleared: confirm with progress.reset({'' if number is None else repr(number) + ', '}"
                  "confirm=True).")
            return False
        if reply.strip().lower() not in ("y", "yes"):
            print("Nothing cleared.")
            return False

    def change(data):
        for section in ("quizzes", "exercises", "hints"):
            if number is None:
                data[section].clear()
            else:
                for key in [k for k in data[section] if k.startswith(number + ".")]:
                    del data[section][key]
    _transaction(change)
    _forget_in_kernel_hints(number)
    print(f"Cleared {what}.")
    return True


def _forget_in_kernel_hints(number: str | None) -> None:
    """Drop this kernel's hint levels and shown solutions for the cleared notebook(s), so the next
    ``exercises.hint`` starts again at the first level instead of carrying on from memory."""
    from course_lib.exercises import hints  # imported here: the exercises package imports this module

    def cleared(exercise_id: str) -> bool:
        return number is None or exercise_id.startswith(number + ".")

    for exercise_id in [k for k in hints.HINT_LEVELS if cleared(k)]:
        del hints.HINT_LEVELS[exercise_id]
    hints.SOLUTIONS_SHOWN.difference_update({k for k in hints.SOLUTIONS_SHOWN if cleared(k)})


# --------------------------------------------------------------------------------------------- dashboard

@dataclass(frozen=True)
class NotebookProgress:
    """One row of the dashboard."""

    notebook: str              # "01"
    title: str                 # "01_actor_critic_basics"
    questions: int             # in the bank
    tried: int
    solved: int
    first_points: float        # points earned on first attempts
    max_points: float          # points of all questions of the notebook
    exercises: int             # registered exercises
    passed: int
    hints: int                 # hint levels opened, summed over the notebook's exercises


def _titles() -> dict[str, str]:
    try:
        from course_lib.exercises.core import NOTEBOOKS
        return dict(NOTEBOOKS)
    except Exception:  # pragma: no cover - the exercises package always ships with the course
        return {}


def summary(quiz_dir: str | os.PathLike | None = None) -> list[NotebookProgress]:
    """Per-notebook progress, in notebook order (every notebook with questions or exercises)."""
    from course_lib.quiz_bank import load_bank
    try:
        from course_lib.exercises import list_exercises
        exercise_ids = [ex.id for ex in list_exercises()]
    except Exception:  # pragma: no cover
        exercise_ids = []
    data = _transaction()[0]
    bank = load_bank(quiz_dir)
    titles = _titles()
    numbers = sorted({q.number for q in bank.values()} | {e[:2] for e in exercise_ids} | set(titles))
    rows = []
    for nb in numbers:
        questions = [q for q in bank.values() if q.number == nb]
        recs = [data["quizzes"][q.id] for q in questions if q.id in data["quizzes"]]
        exs = [e for e in exercise_ids if e[:2] == nb]
        rows.append(NotebookProgress(
            notebook=nb, title=titles.get(nb, nb), questions=len(questions), tried=len(recs),
            solved=sum(bool(r.get("solved")) for r in recs),
            first_points=sum(float(r.get("first_points", 0)) for r in recs),
            max_points=sum(q.points for q in questions), exercises=len(exs),
            passed=sum(bool(data["exercises"].get(e, {}).get("passed")) for e in exs),
            hints=sum(int(v) for k, v in data["hints"].items() if k[:3] == nb + ".")))
    return rows


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.0f}%" if b else "–"


_HEAD = ("Notebook", "Questions tried", "Solved", "First-attempt score", "Exercises passed", "Hints used")
_HEAD_TEXT = ("Notebook", "Tried", "Solved", "First-attempt score", "Exercises passed", "Hints used")


def _cells(r: NotebookProgress) -> tuple[str, ...]:
    return (r.title, f"{r.tried} / {r.questions}", f"{r.solved} / {r.questions}",
            f"{r.first_points:g} / {r.max_points:g} ({_pct(r.first_points, r.max_points)})",
            f"{r.passed} / {r.exercises}", str(r.hints))


def _total(rows: list[NotebookProgress]) -> NotebookProgress:
    return NotebookProgress("all", "Course", *(sum(getattr(r, f) for r in rows) for f in (
        "questions", "tried", "solved", "first_points", "max_points", "exercises", "passed", "hints")))


class Dashboard:
    """The course-wide progress table: HTML in JupyterLab, an aligned text table everywhere else."""

    def __init__(self, quiz_dir: str | os.PathLike | None = None):
        self.rows = summary(quiz_dir)
        self.total = _total(self.rows)
        path = store_path()
        self.where = ("kept in memory only (COURSE_PROGRESS_FILE=off)." if path is None
                      else f"saved in {path}")

    def text(self) -> str:
        table = [_HEAD_TEXT, *(_cells(r) for r in self.rows), _cells(self.total)]
        widths = [max(len(row[i]) for row in table) for i in range(len(_HEAD))]
        fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
        lines = ["Your progress in the course", "", fmt(table[0]), fmt(["-" * w for w in widths])]
        lines += [fmt(row) for row in table[1:-1]] + [fmt(["-" * w for w in widths]), fmt(table[-1])]
        lines += ["", "First-attempt score: points of each question's first answer only.",
                  "Clear with progress.reset() (everything) or progress.reset('03') (one notebook).",
                  f"Progress is {self.where}"]
        return "\n".join(lines)

    def html(self) -> str:
        esc = html.escape
        head = "".join(f'<th scope="col" style="text-align:left; padding:2px 10px">{esc(h)}</th>' for h in _HEAD)

        def row(r: NotebookProgress, bold: bool = False) -> str:
            cells = _cells(r)
            tag = "th" if bold else "td"
            first = f'<th scope="row" style="text-align:left; padding:2px 10px">{esc(cells[0])}</th>'
            rest = "".join(f'<{tag} style="text-align:left; padding:2px 10px">{esc(c)}</{tag}>' for c in cells[1:])
            return f"<tr>{first}{rest}</tr>"

        body = "".join(row(r) for r in self.rows)
        return (f'<div class="course-progress"><table style="border-collapse:collapse">'
                f"<caption style=\"text-align:left; font-weight:bold; padding-bottom:4px\">Your progress in the "
                f"course</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                f'<tfoot style="border-top:1px solid #888">{row(self.total, bold=True)}</tfoot></table>'
                f"<p><small>First-attempt score: points of each question's first answer only. Clear with "
                f"<code>progress.reset()</code> (everything) or <code>progress.reset('03')</code> (one "
                f"notebook). Progress is {esc(self.where)}</small></p></div>")

    def _repr_mimebundle_(self, **kwargs) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self.html()}

    def __repr__(self) -> str:
        return self.text()


def show(quiz_dir: str | os.PathLike | None = None) -> None:
    """Display the course-wide dashboard (a table; plain text where HTML cannot render)."""
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover
        print(Dashboard(quiz_dir).text())
        return
    display(Dashboard(quiz_dir))
