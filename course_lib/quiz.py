"""Concept checks in the notebooks: a clickable quiz widget, answer-cell feedback and a running score.

In a notebook::

    from course_lib import quiz
    quiz.show("01.critic_role")          # widget: pick, Submit, read the feedback, retry if you like
    quiz.check("01.critic_role", "c")    # the same marking for an answer cell, printed as text
    quiz.score()                         # this notebook's score (first attempts) and attempt counts

The widget holds no answer key: its prompt, choices and buttons carry no correctness flag and no explanation.
Feedback is computed in the kernel by :func:`check_answer` only after Submit, and shows the explanation of
the chosen option(s). Where widgets cannot render (a terminal, nbconvert output, GitHub), the displayed
object falls back to a readable text/Markdown version of the question.

The bank itself (loading, validation, marking) lives in :mod:`course_lib.quiz_bank`; ``load_bank`` and
``check_answer`` are re-exported here.
"""
from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from course_lib.quiz_bank import (BankError, Choice, Question, QuizResult, UnknownQuestionError,  # noqa: F401
                                  check_answer, default_quiz_dir, get_question, load_bank)

__all__ = ["show", "check", "score", "reset_scores", "scoreboard", "Score", "Scoreboard", "QuizWidget",
           "markdown_to_html", "question_text", "question_markdown", "load_bank", "check_answer"]

Directory = str | os.PathLike | None


# --------------------------------------------------------------------------------------------- Markdown -> HTML

_CODE_RE = re.compile(r"`([^`]+)`")
_MATH_RE = re.compile(r"\$\$.+?\$\$|\$[^$]+?\$", re.S)


def markdown_to_html(text: str) -> str:
    """Convert the small Markdown subset used in the bank to HTML for ``HTMLMath``.

    Handles paragraphs (blank lines), ``- `` bullet lists, ``**bold**``, ``*italic*`` and ```code```. Maths in
    ``$...$`` / ``$$...$$`` is passed through untouched (only HTML-escaped) for MathJax, so ``*`` and ``_``
    inside formulas are never mistaken for emphasis. All other text is HTML-escaped.
    """
    kept: list[str] = []

    def keep(fragment: str) -> str:
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    text = _CODE_RE.sub(lambda m: keep(f"<code>{html.escape(m.group(1), quote=False)}</code>"), text)
    text = _MATH_RE.sub(lambda m: keep(html.escape(m.group(0), quote=False)), text)
    text = html.escape(text, quote=False)
    # emphasis markers must hug their text, so "a * b * c" stays as typed
    text = re.sub(r"\*\*(?!\s)(.+?)(?<!\s)\*\*", r"<strong>\1</strong>", text, flags=re.S)
    text = re.sub(r"\*(?!\s)(.+?)(?<!\s)\*", r"<em>\1</em>", text, flags=re.S)
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if lines and all(ln.startswith("- ") for ln in lines):
            blocks.append("<ul>" + "".join(f"<li>{ln[2:]}</li>" for ln in lines) + "</ul>")
        else:
            blocks.append("<p>" + " ".join(lines) + "</p>")
    out = "\n".join(blocks)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], out)


# --------------------------------------------------------------------------------------------- text versions

def _kind_label(q: Question) -> str:
    return {"single": "single choice", "multiple": "multiple choice, pick all that apply",
            "numeric": "numeric answer"}[q.kind]


def _count(x: float, noun: str) -> str:
    """(1, 'point') -> '1 point', (2.0, 'point') -> '2 points', (1.5, 'point') -> '1.5 points'."""
    return f"{x:g} {noun}" + ("" if x == 1 else "s")


def _points(x: float) -> str:
    return _count(x, "point")


def _answer_hint(q: Question) -> str:
    """How to answer in a code cell (never reveals the answer)."""
    ids = ", ".join(q.choice_ids)
    example = {"single": f'answer = "..."        # one of {ids}',
               "multiple": f'answer = ["...", ...]  # every correct id among {ids}',
               "numeric": "answer = 0.0          # a number"}[q.kind]
    return f'{example}\nquiz.check("{q.id}", answer)'


def question_text(q: Question) -> str:
    """A plain-text version of the question (prompt, choices, how to answer): what terminals show."""
    lines = [f"Question {q.id} ({_kind_label(q)}, {_points(q.points)})", "", q.prompt, ""]
    lines += [f"  {c.id}) {' '.join(c.text.split())}" for c in q.choices]
    if q.choices:
        lines.append("")
    lines += ["Answer with the widget in JupyterLab, or in a code cell:"]
    lines += ["    " + ln for ln in _answer_hint(q).splitlines()]
    return "\n".join(lines)


def question_markdown(q: Question) -> str:
    """A Markdown version of the question for static renderers (nbviewer, GitHub)."""
    parts = [f"**Question `{q.id}`** ({_kind_label(q)}, {_points(q.points)})", q.prompt]
    if q.choices:
        parts.append("\n".join(f"- **{c.id})** {' '.join(c.text.split())}" for c in q.choices))
    parts.append("Answer in a code cell:\n\n```python\n" + _answer_hint(q) + "\n```")
    return "\n\n".join(parts)


def _feedback_text(result: QuizResult) -> str:
    """The feedback as plain text: the Markdown with its bold markers removed."""
    return re.sub(r"\*\*(.+?)\*\*", r"\1", result.feedback)


# --------------------------------------------------------------------------------------------- scores

@dataclass(frozen=True)
class Score:
    """A notebook's running score. ``points`` counts first attempts only; ``attempts`` maps id -> attempts."""

    notebook: str
    points: float
    max_points: float
    tried: int
    solved: int
    total: int
    attempts: dict[str, int]

    def __str__(self) -> str:
        return (f"Notebook {self.notebook}: {self.points:g} / {self.max_points:g} points on first attempts; "
                f"{self.tried} of {self.total} questions tried, {self.solved} solved, "
                f"{_count(sum(self.attempts.values()), 'attempt')} in all.")

    def _repr_pretty_(self, p, cycle) -> None:  # IPython shows the sentence, not the dataclass fields
        p.text(str(self))


@dataclass
class Scoreboard:
    """Per-notebook record of this kernel's answers (widget submits and ``check`` calls alike).

    first_points[qid]: points earned on the first attempt (later attempts never change it);
    attempts[qid]: how many times the question was answered; solved: ids answered correctly at least once.
    """

    notebook: str                     # "01"
    directory: Path                   # the bank folder its questions come from
    attempts: dict[str, int] = field(default_factory=dict)
    first_points: dict[str, float] = field(default_factory=dict)
    solved: set[str] = field(default_factory=set)
    _line: widgets.HTML | None = field(default=None, init=False, repr=False)

    def record(self, qid: str, result: QuizResult) -> int:
        """Count one answer to ``qid`` and return its attempt number (1 for the first)."""
        n = self.attempts.get(qid, 0) + 1
        self.attempts[qid] = n
        if n == 1:
            self.first_points[qid] = result.points
        if result.correct:
            self.solved.add(qid)
        if self._line is not None:
            self._line.value = self._line_html()
        return n

    def score(self) -> Score:
        """The current score: first-attempt points out of all of this notebook's questions in the bank."""
        questions = [q for q in load_bank(self.directory).values() if q.number == self.notebook]
        return Score(notebook=self.notebook, points=sum(self.first_points.values()),
                     max_points=sum(q.points for q in questions), tried=len(self.attempts),
                     solved=len(self.solved), total=len(questions), attempts=dict(self.attempts))

    @property
    def line(self) -> widgets.HTML:
        """One shared HTML widget showing the score; every quiz widget of the notebook displays it."""
        if self._line is None:
            self._line = widgets.HTML(value=self._line_html())
        return self._line

    def _line_html(self) -> str:
        return f"<small>{html.escape(str(self.score()))}</small>"


_BOARDS: dict[tuple[str, str], Scoreboard] = {}
_LAST: list[Scoreboard] = []          # the board used most recently (at most one entry)


def _key(number: str, directory: Directory) -> tuple[str, str]:
    """Scoreboards are per (notebook, bank folder); ``None`` means the default folder."""
    return number, str(Path(directory if directory is not None else default_quiz_dir()).resolve())


def scoreboard(notebook: str, directory: Directory = None) -> Scoreboard:
    """The scoreboard of notebook ``notebook`` (its number, e.g. ``"01"``), created on first use."""
    key = _key(notebook, directory)
    if key not in _BOARDS:
        _BOARDS[key] = Scoreboard(notebook=notebook, directory=Path(key[1]))
    return _BOARDS[key]


def _board_for(q: Question, directory: Directory) -> Scoreboard:
    board = scoreboard(q.number, directory)
    _LAST[:] = [board]
    return board


def score(notebook: str | None = None, directory: Directory = None) -> Score:
    """This notebook's score: first-attempt points, questions tried/solved and attempts.

    notebook: its number (``"03"``); default: the notebook of the question shown or checked most recently.
    """
    if notebook is None:
        if not _LAST:
            raise ValueError("no question has been shown or checked yet in this kernel; "
                             "pass the notebook number, e.g. quiz.score('01')")
        return _LAST[0].score()
    return scoreboard(notebook, directory).score()


def reset_scores() -> None:
    """Forget every recorded answer in this kernel (for instructors and tests)."""
    _BOARDS.clear()
    _LAST.clear()


# --------------------------------------------------------------------------------------------- the widget

class QuizWidget:
    """One concept check as a widget: rendered prompt and choices, an answer control, Submit, feedback, score.

    Attributes (for driving it from Python): ``selector`` (RadioButtons for single choice, FloatText for
    numeric), ``checkboxes`` (multiple choice; one Checkbox per choice), ``submit`` (Button), ``feedback``
    (HTMLMath, empty until the first submit), ``box`` (the VBox that is displayed), ``last_result``.
    """

    def __init__(self, qid: str, directory: Directory = None):
        self.question = get_question(qid, directory)
        self.directory = directory
        self.board = _board_for(self.question, directory)
        self.last_result: QuizResult | None = None
        q = self.question
        self.prompt = widgets.HTMLMath(value=self._prompt_html())
        self.checkboxes: list[widgets.Checkbox] = []
        if q.kind == "single":
            self.selector = widgets.RadioButtons(options=list(q.choice_ids), value=None, description="Answer:")
            answer_row: widgets.Widget = self.selector
        elif q.kind == "multiple":
            self.checkboxes = [widgets.Checkbox(value=False, description=cid, indent=False,
                                                layout=widgets.Layout(width="auto"))
                               for cid in q.choice_ids]
            self.selector = None
            answer_row = widgets.HBox([widgets.Label("Answer (all that apply):"), *self.checkboxes])
        else:
            self.selector = widgets.FloatText(value=0.0, description="Answer:")
            answer_row = self.selector
        self.submit = widgets.Button(description="Submit", button_style="primary", icon="check")
        self.feedback = widgets.HTMLMath(value="")
        self.submit.on_click(self._on_submit)
        self.box = widgets.VBox([self.prompt, answer_row, self.submit, self.feedback, self.board.line])

    def _prompt_html(self) -> str:
        q = self.question
        head = f"<b>Question {html.escape(q.id)}</b> <small>({_kind_label(q)}, {_points(q.points)})</small>"
        body = markdown_to_html(q.prompt)
        if q.choices:
            body += "".join(f'<div style="display: flex; gap: 0.5em; margin-left: 0.5em"><b>{c.id})</b>'
                            f"<div>{markdown_to_html(c.text)}</div></div>" for c in q.choices)
        return head + body

    def current_answer(self) -> Any:
        """The selection in ``check_answer``'s format, or None when nothing is chosen (single choice)."""
        if self.question.kind == "single":
            return self.selector.value
        if self.question.kind == "multiple":
            return [cb.description for cb in self.checkboxes if cb.value]
        return float(self.selector.value)

    def _on_submit(self, _button: widgets.Button | None = None) -> None:
        answer = self.current_answer()
        if answer is None or answer == []:
            self.feedback.value = "<p><i>Choose an answer first, then press Submit.</i></p>"
            return
        result = check_answer(self.question.id, answer, self.directory)
        attempt = self.board.record(self.question.id, result)
        self.last_result = result
        colour = "#2e7d32" if result.correct else "#c62828"
        self.feedback.value = (f'<div style="border-left: 4px solid {colour}; padding-left: 0.6em">'
                               f"<small>Attempt {attempt}</small>{markdown_to_html(result.feedback)}</div>")

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The widget view where a widget front end exists, plus readable text and Markdown everywhere else."""
        bundle = dict(self.box._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = question_text(self.question)
        bundle["text/markdown"] = question_markdown(self.question)
        return bundle

    def __repr__(self) -> str:
        return question_text(self.question)


def show(qid: str, directory: Directory = None) -> None:
    """Display the concept check ``qid`` as a widget (text version where widgets cannot render)."""
    from IPython.display import display
    display(QuizWidget(qid, directory))


def check(qid: str, answer: Any, directory: Directory = None) -> None:
    """Mark an answer-cell answer and show the feedback as text; the attempt counts towards ``score()``.

    Problems (unknown id, an answer that is not a choice) are reported in one line instead of a traceback.
    """
    try:
        q = get_question(qid, directory)
        result = check_answer(qid, answer, directory)
    except (KeyError, ValueError) as err:
        print(f"Cannot check this answer: {err}")
        return
    attempt = _board_for(q, directory).record(q.id, result)
    print(f"{q.id}, attempt {attempt}: {_feedback_text(result)}")
