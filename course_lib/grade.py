"""Grade saved course notebooks.

    python -m course_lib.grade SUBMISSION.ipynb [MORE.ipynb | FOLDER ...] --out grades.csv [--json [PATH]]

For each submission the grader reads the notebook file (it never runs the notebook and never writes to it),
finds the answer cells (a code cell whose first line is ``# EXERCISE: <id>`` or ``# QUIZ: <id>``) and scores:

* an exercise cell by running *that cell only* in a separate, disposable process (``exercises.sandbox``), taking
  the function it defines and probing it on the exercise's test cases; the verdict is computed back here, in
  the grader, from the observations alone (``exercises.core.judge``), so code that tampers with the checker in
  its own process cannot earn a pass. Each item has a time limit (default 20 s);
* a quiz cell without running it: the value assigned to ``answer`` is read with ``ast.literal_eval`` and marked
  with ``quiz_bank.check_answer``.

One row per submission: the file, points per item (one column per item: ``exercise:<id>`` or ``quiz:<id>``, as
the two kinds have separate ids), total, max, and a ``reasons`` column with a reason for every lost point.
A missing answer cell scores 0 (with a reason); if an id appears in several cells the *last* one is graded
(and the row says so). A file that cannot be read scores 0 with the reason, and the batch goes on. Exit code 0 when every file was graded (even with zero marks), 2 for a
usage error.
"""
from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .exercises.notebook_cells import (FILE_NUMBER_RE, AnswerCell, NotebookError, drop_course_lines,
                                       find_answer_cells, forbidden_uses, literal_answer, normalised_source,
                                       read_cells, strip_magics)

__all__ = ["AnswerCell", "ItemGrade", "SubmissionGrade", "Options", "grade_files", "grade_submission",
           "grade_exercise", "grade_quiz", "expected_items", "find_answer_cells", "forbidden_uses",
           "literal_answer", "read_cells", "NotebookError", "main", "write_csv", "to_json"]


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
        """Every lost point's reason and every note, in one cell of text."""
        parts = list(self.notes)
        for item in self.items:
            if item.reason:
                parts.append(f"{item.key}: {item.reason}")
            if item.note:
                parts.append(f"{item.key}: {item.note}")
        return " | ".join(parts)


# ----------------------------------------------------------------------------------------------- the items
def grade_exercise(sandbox: Any, seed: int, exercise_id: str, cell: AnswerCell) -> ItemGrade:
    """Score one exercise cell: static checks here, the function run in the sandbox, the verdict judged here."""
    from .exercises import get_exercise
    from .exercises.core import judge

    ex = get_exercise(exercise_id)
    grade = ItemGrade(ex.id, "exercise", 0.0, ex.points)
    source = strip_magics(cell.source)
    try:
        ast.parse(source, filename=f"<cell {ex.id}>")
    except SyntaxError as err:
        grade.reason = f"syntax error in cell {cell.index}, line {err.lineno} of the cell: {err.msg}"
        return grade
    if normalised_source(source) == normalised_source(ex.starter):
        grade.reason = "unchanged: the cell still holds the shipped buggy starter code"
        return grade
    source, dropped = drop_course_lines(source)
    problems = forbidden_uses(ast.parse(source))
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


def grade_quiz(qid: str, cell: AnswerCell, quiz_dir: str | None) -> ItemGrade:
    """Score one quiz cell with the quiz bank (the cell is parsed, never run)."""
    from .quiz_bank import check_answer, get_question

    question = get_question(qid, quiz_dir)
    grade = ItemGrade(qid, "quiz", 0.0, float(question.points))
    found, value, problem = literal_answer(cell.source)
    if not found:
        grade.reason = problem
        return grade
    try:
        result = check_answer(qid, value, quiz_dir)
    except ValueError as err:
        grade.reason = str(err)
        return grade
    grade.points = float(result.points)
    if not result.correct:
        grade.reason = f"answered {value!r}: not correct"
    return grade


# ------------------------------------------------------------------------------------- what a notebook owes
@dataclass(frozen=True)
class Expected:
    """The items a submission is graded on, in order."""

    exercises: tuple[str, ...]
    quizzes: tuple[str, ...]


def course_notebook_dir() -> Path:
    """The repository's notebooks/ folder (holds the shipped notebooks that serve as default templates)."""
    return Path(__file__).resolve().parents[1] / "notebooks"


def _template_items(path: Path) -> Expected | None:
    try:
        cells = find_answer_cells(read_cells(path))
    except NotebookError:
        return None
    return Expected(tuple(c.item_id for c in cells if c.kind == "exercise"),
                    tuple(c.item_id for c in cells if c.kind == "quiz"))


def expected_items(path: Path, answers: Sequence[AnswerCell], notebook: str | None,
                   templates: dict[str, Path], known_quiz: set[str]) -> tuple[Expected, list[str]]:
    """Which items this submission is graded on, and notes on how that was decided.

    A submission is one notebook. Its number comes from ``notebook`` (--notebook), else from the file name
    (``NN_...``), else from the most common number among its answer cells' ids. Its items come from the
    template notebook (--template, or the shipped ``notebooks/NN_*.ipynb``) if there is one; otherwise all
    registered exercises of the notebook plus the quiz cells present in the submission (a deleted quiz cell
    then cannot be noticed).
    """
    from .exercises import REGISTRY
    from .exercises.core import NOTEBOOKS

    notes: list[str] = []
    counts: dict[str, int] = {}
    for a in answers:
        if a.item_id in (REGISTRY if a.kind == "exercise" else known_quiz):
            counts[a.item_id[:2]] = counts.get(a.item_id[:2], 0) + 1
    match = FILE_NUMBER_RE.match(path.name)
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
        template = templates.get(number) or course_notebook_dir() / f"{NOTEBOOKS[number]}.ipynb"
        items = _template_items(template) if template.is_file() else None
        if items is not None and (items.exercises or items.quizzes):
            exercises += [i for i in items.exercises if i in REGISTRY]
            quizzes += [i for i in items.quizzes if i in known_quiz]
        else:
            exercises += [i for i in REGISTRY if i.startswith(number + ".")]
            quizzes += [a.item_id for a in answers if a.kind == "quiz" and a.item_id.startswith(number + ".")
                        and a.item_id in known_quiz]
    return Expected(tuple(dict.fromkeys(exercises)), tuple(dict.fromkeys(quizzes))), notes


# ------------------------------------------------------------------------------------------- a submission
@dataclass(frozen=True)
class Options:
    """Settings shared by every submission of a batch."""

    seed: int
    quiz_dir: str | None = None
    notebook: str | None = None
    templates: dict[str, Path] = field(default_factory=dict)


def grade_submission(path: Path, sandbox: Any, options: Options) -> SubmissionGrade:
    """Grade one file. Never raises: any problem becomes a reason in the returned grade."""
    started = time.monotonic()
    grade = SubmissionGrade(str(path))
    try:
        _grade_into(grade, path, sandbox, options)
    except Exception as err:  # noqa: BLE001 - one bad submission must never stop the batch
        grade.notes.append(f"grading stopped by an internal error ({type(err).__name__}: {err})")
    grade.seconds = time.monotonic() - started
    return grade


def _grade_into(grade: SubmissionGrade, path: Path, sandbox: Any, options: Options) -> None:
    from .exercises import REGISTRY
    from .quiz_bank import load_bank

    known_quiz = set(load_bank(options.quiz_dir))
    try:
        cells = read_cells(path)
    except NotebookError as err:
        grade.notes.append(f"not graded: {err}")
        cells = None
    answers = find_answer_cells(cells) if cells is not None else []
    expected, notes = expected_items(path, answers, options.notebook, options.templates, known_quiz)
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
            grade.notes.append(f"cell {cells_for_id[0].index}: {kind} '{item_id}' {what}; ignored")
    for kind, ids in (("exercise", expected.exercises), ("quiz", expected.quizzes)):
        for item_id in ids:
            grade.items.append(_grade_item(kind, item_id, by_key.get((kind, item_id), []), cells is None,
                                           sandbox, options))


def _grade_item(kind: str, item_id: str, cells: list[AnswerCell], unreadable: bool, sandbox: Any,
                options: Options) -> ItemGrade:
    from .exercises import get_exercise
    from .quiz_bank import get_question

    if not cells:
        max_points = (get_exercise(item_id).points if kind == "exercise"
                      else float(get_question(item_id, options.quiz_dir).points))
        marker = "EXERCISE" if kind == "exercise" else "QUIZ"
        reason = "file not readable" if unreadable else f"missing: no code cell starts with '# {marker}: {item_id}'"
        return ItemGrade(item_id, kind, 0.0, max_points, reason=reason)
    cell = cells[-1]
    if kind == "exercise":
        item = grade_exercise(sandbox, options.seed, item_id, cell)
    else:
        item = grade_quiz(item_id, cell, options.quiz_dir)
    if len(cells) > 1:
        positions = ", ".join(str(c.index) for c in cells)
        duplicate = f"{len(cells)} cells are marked {item_id} (cells {positions}); graded the last one"
        item.note = duplicate if not item.note else f"{duplicate}; {item.note}"
    return item


# ------------------------------------------------------------------------------------------------- a batch
def collect_paths(args: Sequence[str]) -> list[Path]:
    """Files as given, and the ``*.ipynb`` files inside any folder given (sorted)."""
    paths: list[Path] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            paths += sorted(q for q in p.glob("*.ipynb") if q.is_file())
        else:
            paths.append(p)
    return paths


def grade_files(paths: Sequence[Path], *, seed: int | None = None, workers: int = 2, time_limit: float = 20.0,
                quiz_dir: str | None = None, notebook: str | None = None,
                templates: dict[str, Path] | None = None,
                sandbox: Any | None = None) -> tuple[list[SubmissionGrade], int]:
    """Grade every file, ``workers`` at a time; returns (grades in input order, the test-case seed).

    sandbox: an open ``exercises.sandbox.Sandbox`` to reuse (default: start one with ``workers`` processes).
    """
    import torch

    from .exercises.sandbox import Sandbox

    torch.set_num_threads(1)  # the grader only judges small tensors; leave the cores to the workers
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    options = Options(seed, quiz_dir, notebook, dict(templates or {}))
    workers = max(1, min(workers, len(paths) or 1))
    own = sandbox is None
    box = Sandbox(workers=workers, time_limit=time_limit) if own else sandbox
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            grades = list(pool.map(lambda p: grade_submission(Path(p), box, options), paths))
    finally:
        if own:
            box.close()
    return grades, seed


def columns(grades: Sequence[SubmissionGrade]) -> list[str]:
    """Item keys ("exercise:01.detach_critic", "quiz:01.critic_role") over the whole batch, by notebook."""
    seen: dict[str, tuple[str, str, str]] = {}
    for g in grades:
        for item in g.items:
            seen.setdefault(item.key, (item.item_id[:2], item.kind, item.item_id))
    return sorted(seen, key=lambda k: seen[k])


def _number(x: float) -> str:
    return f"{x:g}"


def write_csv(grades: Sequence[SubmissionGrade], out: io.TextIOBase | Any) -> None:
    """One row per submission: file, one column per item (blank if not part of that notebook), total, max,
    reasons."""
    ids = columns(grades)
    writer = csv.writer(out)
    writer.writerow(["file", *ids, "total", "max", "reasons"])
    for g in grades:
        points = {item.key: _number(item.points) for item in g.items}
        writer.writerow([g.file, *(points.get(i, "") for i in ids), _number(g.total), _number(g.max_points),
                         g.reasons()])


def to_json(grades: Sequence[SubmissionGrade], seed: int) -> dict[str, Any]:
    """Everything, including each exercise cell's captured output, as JSON-ready data."""
    return {
        "seed": seed,
        "submissions": [
            {"file": g.file, "total": g.total, "max": g.max_points, "reasons": g.reasons(), "notes": g.notes,
             "seconds": round(g.seconds, 3), "items": [asdict(item) for item in g.items]}
            for g in grades
        ],
    }


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_lib.grade",
        description="Grade saved course notebooks: exercise cells are run in separate processes with a time "
                    "limit; quiz cells are read, never run. Submissions are never modified.")
    p.add_argument("submissions", nargs="+", help="notebook files, or folders of *.ipynb files")
    p.add_argument("--out", help="write the grades as CSV to this file (default: print CSV to stdout)")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="also write full JSON results (with captured output) to PATH, or print them with no PATH")
    p.add_argument("--time-limit", type=float, default=20.0, help="seconds per exercise (default 20)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="exercise cells run in parallel (default: 2, or 1 on a one-core machine)")
    p.add_argument("--seed", type=int, help="seed of the test cases (default: random, printed)")
    p.add_argument("--notebook", help="grade every file as this notebook (01 ... 07) instead of guessing")
    p.add_argument("--template", action="append", default=[], metavar="NOTEBOOK",
                   help="a shipped notebook whose answer cells define what is graded (default: notebooks/NN_*.ipynb)")
    p.add_argument("--quiz-dir", help="the quiz bank folder (default: quizzes/ or $COURSE_QUIZ_DIR)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (0 = every file graded, 2 = usage error)."""
    from .exercises.core import NOTEBOOKS

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 for --help
        return int(exc.code or 0)

    def usage(message: str) -> int:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2

    if not args.time_limit > 0:
        return usage(f"--time-limit must be > 0 seconds; got {args.time_limit}")
    if args.workers < 1:
        return usage(f"--workers must be >= 1; got {args.workers}")
    if args.notebook is not None:
        args.notebook = args.notebook[:2]
        if args.notebook not in NOTEBOOKS:
            return usage(f"--notebook must be one of {', '.join(NOTEBOOKS)}; got {args.notebook!r}")
    templates: dict[str, Path] = {}
    for t in args.template:
        match = FILE_NUMBER_RE.match(Path(t).name)
        if not Path(t).is_file() or not match or match.group(1) not in NOTEBOOKS:
            return usage(f"--template must be an existing notebook named NN_*.ipynb; got {t!r}")
        templates[match.group(1)] = Path(t)
    paths = collect_paths(args.submissions)
    if not paths:
        return usage("no notebooks to grade (the folders given hold no *.ipynb files)")
    inputs = {p.resolve() for p in paths}
    for target in (args.out, args.json):
        if target not in (None, "-") and Path(target).resolve() in inputs:
            return usage(f"refusing to write results over a submission: {target}")
    try:
        from .quiz_bank import load_bank

        load_bank(args.quiz_dir)
    except Exception as err:  # noqa: BLE001 - a broken bank is a setup problem, not a submission's
        return usage(f"cannot load the quiz bank: {err}")

    started = time.monotonic()
    grades, seed = grade_files(paths, seed=args.seed, workers=args.workers, time_limit=args.time_limit,
                               quiz_dir=args.quiz_dir, notebook=args.notebook, templates=templates)
    elapsed = time.monotonic() - started

    buffer = io.StringIO()
    write_csv(grades, buffer)
    if args.out:
        _write_atomically(Path(args.out), buffer.getvalue())
    elif args.json != "-":
        sys.stdout.write(buffer.getvalue())
    if args.json:
        text = json.dumps(to_json(grades, seed), indent=2)
        if args.json == "-":
            print(text)
        else:
            _write_atomically(Path(args.json), text + "\n")
    for g in grades:
        print(f"{_number(g.total):>6} / {_number(g.max_points):<6} {g.file}", file=sys.stderr)
    print(f"graded {len(grades)} file(s) in {elapsed:.1f} s (test-case seed {seed})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
