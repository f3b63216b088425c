"""Hint ladders: which levels a learner has revealed in this kernel, and how hints and solutions are shown.

A failed check states only the symptom (which case, what came out, what was expected). Each exercise also
has a ladder of hints (``Exercise.hints``): ``exercises.hint(id)`` reveals the next level, first where to
look, then the idea, and on the last level the fix itself. Asking again at the last level shows it again.

The levels revealed so far live in memory, in ``HINT_LEVELS`` below (exercise id -> levels revealed); the
ids whose worked solution was shown live in ``SOLUTIONS_SHOWN``. Nothing here writes a file:
``exercises.hint`` saves each level in the progress store (``course_lib.progress``) and, after a kernel
restart, puts the saved level back with ``exercises.restore_hints_used`` before revealing the next one.
"""
from __future__ import annotations

import textwrap
from typing import Any

WIDTH = 100  # plain-text lines (terminals, text versions) stay within this many characters

# exercise id -> number of hint levels revealed in this kernel (absent = none)
HINT_LEVELS: dict[str, int] = {}
# exercise ids whose worked solution has been shown in this kernel
SOLUTIONS_SHOWN: set[str] = set()


def hints_used() -> dict[str, int]:
    """A copy of the hint levels revealed so far: {exercise id: levels}, only exercises with at least one."""
    return {key: level for key, level in sorted(HINT_LEVELS.items()) if level > 0}


def solutions_shown() -> set[str]:
    """A copy of the ids of the exercises whose worked solution has been shown."""
    return set(SOLUTIONS_SHOWN)


def reveal_next(ex: Any) -> tuple[int, bool]:
    """Advance ``ex``'s ladder by one level (staying at the last): (level now shown, True if it was already shown)."""
    n = len(ex.hints)
    before = HINT_LEVELS.get(ex.id, 0)
    level = min(before + 1, n)
    HINT_LEVELS[ex.id] = level
    return level, before >= n


def hint_text(ex: Any, level: int, repeated: bool) -> tuple[str, str]:
    """(Markdown, plain text) for level ``level`` (1-based) of ``ex``'s ladder."""
    n = len(ex.hints)
    body = ex.hints[level - 1]
    call_hint = f'exercises.hint("{ex.id}")'
    call_solution = f'exercises.solution("{ex.id}")'
    if level < n:
        footer = f"Still stuck? Run `{call_hint}` again for hint {level + 1}."
    elif repeated:
        footer = (f"There are no more hints for this exercise. After you have run its check, `{call_solution}` "
                  "shows the worked solution and why it works.")
    else:
        footer = (f"That was the last hint. After you have run the check, `{call_solution}` shows the worked "
                  "solution and why it works.")
    markdown = f"**Hint {level} of {n}** for `{ex.id}`: {body}\n\n*{footer}*"
    plain = _wrapped(f"Hint {level} of {n} for {ex.id}: {body}", footer)
    return markdown, plain


def recap_text(ex: Any, upto: int) -> tuple[str, str]:
    """(Markdown, plain text) repeating levels 1..``upto`` of ``ex``'s ladder, opened in an earlier session."""
    opened = "hint 1" if upto == 1 else f"hints 1 to {upto}"
    intro = f"You opened {opened} for {ex.id} in an earlier session"
    markdown = f"*{intro}:*\n\n" + "\n".join(f"{k}. {ex.hints[k - 1]}" for k in range(1, upto + 1))
    plain = _wrapped(f"{intro}:", *(f"  {k}. {ex.hints[k - 1]}" for k in range(1, upto + 1)))
    return markdown, plain


def _wrapped(*paragraphs: str) -> str:
    """Each paragraph on its own lines of at most ``WIDTH`` characters; continuation lines are indented four
    spaces more than the paragraph's first line."""
    lines: list[str] = []
    for paragraph in paragraphs:
        indent = paragraph[:len(paragraph) - len(paragraph.lstrip())]
        lines += textwrap.wrap(" ".join(paragraph.split()), width=WIDTH, initial_indent=indent,
                               subsequent_indent=indent + "    ", break_on_hyphens=False)
    return "\n".join(lines)


def solution_text(ex: Any) -> tuple[str, str]:
    """(Markdown, plain text) of ``ex``'s worked solution: the explanation, then the reference cell."""
    markdown = (f"#### Solution to {ex.id}: {ex.title}\n\n{ex.explanation.strip()}\n\n"
                f"```python\n{ex.reference.rstrip()}\n```")
    plain = f"Solution to {ex.id} — {ex.title}\n\n{ex.explanation}\n{ex.reference}"
    return markdown, plain


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where Markdown can be displayed), False in a plain Python process."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show(markdown: str, plain: str) -> None:
    """Display ``markdown`` once in a notebook (with ``plain`` as its text version); print ``plain`` elsewhere."""
    if in_notebook():
        from IPython.display import display

        display({"text/markdown": markdown, "text/plain": plain}, raw=True)
    else:
        print(plain)
