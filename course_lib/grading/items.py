"""Scoring one submission: which items it owes, and the points and reason of each.

An exercise cell gets static checks here, then runs in the sandbox; the verdict is judged here from its
observations alone (``exercises.core.judge``). A quiz cell is never run: its ``answer = <literal>`` is read and
marked against the bank loaded at the start of the run. Every item that a submission owes is in its row, with
0 and a one-line reason when anything goes wrong, even an internal error, so every submission of a notebook
has the same ``max``.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..exercises import REGISTRY, get_exercise
from ..exercises.core import NOTEBOOKS, judge
from ..quiz_bank import Question, check_answer
from .inputs import Submission
from .notebooks import (FILE_NUMBER_RE, MAX_CELL_CHARS, AnswerCell, Expected, NotebookError, SourceError,
                        drop_course_lines, find_answer_cells, forbidden_uses, literal_answer, normalised_source,
                        parse_cells, parse_source, strip_magics)

MAX_REASON = 300   # characters of one reason or note in the results


def short(text: str, limit: int = MAX_REASON) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass
class ItemGrade:
    """The score of one exercise or question in one submission.

    reason: why points were lost (None for full marks). note: information that cost nothing (e.g. duplicates).
    output: what an exercise cell printed while graded (truncated). seconds: time spent on the item.
    """

    item_id: str
    kind: str
    points: float
    max_points: float
    reason: str | None = None
    note: str | None = None
    output: str = ""
    seconds: float = 0.0

    @property
    def key(self) -> str:
        """The item's column name: "exercise:<id>" or "quiz:<id>"."""
        return f"{self.kind}:{self.item_id}"


@dataclass
class SubmissionGrade:
    """All items of one submission, plus notes about the file as a whole."""

    file: str
    items: list[ItemGrade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(item.points for item in self.items)

    @property
    def max_points(self) -> float:
        return sum(item.max_points for item in self.items)

    def reasons(self) -> str:
        """Every lost point's reason and every note, each shortened to MAX_REASON characters, in one text."""
        parts = [short(n) for n in self.notes]
        for item in self.items:
            if item.reason:
                parts.append(f"{item.key}: {short(item.reason)}")
            if item.note:
                parts.append(f"{item.key}: {short(item.note)}")
        return " | ".join(parts)


@dataclass(frozen=True)
class Options:
    """Settings shared by every submission of a batch, everything read before the first cell runs.

    bank: the quiz bank ({id: Question}); quiz_dir: the private copy it was loaded from (used to mark answers);
    templates: notebook number -> the items its template owes (None: no usable template); isolated: whether
    items run in the sandbox (every row says so when they do not).
    """

    seed: int
    bank: dict[str, Question]
    quiz_dir: str | None = None
    notebook: str | None = None
    templates: dict[str, Expected | None] = field(default_factory=dict)
    isolated: bool = True


# ----------------------------------------------------------------------------------------------- the items
def grade_exercise(sandbox: Any, seed: int, exercise_id: str, cell: AnswerCell) -> ItemGrade:
    """Score one exercise cell: static checks here, the function run in the sandbox, the verdict judged here."""
    ex = get_exercise(exercise_id)
    grade = ItemGrade(ex.id, "exercise", 0.0, ex.points)
    if len(cell.source) > MAX_CELL_CHARS:
        grade.reason = f"cell too large to grade ({len(cell.source)} characters; the limit is {MAX_CELL_CHARS})"
        return grade
    source = strip_magics(cell.source)
    try:
        parse_source(source, filename=f"<cell {ex.id}>")
    except SourceError as err:  # "syntax error in cell 6, line 10 of the cell: '(' was never closed"
        grade.reason = str(err).replace("syntax error on line", f"syntax error in cell {cell.index}, line", 1)
        if not grade.reason.startswith("syntax error"):
            grade.reason = f"cell {cell.index}: {grade.reason}"
        return grade
    if normalised_source(source) == normalised_source(ex.starter):
        grade.reason = "unchanged: the cell still holds the shipped buggy starter code"
        return grade
    source, dropped = drop_course_lines(source)
    problems = forbidden_uses(parse_source(source))
    if problems:
        grade.reason = ("not run: exercise cells must be self-contained functions, but this one uses "
                        + ", ".join(problems[:3]))
        return grade
    outcome = sandbox.run(ex.id, source, seed)
    grade.output, grade.seconds = outcome.output, outcome.seconds
    notes = [f"ignored {dropped} line(s) using exercises/quiz (the grader runs its own check)"] if dropped else []
    if outcome.note:
        notes.append(outcome.note)
    grade.note = "; ".join(notes) or None
    if outcome.observations is None:
        grade.reason = outcome.reason or "no result"
        return grade
    result = judge(ex, seed, outcome.observations)
    grade.points = result.points
    if not result.passed:
        prefix = f"{ex.id}: "
        grade.reason = result.message[len(prefix):] if result.message.startswith(prefix) else result.message
    return grade


def grade_quiz(question: Question, cell: AnswerCell, quiz_dir: str | None) -> ItemGrade:
    """Score one quiz cell against ``question`` (the cell is parsed, never run)."""
    grade = ItemGrade(question.id, "quiz", 0.0, float(question.points))
    found, value, problem = literal_answer(cell.source)
    if not found:
        grade.reason = problem
        return grade
    try:
        result = check_answer(question.id, value, quiz_dir)
    except (ValueError, TypeError, OverflowError) as err:
        grade.reason = short(str(err))
        return grade
    grade.points = float(result.points)
    if not result.correct:
        grade.reason = f"answered {short(repr(value), 80)}: not correct"
    return grade


# ------------------------------------------------------------------------------------- what a notebook owes
def expected_items(name: str, answers: Sequence[AnswerCell], notebook: str | None,
                   templates: dict[str, Expected | None], known_quiz: set[str]) -> tuple[Expected, list[str]]:
    """Which items this submission is graded on, and notes on how that was decided.

    A submission is one notebook. Its number comes from ``notebook`` (--notebook), else from the file name
    (``NN_...``), else from the most common number among its answer cells' ids. Its items come from the
    template of that number if there is one; otherwise all registered exercises of the notebook plus the quiz
    cells present in the submission (a deleted quiz cell then cannot be noticed).
    """
    notes: list[str] = []
    counts: dict[str, int] = {}
    for a in answers:
        if a.item_id in (REGISTRY if a.kind == "exercise" else known_quiz):
            counts[a.item_id[:2]] = counts.get(a.item_id[:2], 0) + 1
    match = FILE_NUMBER_RE.match(name.rsplit("/", 1)[-1])
    if notebook is not None:
        numbers = [notebook]
    elif match and match.group(1) in NOTEBOOKS:
        numbers = [match.group(1)]
    elif counts:
        numbers = [max(sorted(counts), key=lambda n: counts[n])]
    else:
        numbers = []
    if len(counts) > 1 and numbers:
        notes.append(f"answer cells of several notebooks ({', '.join(sorted(counts))}); graded as notebook "
                     f"{numbers[0]}")
    exercises: list[str] = []
    quizzes: list[str] = []
    for number in numbers:
        items = templates.get(number)
        if items is not None and (items.exercises or items.quizzes):
            exercises += [i for i in items.exercises if i in REGISTRY]
            quizzes += [i for i in items.quizzes if i in known_quiz]
        else:
            exercises += [i for i in REGISTRY if i.startswith(number + ".")]
            quizzes += [a.item_id for a in answers if a.kind == "quiz" and a.item_id.startswith(number + ".")
                        and a.item_id in known_quiz]
    return Expected(tuple(dict.fromkeys(exercises)), tuple(dict.fromkeys(quizzes))), notes


# ------------------------------------------------------------------------------------------- a submission
def grade_submission(submission: Submission, sandbox: Any, options: Options) -> SubmissionGrade:
    """Grade one submission (already read into memory). Never raises: problems become reasons."""
    grade = SubmissionGrade(submission.name)
    if not options.isolated:
        grade.notes.append("graded WITHOUT isolation (--no-sandbox): cells ran unconfined")
    try:
        _grade_into(grade, submission, sandbox, options)
    except Exception as err:  # noqa: BLE001 - one bad submission must never stop the batch
        grade.notes.append(short(f"grading stopped by an internal error ({type(err).__name__}: {err})"))
    grade.seconds = sum(item.seconds for item in grade.items)
    return grade


def _grade_into(grade: SubmissionGrade, submission: Submission, sandbox: Any, options: Options) -> None:
    known_quiz = set(options.bank)
    cells = None
    if submission.problem is not None:
        grade.notes.append(f"not graded: {submission.problem}")
    else:
        try:
            cells = parse_cells(submission.data or b"")
        except NotebookError as err:
            grade.notes.append(f"not graded: {err}")
    answers = find_answer_cells(cells) if cells is not None else []
    expected, notes = expected_items(submission.name, answers, options.notebook, options.templates, known_quiz)
    grade.notes += notes
    if cells is not None and not expected.exercises and not expected.quizzes:
        grade.notes.append("no answer cells found (cells starting with '# EXERCISE: <id>' or '# QUIZ: <id>'); "
                           "is this a course notebook?")
    # exercises and questions have separate id spaces ("01.detach_critic" can be both)
    by_key: dict[tuple[str, str], list[AnswerCell]] = {}
    for answer in answers:
        by_key.setdefault((answer.kind, answer.item_id), []).append(answer)
    wanted = {("exercise", i) for i in expected.exercises} | {("quiz", i) for i in expected.quizzes}
    for (kind, item_id), cells_for_id in by_key.items():
        if (kind, item_id) not in wanted:
            known = item_id in (REGISTRY if kind == "exercise" else known_quiz)
            what = "belongs to another notebook" if known else f"is not a known {kind} id"
            grade.notes.append(f"cell {cells_for_id[0].index}: {kind} '{short(item_id, 60)}' {what}; ignored")
    for kind, ids in (("exercise", expected.exercises), ("quiz", expected.quizzes)):
        for item_id in ids:
            grade.items.append(_grade_item(kind, item_id, by_key.get((kind, item_id), []), cells is None,
                                           sandbox, options))


def _grade_item(kind: str, item_id: str, cells: list[AnswerCell], unreadable: bool, sandbox: Any,
                options: Options) -> ItemGrade:
    """One item; whatever happens, an ItemGrade with the item's full max_points."""
    max_points = get_exercise(item_id).points if kind == "exercise" else float(options.bank[item_id].points)
    if not cells:
        marker = "EXERCISE" if kind == "exercise" else "QUIZ"
        reason = "file not readable" if unreadable else f"missing: no code cell starts with '# {marker}: {item_id}'"
        return ItemGrade(item_id, kind, 0.0, max_points, reason=reason)
    cell = cells[-1]
    try:
        if kind == "exercise":
            item = grade_exercise(sandbox, options.seed, item_id, cell)
        else:
            item = grade_quiz(options.bank[item_id], cell, options.quiz_dir)
    except Exception as err:  # noqa: BLE001 - the item stays in the row, with 0 and the reason
        where = traceback.extract_tb(err.__traceback__)[-1]
        item = ItemGrade(item_id, kind, 0.0, max_points,
                         reason=short(f"not graded: internal error ({type(err).__name__}: {err}; at "
                                      f"{where.name}:{where.lineno}); please report it"))
    if len(cells) > 1:
        positions = ", ".join(str(c.index) for c in cells)
        duplicate = f"{len(cells)} cells are marked {item_id} (cells {positions}); graded the last one"
        item.note = duplicate if not item.note else f"{duplicate}; {item.note}"
    return item
