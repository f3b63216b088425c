"""Hints in a real browser: a FAIL shows the symptom and no fix until ``exercises.hint`` is called.

Notebook 01 in JupyterLab, driven in headless Chromium the way a learner does it: clear the saved outputs, run
only what the first exercise needs (the cells from the top down to the one that imports ``exercises``, the
shipped ``# EXERCISE:`` cell and its check cell), read the whole FAIL (a first line, indented continuation
lines, the pointer to the hint last); then add a new cell below with ``exercises.hint("<id>")``, run it and
read hint 1, run it again and read hint 2; a last new cell prints ``exercises.hints_used()``.

Expected texts come from the library (the exercise's own ladder), never typed in here. The FAIL must not show
any code from the ladder's last level (the fix) nor any later level. Screenshots: ``tmp/e2e-screenshots/``.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from lab_page import NotebookPage, first_cell, read_cells

REPO = Path(__file__).resolve().parents[2]
TARGET = "notebooks/01_actor_critic_basics.ipynb"

IMPORTS = r"^\s*from course_lib import [\w, ]*\bexercises\b"
EXERCISE_CHECK = r"""^\s*(?:\w+\s*=\s*)?exercises\.check\(\s*["'](?P<id>\d\d\.\w+)["']\s*,\s*(?P<func>\w+)"""
EXERCISE_CELL = r"^# EXERCISE: {id}\s*$"
STDOUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]'

pytestmark = [pytest.mark.e2e]


def squash(text: str) -> str:
    return " ".join(text.split())


def rendered(markdown: str) -> str:
    """What a one-paragraph Markdown hint reads like once rendered: code marks and emphasis asterisks dropped
    (an asterisk with spaces on both sides, as in `gamma * V`, is a multiplication and stays)."""
    return squash(re.sub(r"`|\*(?!\s)|(?<!\s)\*", "", markdown))


def code_spans(markdown: str) -> list[str]:
    """The inline code and fenced code lines of a hint (what would give the fix away if shown early)."""
    fenced = re.findall(r"```(?:python)?\n(.*?)```", markdown, flags=re.S)
    lines = [squash(line) for block in fenced for line in block.splitlines() if line.strip()]
    inline = [squash(span) for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", markdown, flags=re.S))]
    return [s for s in lines + inline if len(s) >= 6]


def verdict_lines(printed: str) -> list[str]:
    """The lines of a printed checker verdict: "PASS/FAIL — <id>: ..." first, then indented continuation lines
    (the last one, after a FAIL, the pointer to ``exercises.hint``); each at most 100 characters."""
    lines = [ln.rstrip() for ln in printed.splitlines() if ln.strip()]
    assert lines and lines[0].startswith(("PASS — ", "FAIL — ")), f"no verdict in the output: {lines}"
    assert all(ln.startswith("    ") for ln in lines[1:]), f"one verdict, continued on indented lines: {lines}"
    too_long = [ln for ln in lines if len(ln) > 100]
    assert not too_long, f"printed lines over 100 characters: {too_long}"
    return lines


def add_cell_below(nb: NotebookPage, index: int, code: str) -> int:
    """Insert a code cell below cell ``index`` (key B in command mode), type ``code`` into it; its index."""
    nb.select(index)
    nb.page.keyboard.press("b")
    new = index + 1
    nb.wait_active(new)
    nb.page.keyboard.press("Enter")
    nb.page.keyboard.insert_text(code)
    typed = squash(nb.cell(new).locator(".cm-content").inner_text())
    assert typed == squash(code), f"the new cell holds {typed!r}, not {code!r}"
    return new


def run_active(nb: NotebookPage, index: int, expect: str, timeout_ms: float = 60_000):
    """Ctrl+Enter on the active cell ``index``; wait until one of its outputs contains ``expect``."""
    nb.wait_active(index)
    nb.page.keyboard.press("Control+Enter")
    found = nb.outputs(index).locator(".jp-OutputArea-output", has_text=expect)
    found.first.wait_for(state="visible", timeout=timeout_ms)
    return found.first


@pytest.mark.timeout(600)
def test_fail_shows_no_fix_until_a_hint_is_asked_for(lab, page, shots_dir):
    from course_lib import exercises
    from course_lib.exercises.cells import exec_cell

    path = REPO / TARGET
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    cells = read_cells(path)
    imports = first_cell(cells, IMPORTS)
    check_cell = first_cell(cells, EXERCISE_CHECK)
    match = re.search(EXERCISE_CHECK, check_cell.source, re.M)
    exercise_id, func_name = match["id"], match["func"]
    ex = exercises.get_exercise(exercise_id)
    ex_cell = first_cell(cells, EXERCISE_CELL.format(id=re.escape(exercise_id)))
    assert imports.index < ex_cell.index < check_cell.index
    assert ex_cell.source.strip() == exercises.starter(exercise_id).strip(), "the notebook ships the starter"
    assert not exercises.check(exercise_id, exec_cell(ex_cell.source, func_name), quiet=True).passed
    assert len(ex.hints) >= 2

    nb = NotebookPage(page, shots_dir)
    nb.open(lab.lab_url(TARGET), len(cells))
    nb.clear_all_outputs()  # every output read below was made in this session
    nb.run_through(cells, imports.index)  # the set-up cells at the top, down to the one importing exercises
    for cell in (ex_cell, check_cell):
        nb.run_range(cells, cell.index, cell.index)

    # the FAIL: the symptom on lines of <= 100 characters, a pointer to the hint last, nothing from the ladder
    stdout = nb.outputs(check_cell.index).locator(STDOUT)
    stdout.first.wait_for(state="visible", timeout=30_000)
    lines = verdict_lines(stdout.first.inner_text())
    nb.screenshot("hints_fail_on_the_starter", focus=check_cell.index)
    assert len(lines) >= 2 and lines[0].startswith(f"FAIL — {exercise_id}: case '"), lines
    assert squash(lines[-1]) == f'(stuck? exercises.hint("{exercise_id}"))', lines
    fail = squash(" ".join(lines))
    leaked = [s for h in ex.hints for s in code_spans(h) if s in fail]
    assert not leaked, f"the FAIL shows code from the hints {leaked}: {fail}"
    assert not any(rendered(h) in fail for h in ex.hints)

    # hint 1 in a new cell: Markdown, the first level only
    hint_cell = add_cell_below(nb, check_cell.index, f'exercises.hint("{exercise_id}")')
    n = len(ex.hints)
    out = run_active(nb, hint_cell, f"Hint 1 of {n}")
    nb.screenshot("hints_level_1", focus=hint_cell)
    assert out.get_attribute("data-mime-type") == "text/markdown", "the hint is displayed as Markdown"
    text = squash(out.inner_text())
    assert rendered(ex.hints[0]) in text, text
    assert not any(rendered(h) in text for h in ex.hints[1:]), "a later level was shown too early"
    assert nb.outputs(hint_cell).locator(".jp-OutputArea-output").count() == 1, "the hint is shown once"

    # the same cell again: the next level
    out = run_active(nb, hint_cell, f"Hint 2 of {n}")
    nb.screenshot("hints_level_2", focus=hint_cell)
    text = squash(out.inner_text())
    assert rendered(ex.hints[1]) in text and rendered(ex.hints[0]) not in text, text

    # the levels used are recorded in the kernel
    used_cell = add_cell_below(nb, hint_cell, "print(exercises.hints_used())")
    out = run_active(nb, used_cell, exercise_id)
    assert squash(out.inner_text()) == str({exercise_id: 2})

    assert not page.errors, f"JavaScript errors in the page: {page.errors}"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, f"{TARGET} was modified on disk"
