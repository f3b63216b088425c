"""The concept-check bank: load the quiz YAML files, validate them, and mark an answer.

One YAML file per notebook lives in ``quizzes/`` (``quizzes/01_actor_critic_basics.yaml`` ...). Each file is a
mapping with a single key ``questions``, a list of questions::

    questions:
      - id: 01.critic_role          # <notebook number>.<slug>; the number must match the file's
        kind: single                # single | multiple | numeric
        points: 1
        prompt: |-                  # Markdown, maths in $...$
          What does the critic learn?
        choices:                    # single / multiple only
          - {id: a, text: ..., correct: false, explain: why this is wrong}
          - {id: b, text: ..., correct: true,  explain: why this is right}
      - id: 01.some_number
        kind: numeric
        points: 1
        prompt: ...
        answer: 0.25                # numeric only
        tolerance: 0.01             # absolute; |given - answer| <= tolerance counts as correct
        explain_correct: ...
        explain_wrong: ...
        nudge: ...                  # optional: a hint shown after a first wrong answer (never the answer)

``load_bank()`` reads and validates every file (a malformed bank raises :class:`BankError` naming the file,
the question and the problem) and ``check_answer(qid, answer)`` marks one answer. The widget that learners
click lives in :mod:`course_lib.quiz`; the grader uses the two functions here directly.
"""
from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any, NamedTuple

import yaml

__all__ = [
    "BankError", "Choice", "Question", "QuizResult", "UnknownQuestionError",
    "KINDS", "ENV_VAR", "default_quiz_dir", "load_bank", "validate_bank_dir", "check_answer",
]

KINDS = ("single", "multiple", "numeric")
ENV_VAR = "COURSE_QUIZ_DIR"

_FILE_RE = re.compile(r"^(\d\d)_[a-z0-9_]+$")
_ID_RE = re.compile(r"^(\d\d)\.[a-z0-9_]+$")
_CHOICE_KEYS = {"id", "text", "correct", "explain"}
_COMMON_KEYS = {"id", "kind", "points", "prompt"}
_KIND_KEYS = {
    "single": {"choices"},
    "multiple": {"choices"},
    "numeric": {"answer", "tolerance", "explain_correct", "explain_wrong", "nudge"},
}


class BankError(ValueError):
    """A quiz file breaks the schema. The message names the file, the question and the problem."""


class UnknownQuestionError(KeyError, ValueError):
    """No question has this id. Both a ``KeyError`` and a ``ValueError``, so either ``except`` catches it."""

    def __str__(self) -> str:  # KeyError would otherwise show the message in quotes
        return str(self.args[0])


@dataclass(frozen=True)
class Choice:
    """One answer option of a single/multiple-choice question."""

    id: str          # "a", "b", "c", ... in order
    text: str        # Markdown
    correct: bool
    explain: str     # Markdown: why this option is right or wrong


@dataclass(frozen=True)
class Question:
    """One concept check. ``choices`` is empty for numeric questions; ``answer``/``tolerance`` and the two
    ``explain_*`` texts are ``None`` for choice questions."""

    id: str
    notebook: str                    # file stem, e.g. "01_actor_critic_basics"
    kind: str                        # one of KINDS
    prompt: str                      # Markdown with $...$ maths
    points: float
    choices: tuple[Choice, ...] = ()
    answer: float | None = None
    tolerance: float | None = None
    explain_correct: str | None = None
    explain_wrong: str | None = None
    nudge: str | None = None         # numeric, optional: what to re-check after a first wrong answer

    @property
    def number(self) -> str:
        """The notebook number, e.g. ``"01"``."""
        return self.id.split(".", 1)[0]

    @property
    def choice_ids(self) -> tuple[str, ...]:
        """The valid choice ids, in order (empty for numeric questions)."""
        return tuple(c.id for c in self.choices)


class QuizResult(NamedTuple):
    """The outcome of one answer: ``feedback`` is Markdown; ``points`` is ``max_points`` or 0 (no partial credit)."""

    correct: bool
    feedback: str
    points: float
    max_points: float


# --------------------------------------------------------------------------------------------- validation

def _is_number(x: Any) -> bool:
    """True for a finite int/float that is not a bool (an integer too large for a float is not finite)."""
    if not isinstance(x, Real) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def _nonempty_str(x: Any) -> bool:
    return isinstance(x, str) and x.strip() != ""


def _parse_choice(raw: Any, k: int, fail) -> Choice:
    """Check one choice mapping (the k-th, 0-based) and build it; ``fail(msg)`` raises a BankError."""
    expected_id = chr(ord("a") + k)
    if not isinstance(raw, dict):
        fail(f"choice #{k + 1} must be a mapping with keys id, text, correct, explain; got {type(raw).__name__}")
    unknown = set(raw) - _CHOICE_KEYS
    if unknown:
        fail(f"choice #{k + 1} has unknown key(s) {sorted(unknown)}; allowed: {sorted(_CHOICE_KEYS)}")
    cid = raw.get("id")
    if cid != expected_id:
        fail(f"choice #{k + 1} must have id '{expected_id}' (ids run a, b, c, ... in order); got {cid!r}")
    if not _nonempty_str(raw.get("text")):
        fail(f"choice '{cid}' has no text")
    if not isinstance(raw.get("correct"), bool):
        fail(f"choice '{cid}' needs 'correct: true' or 'correct: false'; got {raw.get('correct')!r}")
    if not _nonempty_str(raw.get("explain")):
        fail(f"choice '{cid}' has no explanation ('explain' saying why it is right or wrong)")
    return Choice(id=cid, text=raw["text"].strip(), correct=raw["correct"], explain=raw["explain"].strip())


def _parse_question(raw: Any, index: int, path: Path, number: str) -> Question:
    """Check one question mapping from ``path`` (the index-th, 0-based) and build it."""
    label = f"question #{index + 1}"
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        label = f"question '{raw['id']}'"

    def fail(problem: str):
        raise BankError(f"{path.name}: {label}: {problem}")

    if not isinstance(raw, dict):
        fail(f"must be a mapping (id, kind, points, prompt, ...); got {type(raw).__name__}")
    qid = raw.get("id")
    if not isinstance(qid, str):
        fail(f"missing 'id' (a string like '{number}.my_slug'); got {qid!r}")
    m = _ID_RE.match(qid)
    if m is None:
        fail(f"id must look like '{number}.my_slug' (two digits, a dot, lower-case letters/digits/_)")
    if m.group(1) != number:
        fail(f"id starts with '{m.group(1)}' but the file belongs to notebook {number}; use '{number}.…'")
    kind = raw.get("kind")
    if kind not in KINDS:
        fail(f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    unknown = set(raw) - _COMMON_KEYS - _KIND_KEYS[kind]
    if unknown:
        allowed = sorted(_COMMON_KEYS | _KIND_KEYS[kind])
        fail(f"unknown key(s) {sorted(unknown)} for a {kind} question; allowed: {allowed}")
    if not _nonempty_str(raw.get("prompt")):
        fail("missing prompt (Markdown text of the question)")
    points = raw.get("points")
    if not _is_number(points) or points <= 0:
        fail(f"missing or invalid points: must be a positive number; got {points!r}")
    common = dict(id=qid, notebook=path.stem, kind=kind, prompt=raw["prompt"].strip(), points=float(points))

    if kind == "numeric":
        answer, tol = raw.get("answer"), raw.get("tolerance")
        if not _is_number(answer):
            fail(f"a numeric question needs 'answer' (a finite number); got {answer!r}")
        if "tolerance" not in raw:
            fail("a numeric question needs 'tolerance' (absolute, > 0)")
        if not _is_number(tol) or tol <= 0:
            fail(f"tolerance must be a positive number; got {tol!r}")
        for key in ("explain_correct", "explain_wrong"):
            if not _nonempty_str(raw.get(key)):
                fail(f"a numeric question needs '{key}' (Markdown explanation)")
        if "nudge" in raw and not _nonempty_str(raw["nudge"]):
            fail("'nudge' must be a non-empty text (what to re-check after a first wrong answer) or be left out")
        return Question(**common, answer=float(answer), tolerance=float(tol),
                        explain_correct=raw["explain_correct"].strip(), explain_wrong=raw["explain_wrong"].strip(),
                        nudge=raw["nudge"].strip() if "nudge" in raw else None)

    raw_choices = raw.get("choices")
    if not isinstance(raw_choices, list) or len(raw_choices) < 2:
        fail(f"a {kind} question needs 'choices', a list of at least 2 choices")
    choices = tuple(_parse_choice(c, k, fail) for k, c in enumerate(raw_choices))
    n_correct = sum(c.correct for c in choices)
    if kind == "single" and n_correct != 1:
        fail(f"a single-choice question needs exactly one correct choice; found {n_correct}")
    if kind == "multiple" and n_correct == 0:
        fail("a multiple-choice question needs at least one correct choice; found none")
    return Question(**common, choices=choices)


def _parse_file(path: Path) -> list[Question]:
    """Read and validate one bank file; raise BankError naming the file on any problem."""
    m = _FILE_RE.match(path.stem)
    if m is None:
        raise BankError(f"{path.name}: file name must be '<two-digit notebook number>_<name>.yaml', "
                        f"e.g. '01_actor_critic_basics.yaml'")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise BankError(f"{path.name}: not valid YAML: {err}") from None
    if not isinstance(data, dict) or set(data) != {"questions"} or not isinstance(data["questions"], list):
        raise BankError(f"{path.name}: the file must be a mapping with one key 'questions' holding a list")
    return [_parse_question(raw, i, path, m.group(1)) for i, raw in enumerate(data["questions"])]


def validate_bank_dir(directory: str | os.PathLike) -> dict[str, Question]:
    """Read every ``*.yaml`` file in ``directory`` (no cache) and return ``{id: Question}`` in file order.

    Raises BankError on the first problem: a malformed file, a duplicate id (also across files), or a
    directory with no quiz files.
    """
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise BankError(f"{directory}: no quiz files (*.yaml) found")
    bank: dict[str, Question] = {}
    where: dict[str, str] = {}
    for path in files:
        for q in _parse_file(path):
            if q.id in bank:
                raise BankError(f"{path.name}: question '{q.id}': duplicate id (already used in {where[q.id]})")
            bank[q.id], where[q.id] = q, path.name
    return bank


# --------------------------------------------------------------------------------------------- loading

def default_quiz_dir() -> Path:
    """``$COURSE_QUIZ_DIR`` if set, else the repository's ``quizzes/`` next to the installed package."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path(__file__).resolve().parents[1] / "quizzes"


_CACHE: dict[Path, tuple[tuple, dict[str, Question]]] = {}


def _signature(directory: Path) -> tuple:
    """What the cache compares: every bank file's name, modification time and size."""
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(directory.glob("*.yaml")))


def load_bank(directory: str | os.PathLike | None = None) -> dict[str, Question]:
    """Load and validate the quiz bank: ``{question id: Question}``.

    directory: folder of ``NN_name.yaml`` files; default ``$COURSE_QUIZ_DIR`` or the repo's ``quizzes/``.
    Cached per directory; the cache is refreshed automatically when a file is added, removed or edited,
    so an instructor can edit a YAML file and re-run a cell. Raises BankError for a malformed bank.
    The returned dict is a copy (mutating it does not touch the cache).
    """
    directory = Path(directory) if directory is not None else default_quiz_dir()
    key = directory.resolve()
    sig = _signature(key)
    hit = _CACHE.get(key)
    if hit is None or hit[0] != sig:
        hit = (sig, validate_bank_dir(key))
        _CACHE[key] = hit
    return dict(hit[1])


def get_question(qid: str, directory: str | os.PathLike | None = None) -> Question:
    """The question with id ``qid``; an unknown id raises UnknownQuestionError listing the valid ids."""
    bank = load_bank(directory)
    if isinstance(qid, str) and qid in bank:
        return bank[qid]
    number = qid.split(".", 1)[0] if isinstance(qid, str) else ""
    same_nb = [i for i in bank if i.startswith(number + ".")] if number else []
    pool = same_nb or list(bank)
    close = difflib.get_close_matches(str(qid), pool, n=len(pool), cutoff=0.5)
    ordered = close + [i for i in pool if i not in close]
    scope = f"notebook {number}" if same_nb else "the bank (ids start with the notebook number, e.g. '01.')"
    raise UnknownQuestionError(f"no question with id {qid!r}; valid ids in {scope}: {', '.join(ordered)}")


# --------------------------------------------------------------------------------------------- marking

def _as_choice_ids(q: Question, answer: Any) -> list[str]:
    """Normalise a choice answer to a list of ids (stripped, lower-case); raise ValueError if invalid."""
    valid = ", ".join(q.choice_ids)
    if q.kind == "single":
        if not isinstance(answer, str):
            raise ValueError(f"answer for single-choice question '{q.id}' must be one choice id (a string), "
                             f"one of {valid}; got {answer!r}")
        given = [answer]
    else:
        if isinstance(answer, str):
            given = [answer]  # a lone id is read as a one-element list
        elif isinstance(answer, (list, tuple, set, frozenset)):
            given = list(answer)
        else:
            raise ValueError(f"answer for multiple-choice question '{q.id}' must be a list of choice ids "
                             f"from {valid}; got {answer!r}")
    ids = []
    for a in given:
        norm = a.strip().lower() if isinstance(a, str) else a
        if norm not in q.choice_ids:
            raise ValueError(f"{a!r} is not a choice of question '{q.id}'; valid choice ids: {valid}")
        if norm not in ids:
            ids.append(norm)
    return ids


def check_answer(qid: str, answer: Any, directory: str | os.PathLike | None = None) -> QuizResult:
    """Mark one answer to question ``qid``.

    answer: single -> one choice id ``"b"``; multiple -> a list of ids ``["a", "c"]`` (order and repeats do
    not matter; a lone string counts as a one-element list); numeric -> a number, correct when
    ``|answer - q.answer| <= q.tolerance``. Choice ids are matched case-insensitively.
    Scoring: all or nothing. A multiple-choice answer earns the points only if the chosen set equals the set
    of correct choices exactly; there is no partial credit.
    feedback (Markdown): the explanation of every chosen choice (numeric: explain_correct/explain_wrong); for
    a multiple-choice answer whose picks are all right but incomplete, a note that something is missing
    (without naming it).
    Raises UnknownQuestionError (a KeyError and a ValueError) for an unknown id, listing the valid ids, and
    ValueError for an answer that is not one of the choices (listing the valid ids) or not a number.
    """
    q = get_question(qid, directory)
    if q.kind == "numeric":
        if not _is_number(answer):
            # {answer!r:.40}: a 400-digit integer must not fill the screen
            raise ValueError(f"answer for numeric question '{q.id}' must be a finite number; got {answer!r:.40}")
        # correct iff |answer - target| <= tolerance
        correct = abs(float(answer) - q.answer) <= q.tolerance
        body = q.explain_correct if correct else q.explain_wrong
    else:
        ids = _as_choice_ids(q, answer)
        right = {c.id for c in q.choices if c.correct}
        correct = set(ids) == right
        by_id = {c.id: c for c in q.choices}
        parts = [f"**({i})** {by_id[i].explain}" for i in ids]
        if not ids:
            parts.append("You did not pick any choice.")
        elif not correct and set(ids) <= right:
            parts.append("Everything you picked is right, but at least one more choice is correct too.")
        body = "\n\n".join(parts)
    head = "**Correct.**" if correct else "**Not quite.**"
    return QuizResult(correct=correct, feedback=f"{head}\n\n{body}", points=q.points if correct else 0.0,
                      max_points=q.points)
