"""Concept checks in the notebooks: a clickable quiz widget, answer-cell feedback and a running score.

In a notebook::

    from course_lib import quiz
    quiz.show("01.critic_role")          # widget: tick a choice, Submit, read the feedback, retry if you like
    quiz.check("01.critic_role", "c")    # the same marking for an answer cell, printed as text
    quiz.score()                         # this notebook's score (first attempts) and attempt counts

Every answer counts, whichever way it is given (Submit, ``check``, ``check_answer``), and is saved in the
course's progress file (:mod:`course_lib.progress`), so the first-attempt score survives a kernel restart
and shows up in ``progress.show()``.

Feedback teaches before it tells: a wrong numeric answer first gets a nudge (too high or too low, what to
re-check); the worked answer follows a correct answer or a second wrong one. A wrong multiple-choice answer
first only says that the set is not right; the explanation of each pick follows from the second try on.

The widget has one control per choice, labelled with the choice's text, so it can be answered with the
keyboard alone: Tab / Shift+Tab move between the choices and Submit, Space ticks a choice, Space or Enter
presses the focused Submit (JupyterLab keeps the arrow keys for moving between cells). It holds no answer
key: its prompt, choices and buttons carry no correctness flag and no explanation; feedback is computed in the
kernel only after Submit. Where widgets cannot render (a notebook that has not been run, a terminal,
nbconvert output, GitHub), the displayed object falls back to a readable Markdown/text version of the
question and its choices.

The bank itself (loading, validation, marking) lives in :mod:`course_lib.quiz_bank`; the grader uses it
directly.
"""
from __future__ import annotations

import html
import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from course_lib import progress
from course_lib import quiz_bank
from course_lib.quiz_bank import (BankError, Choice, Question, QuizResult, UnknownQuestionError,  # noqa: F401
                                  default_quiz_dir, get_question, load_bank)

__all__ = ["show", "check", "check_answer", "score", "reset_scores", "scoreboard", "Score", "Scoreboard",
           "QuizWidget", "KEYS", "markdown_to_html", "question_text", "question_markdown", "load_bank"]

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


RUN_TO_ANSWER = "Run the cell to answer: the interactive quiz appears here."


def _answer_hint(q: Question) -> str:
    """How to answer in a code cell (never reveals the answer)."""
    ids = ", ".join(q.choice_ids)
    example = {"single": f'answer = "..."        # one of {ids}',
               "multiple": f'answer = ["...", ...]  # every correct id among {ids}',
               "numeric": "answer = 0.0          # a number"}[q.kind]
    return f'{example}\nquiz.check("{q.id}", answer)'


def question_text(q: Question) -> str:
    """A plain-text version of the question (prompt, choices, how to answer): what terminals show."""
    lines = [f"Question {q.id} ({_kind_label(q)}, {_points(q.points)})", ""]
    for paragraph in q.prompt.strip().split("\n\n"):
        lines += textwrap.wrap(" ".join(paragraph.split()), width=100, break_on_hyphens=False) + [""]
    for c in q.choices:
        lines += textwrap.wrap(" ".join(c.text.split()), width=100, initial_indent=f"  {c.id}) ",
                               subsequent_indent=" " * (len(c.id) + 4), break_on_hyphens=False)
    if q.choices:
        lines.append("")
    lines += [RUN_TO_ANSWER + " Or answer in a code cell:"]
    lines += ["    " + ln for ln in _answer_hint(q).splitlines()]
    return "\n".join(lines)


def question_markdown(q: Question) -> str:
    """A Markdown version of the question for static renderers (nbviewer, GitHub)."""
    parts = [f"**Question `{q.id}`** ({_kind_label(q)}, {_points(q.points)})", q.prompt]
    if q.choices:
        parts.append("\n".join(f"- **{c.id})** {' '.join(c.text.split())}" for c in q.choices))
    parts.append(f"*{RUN_TO_ANSWER}* Or answer in a code cell:\n\n```python\n" + _answer_hint(q) + "\n```")
    return "\n\n".join(parts)


def _feedback_text(feedback: str) -> str:
    """Feedback Markdown as plain text: its bold markers removed."""
    return re.sub(r"\*\*(.+?)\*\*", r"\1", feedback)


# --------------------------------------------------------------------------------------------- feedback

_NUMERIC_NUDGE = ("Re-read which quantities the situation keeps or drops, then redo the arithmetic one step at "
                  "a time.")


def _strip_right(text: str) -> str:
    """'Right: the mean is 3 ...' -> 'The mean is 3 ...' (the worked answer shown after two wrong tries)."""
    rest = re.sub(r"^(Right|Correct)\s*[:.,!-]\s*", "", text.strip())
    return rest[:1].upper() + rest[1:]


def feedback_for(q: Question, answer: Any, result: QuizResult, record: dict[str, Any]) -> str:
    """The feedback (Markdown) to show for ``answer``, given the question's saved ``record`` after counting it.

    Correct answers and single-choice answers get the bank's explanation. A *first* wrong answer to a numeric
    question gets a nudge (too high or too low, what to re-check), not the worked answer; a first wrong
    multiple-choice answer is told only that the set is not right, without marking any box. From the second
    wrong answer on (or once the question has been solved) the explanations are shown.
    """
    if result.correct or q.kind == "single":
        return result.feedback
    first_miss = record.get("wrong", 0) <= 1 and not record.get("solved")
    if q.kind == "numeric":
        if first_miss:
            side = "too high" if float(answer) > q.answer else "too low"
            nudge = q.nudge or _NUMERIC_NUDGE
            return (f"**Not quite.** {float(answer):g} is {side}: it is not within {q.tolerance:g} of the "
                    f"expected value. {nudge}\n\nTry once more: the worked answer appears after your next "
                    "answer.")
        return (f"{result.feedback}\n\n**Worked answer:** {_strip_right(q.explain_correct)}")
    if first_miss:
        return ("**Not quite.** The set you ticked is not exactly the set of correct choices: a tick may be "
                "wrong, or a correct choice may be missing. Weigh each statement on its own and try again; "
                "from your next try on, each tick gets its explanation.")
    return result.feedback


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
    """A notebook's answers, read from the saved progress (:mod:`course_lib.progress`).

    attempts[qid]: how many times the question was answered; first_points[qid]: points of the first attempt
    (later attempts never change it); solved: ids answered correctly at least once. Only the questions of
    this notebook in this bank folder are counted.
    """

    notebook: str                     # "01"
    directory: Path                   # the bank folder its questions come from
    _line: widgets.HTML | None = field(default=None, init=False, repr=False)

    def _questions(self) -> list[Question]:
        return [q for q in load_bank(self.directory).values() if q.number == self.notebook]

    def _records(self) -> dict[str, dict[str, Any]]:
        saved = progress.load()["quizzes"]
        return {q.id: saved[q.id] for q in self._questions() if q.id in saved}

    @property
    def attempts(self) -> dict[str, int]:
        return {qid: int(r["attempts"]) for qid, r in self._records().items()}

    @property
    def first_points(self) -> dict[str, float]:
        return {qid: float(r.get("first_points", 0)) for qid, r in self._records().items()}

    @property
    def solved(self) -> set[str]:
        return {qid for qid, r in self._records().items() if r.get("solved")}

    def record(self, qid: str, result: QuizResult) -> dict[str, Any]:
        """Count one answer to ``qid`` (saved at once) and return the question's record after it."""
        rec = progress.record_quiz(qid, result.correct, result.points, result.max_points)
        self.refresh()
        return rec

    def refresh(self) -> None:
        """Redraw the score line (after an answer, or after ``progress.reset``)."""
        if self._line is not None:
            self._line.value = self._line_html()

    def score(self) -> Score:
        """The current score: first-attempt points out of all of this notebook's questions in the bank."""
        questions = self._questions()
        recs = self._records()
        return Score(notebook=self.notebook, points=sum(float(r.get("first_points", 0)) for r in recs.values()),
                     max_points=sum(q.points for q in questions), tried=len(recs),
                     solved=sum(bool(r.get("solved")) for r in recs.values()), total=len(questions),
                     attempts={qid: int(r["attempts"]) for qid, r in recs.items()})

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
    """This notebook's score: first-attempt points, questions tried/solved and attempts (saved progress).

    notebook: its number (``"03"``); default: the notebook of the question shown or checked most recently.
    """
    if notebook is None:
        if not _LAST:
            raise ValueError("no question has been shown or checked yet in this kernel; "
                             "pass the notebook number, e.g. quiz.score('01')")
        return _LAST[0].score()
    numbers = sorted({q.number for q in load_bank(directory).values()})
    if notebook not in numbers:
        raise ValueError(f"notebook must be the number of a notebook with questions, one of {numbers}; "
                         f"got {notebook!r:.40}")
    return scoreboard(notebook, directory).score()


def reset_scores() -> None:
    """Forget this kernel's scoreboards (the saved progress stays; ``progress.reset()`` clears that)."""
    _BOARDS.clear()
    _LAST.clear()


def _mark(qid: str, answer: Any, directory: Directory) -> tuple[Question, QuizResult, dict[str, Any], int]:
    """Mark ``answer``, count it, and return (question, result with the feedback to show, record, attempt)."""
    q = get_question(qid, directory)
    result = quiz_bank.check_answer(qid, answer, directory)
    rec = _board_for(q, directory).record(q.id, result)
    return q, result._replace(feedback=feedback_for(q, answer, result, rec)), rec, int(rec["attempts"])


def check_answer(qid: str, answer: Any, directory: Directory = None) -> QuizResult:
    """Mark one answer and return the QuizResult. It counts as an attempt, exactly like Submit or ``check``
    (the first-attempt score is the first answer given by any of them), and its feedback follows the same
    rules (a nudge before the worked answer)."""
    return _mark(qid, answer, directory)[1]


# --------------------------------------------------------------------------------------------- the widget

KEYS = ("Keyboard: Tab and Shift+Tab move between the choices and Submit; Space ticks or unticks the "
        "focused choice; Space or Enter presses Submit.")
KEYS_NUMERIC = ("Keyboard: Tab into the answer box, type the number, Tab to Submit and press Space or Enter.")

# Scoped to the quiz: a clear focus ring on Submit and on each choice, and choice rows that wrap long text.
_STYLE = """<style>
.course-quiz .jupyter-button:focus, .course-quiz .jupyter-button:focus-visible {
  outline: 3px solid #1a56db; outline-offset: 2px; box-shadow: 0 0 0 5px rgba(26, 86, 219, 0.25); }
.course-quiz .widget-checkbox input:focus-visible, .course-quiz input:focus-visible {
  outline: 3px solid #1a56db; outline-offset: 2px; }
.course-quiz .course-quiz-choice { width: auto; max-width: 100%; height: auto; }
.course-quiz .course-quiz-choice label { white-space: normal; line-height: 1.4; align-items: flex-start;
  height: auto; padding: 2px 0; }
.course-quiz .course-quiz-choice input { margin-top: 0.3em; flex-shrink: 0; }
</style>"""


def _inline_html(markdown: str) -> str:
    """A choice's Markdown as HTML that fits in a label (paragraphs joined by line breaks)."""
    out = markdown_to_html(markdown)
    out = re.sub(r"^<p>|</p>$", "", out.strip())
    return out.replace("</p>\n<p>", "<br>")


class QuizWidget:
    """One concept check as a widget: rendered prompt, one labelled control per choice, Submit, feedback, score.

    Attributes (for driving it from Python): ``checkboxes`` (one Checkbox per choice, in order, labelled with
    the choice's text; for a single-choice question ticking one unticks the others), ``choice_boxes`` (id ->
    Checkbox), ``selector`` (the FloatText of a numeric question, else None), ``submit`` (Button),
    ``feedback`` (HTMLMath, empty until the first submit), ``box`` (the VBox that is displayed),
    ``last_result``. ``select(*ids)`` ticks exactly those choices.
    """

    def __init__(self, qid: str, directory: Directory = None):
        self.question = get_question(qid, directory)
        self.directory = directory
        self.board = _board_for(self.question, directory)
        self.last_result: QuizResult | None = None
        q = self.question
        self.prompt = widgets.HTMLMath(value=_STYLE + self._prompt_html())
        self.checkboxes: list[widgets.Checkbox] = []
        self.selector: widgets.FloatText | None = None
        if q.kind == "numeric":
            self.selector = widgets.FloatText(value=0.0, description="Your answer:",
                                              style={"description_width": "initial"})
            answer_row: widgets.Widget = self.selector
            keys = KEYS_NUMERIC
        else:
            self.checkboxes = [
                widgets.Checkbox(value=False, indent=False, description_allow_html=True,
                                 description=f"<b>{c.id})</b> {_inline_html(c.text)}",
                                 layout=widgets.Layout(width="auto", max_width="100%", height="auto"))
                for c in q.choices]
            for cb in self.checkboxes:
                cb.add_class("course-quiz-choice")
            if q.kind == "single":
                for cb in self.checkboxes:
                    cb.observe(self._only_one, names="value")
            answer_row = widgets.VBox(self.checkboxes)
            keys = KEYS
        self.choice_boxes = dict(zip(q.choice_ids, self.checkboxes))
        self.keys = widgets.HTML(value=f"<small>{html.escape(keys)}</small>")
        self.submit = widgets.Button(description="Submit", button_style="primary", icon="check",
                                     tooltip="Submit your answer")
        self.feedback = widgets.HTMLMath(value="")
        self.submit.on_click(self._on_submit)
        self.box = widgets.VBox([self.prompt, answer_row, self.keys, self.submit, self.feedback, self.board.line])
        self.box.add_class("course-quiz")

    def _only_one(self, change: dict) -> None:
        """Single choice: ticking one choice unticks the others."""
        if change["new"]:
            for cb in self.checkboxes:
                if cb is not change["owner"] and cb.value:
                    cb.value = False

    def _prompt_html(self) -> str:
        q = self.question
        how = " Tick one." if q.kind == "single" else " Tick all that apply." if q.kind == "multiple" else ""
        head = (f"<b>Question {html.escape(q.id)}</b> <small>({_kind_label(q)}, {_points(q.points)}).{how}"
                "</small>")
        return head + markdown_to_html(q.prompt)

    def select(self, *ids: str) -> None:
        """Tick exactly the choices ``ids`` (untick the rest)."""
        unknown = [i for i in ids if i not in self.choice_boxes]
        if unknown:
            raise ValueError(f"{unknown} not among the choices {', '.join(self.choice_boxes)}")
        for cid, cb in self.choice_boxes.items():
            cb.value = cid in ids

    def current_answer(self) -> Any:
        """The selection in ``check_answer``'s format, or None when nothing is chosen (single choice)."""
        if self.question.kind == "numeric":
            return float(self.selector.value)
        ticked = [cid for cid, cb in self.choice_boxes.items() if cb.value]
        if self.question.kind == "single":
            return ticked[0] if ticked else None
        return ticked

    def _on_submit(self, _button: widgets.Button | None = None) -> None:
        answer = self.current_answer()
        if answer is None or answer == []:
            self.feedback.value = "<p><i>Tick a choice first, then press Submit.</i></p>"
            return
        _q, result, _rec, attempt = _mark(self.question.id, answer, self.directory)
        self.last_result = result
        colour = "#2e7d32" if result.correct else "#c62828"
        self.feedback.value = (f'<div role="status" style="border-left: 4px solid {colour}; padding-left: 0.6em">'
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


def _problem_text(message: str, width: int = 100) -> str:
    """A problem message in lines of at most ``width`` characters: each "; "-separated clause starts a line,
    and every line after the first is indented by four spaces."""
    clauses = " ".join(message.split()).split("; ")
    lines: list[str] = []
    for i, clause in enumerate(clauses):
        text = clause + (";" if i < len(clauses) - 1 else "")
        lines += textwrap.wrap(text, width=width, initial_indent="    " if lines else "",
                               subsequent_indent="    ", break_on_hyphens=False)
    return "\n".join(lines)


def check(qid: str, answer: Any, directory: Directory = None) -> None:
    """Mark an answer-cell answer and show the feedback as text; the attempt counts towards ``score()``.

    Problems (unknown id, an answer that is not a choice) are reported in one short message (lines of at most
    100 characters) instead of a traceback.
    """
    try:
        _q, result, _rec, attempt = _mark(qid, answer, directory)
    except (KeyError, ValueError) as err:
        print(_problem_text(f"Cannot check this answer: {err}"))
        return
    text = f"{qid}, attempt {attempt}: {_feedback_text(result.feedback)}"
    print("\n\n".join(textwrap.fill(" ".join(par.split()), width=100) for par in text.split("\n\n")))
