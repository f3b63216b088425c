"""Reading a saved notebook's answer cells without running them.

An answer cell is a code cell whose first non-blank line is ``# EXERCISE: <id>`` or ``# QUIZ: <id>`` (the
course's answer-cell conventions). This module parses a notebook's bytes (already read into memory), finds
those cells, checks an exercise cell for constructs that would reach outside a self-contained function, and
reads a quiz cell's ``answer = <literal>`` with ``ast.literal_eval``. Nothing here executes a cell.

Every parse is guarded: a cell longer than ``MAX_CELL_CHARS`` is refused before parsing, and RecursionError,
MemoryError, OverflowError and ValueError from deeply nested or huge input become a one-line reason.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

ANSWER_RE = re.compile(r"^#\s*(EXERCISE|QUIZ):\s*(\S+)\s*$")
FILE_NUMBER_RE = re.compile(r"^(\d\d)_")
MAX_NOTEBOOK_BYTES = 50 * 2**20
MAX_CELL_CHARS = 100_000   # an answer cell is a few hundred lines at most
PARSE_ERRORS = (SyntaxError, ValueError, TypeError, RecursionError, MemoryError, OverflowError)

# Exercise cells must be self-contained functions. These would let a cell reach into the grader's own modules
# (or the reference solutions) instead of fixing the bug, so a cell that uses them is not run.
FORBIDDEN_MODULES = frozenset({"course_lib", "importlib", "gc", "inspect", "ctypes"})
FORBIDDEN_NAMES = frozenset({
    "__import__", "exec", "eval", "compile", "globals", "vars", "__builtins__", "__code__", "__globals__",
    "__closure__", "__subclasses__", "f_back", "f_globals", "f_locals", "tb_frame", "gi_frame",
})


class NotebookError(ValueError):
    """The file is not a readable Jupyter notebook (the message is the reason shown in the grades)."""


@dataclass(frozen=True)
class AnswerCell:
    """A graded cell: kind "exercise" or "quiz", its id, its 1-based position among the cells, its source."""

    kind: str
    item_id: str
    index: int
    source: str


class SourceError(ValueError):
    """A cell's source cannot be parsed (the message is the reason shown in the grades)."""


def parse_cells(data: bytes) -> list[dict[str, Any]]:
    """The cells of an nbformat-4 notebook given as bytes; NotebookError with a reason otherwise."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"file too large for a notebook ({len(data)} bytes; the limit is {MAX_NOTEBOOK_BYTES})")
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise NotebookError("not a notebook: the file is not UTF-8 text") from None
    except (RecursionError, MemoryError):
        raise NotebookError("not a notebook: the JSON is nested too deeply") from None
    except ValueError as err:
        raise NotebookError(f"not a notebook: the file is not valid JSON ({err})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        if isinstance(nb, dict) and "worksheets" in nb:
            raise NotebookError("an old nbformat-3 notebook; open and save it in Jupyter first")
        raise NotebookError("not a notebook: the JSON has no list of cells")
    return [c for c in nb["cells"] if isinstance(c, dict)]


def parse_source(source: str, filename: str = "<cell>") -> ast.Module:
    """``ast.parse`` for a cell, refusing oversized sources; SourceError (with the reason) for any failure."""
    if len(source) > MAX_CELL_CHARS:
        raise SourceError(f"cell too large to grade ({len(source)} characters; the limit is {MAX_CELL_CHARS})")
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as err:
        raise SourceError(f"syntax error on line {err.lineno} of the cell: {err.msg}") from None
    except PARSE_ERRORS as err:
        raise SourceError(f"the cell cannot be parsed ({type(err).__name__}: nested or repeated too deeply?)") \
            from None


def cell_source(cell: dict[str, Any]) -> str:
    """A cell's source as one string (nbformat stores it as a string or a list of lines)."""
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def find_answer_cells(cells: Sequence[dict[str, Any]]) -> list[AnswerCell]:
    """Code cells whose first non-blank line is ``# EXERCISE: <id>`` or ``# QUIZ: <id>``, in notebook order."""
    found = []
    for index, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        lines = source.splitlines()
        first = next((line for line in lines if line.strip()), "")
        match = ANSWER_RE.match(first.strip())
        if match:
            found.append(AnswerCell(match.group(1).lower(), match.group(2), index, source))
    return found


def strip_magics(source: str) -> str:
    """Replace IPython line magics and shell escapes (``%...``, ``!...``) by ``pass`` (line numbers kept)."""
    out = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            out.append(line[: len(line) - len(stripped)] + "pass  # magic removed by the grader")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


COURSE_NAMES = frozenset({"exercises", "quiz"})


def _is_course_line(node: ast.stmt) -> bool:
    """``from course_lib import exercises, quiz`` (no aliases) or a bare call ``exercises.check(...)``."""
    if isinstance(node, ast.ImportFrom):
        return (node.module == "course_lib" and node.level == 0
                and all(a.name in COURSE_NAMES and a.asname is None for a in node.names))
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        return (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id in COURSE_NAMES)
    return False


def drop_course_lines(source: str) -> tuple[str, int]:
    """Blank out top-level lines that only matter in the learner's kernel (importing ``exercises`` / ``quiz``,
    calling ``exercises.check(...)``): (new source with the same line numbers, how many were dropped).

    The grader runs its own check; such lines would otherwise fail (no ``exercises`` in the child) or be refused
    as imports of course_lib.
    """
    try:
        tree = parse_source(source)
    except SourceError:
        return source, 0
    lines = source.splitlines()
    taken = [(n.lineno, n.end_lineno or n.lineno) for n in tree.body]
    dropped = 0
    for node in tree.body:
        if not _is_course_line(node):
            continue
        first, last = node.lineno, node.end_lineno or node.lineno
        shared = sum(1 for a, b in taken if a <= last and b >= first) > 1  # e.g. `x = 1; exercises.check(...)`
        if shared:
            continue
        for k in range(first - 1, last):
            lines[k] = "pass  # removed by the grader" if k == first - 1 else "pass"
        dropped += 1
    return "\n".join(lines) + "\n", dropped


def forbidden_uses(tree: ast.AST) -> list[str]:
    """What in an exercise cell reaches outside a self-contained function (see FORBIDDEN_*), as short texts."""
    problems: list[str] = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        for module in modules:
            if module.split(".")[0] in FORBIDDEN_MODULES:
                problems.append(f"import of {module} (line {node.lineno})")
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            problems.append(f"{node.id} (line {node.lineno})")
        if isinstance(node, ast.Attribute):
            if node.attr in FORBIDDEN_NAMES:
                problems.append(f".{node.attr} (line {node.lineno})")
            if node.attr == "modules" and isinstance(node.value, ast.Name) and node.value.id == "sys":
                problems.append(f"sys.modules (line {node.lineno})")
    return problems


def normalised_source(source: str) -> str:
    """The cell body without its marker line and trailing spaces (to recognise an unchanged starter)."""
    lines = [line.rstrip() for line in source.strip().splitlines()]
    if lines and ANSWER_RE.match(lines[0].strip()):
        lines = lines[1:]
    return "\n".join(lines).strip()


def literal_answer(source: str) -> tuple[bool, Any, str | None]:
    """The value of the last top-level ``answer = <literal>`` in a quiz cell, never running the cell.

    Returns (found, value, problem); problem explains why no usable answer was found.
    """
    try:
        tree = parse_source(strip_magics(source))
    except SourceError as err:
        return False, None, str(err)
    value_node: ast.expr | None = None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "answer"):
            value_node = node.value
        elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
              and node.target.id == "answer" and node.value is not None):
            value_node = node.value
    if value_node is None:
        return False, None, "no `answer = ...` line in the cell"
    try:
        value = ast.literal_eval(value_node)
    except PARSE_ERRORS:
        return False, None, 'answer must be written as a plain value, e.g. answer = "b", ["a", "c"] or 0.25'
    if value is None:
        return False, None, "not answered (answer = None)"
    return True, value, None


@dataclass(frozen=True)
class Expected:
    """The items a submission is graded on, in order (exercise ids, quiz ids)."""

    exercises: tuple[str, ...]
    quizzes: tuple[str, ...]


def template_items(cells: Sequence[dict[str, Any]]) -> Expected:
    """The answer cells of a template notebook (the notebook as shipped), in order."""
    answers = find_answer_cells(cells)
    return Expected(tuple(dict.fromkeys(c.item_id for c in answers if c.kind == "exercise")),
                    tuple(dict.fromkeys(c.item_id for c in answers if c.kind == "quiz")))
