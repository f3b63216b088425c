"""Progress in a real browser: a concept check answered with the keyboard alone, then a kernel restart, then
``progress.show()`` still shows the first-attempt score.

The JupyterLab server of this module gets its own progress file (``COURSE_PROGRESS_FILE`` in a temporary
folder), so the run never touches the real user's progress. The notebook driven here is a three-cell probe
written under ``tmp/`` (git-ignored) and removed afterwards: import, ``quiz.show(<first single-choice question
of notebook 01>)``, ``progress.show()``. Expected texts come from the library (``quiz_bank.check_answer``
for the feedback, ``progress.summary`` on the same file for the dashboard row), never typed in here.

Keys used, as a keyboard-only learner would: Ctrl+Enter runs the quiz cell, Tab moves into the quiz (past
the cell toolbar) and from choice to choice, Space ticks, Tab reaches Submit, Enter presses it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from lab_page import NotebookPage, read_cells

REPO = Path(__file__).resolve().parents[2]
PROBE_DIR = f"tmp/e2e-progress-{os.getpid()}"

pytestmark = [pytest.mark.e2e]

# JavaScript: a short description of the focused element and whether it sits inside a quiz widget
_FOCUS_JS = """() => {
  const e = document.activeElement;
  const quiz = e ? e.closest('.course-quiz') : null;
  return {tag: e ? e.tagName : '', type: (e && e.type) || '', inQuiz: !!quiz,
          text: (e && e.innerText || '').trim().slice(0, 40),
          choice: quiz && e.type === 'checkbox' ? [...quiz.querySelectorAll('input[type=checkbox]')].indexOf(e) : -1};
}"""

_OUTLINE_JS = """() => { const s = getComputedStyle(document.activeElement);
  return {style: s.outlineStyle, width: parseFloat(s.outlineWidth) || 0}; }"""

_PID_JS = """() => { const m = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
  .map(o => o.innerText.match(/kernel pid (\\d+)/)).find(Boolean); return m ? m[1] : null; }"""


@pytest.fixture(scope="module")
def progress_file():
    folder = Path(tempfile.mkdtemp(prefix="course-e2e-progress-"))
    yield folder / "progress.json"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(chromium_ready, progress_file):
    """This module's JupyterLab server, whose kernels save progress to ``progress_file`` only."""
    from lab_server import start_lab

    server = start_lab(REPO, extra_env={"COURSE_PROGRESS_FILE": str(progress_file)})
    try:
        yield server
    finally:
        server.stop()
    assert not server.leftover_pids(), "processes of the JupyterLab server still running after stop()"


@pytest.fixture
def probe():
    """The probe notebook (path relative to the repository) and the question it shows."""
    import nbformat

    from course_lib.quiz_bank import load_bank

    question = next(q for q in load_bank().values() if q.number == "01" and q.kind == "single")
    folder = REPO / PROBE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "import os\nfrom course_lib import progress, quiz\nprint('kernel pid', os.getpid())",
        f'quiz.show("{question.id}")',
        "progress.show()",
    )]
    nbformat.write(nb, folder / "progress_probe.ipynb")
    try:
        yield f"{PROBE_DIR}/progress_probe.ipynb", question
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _tab_to(page, want, limit: int = 15) -> dict:
    """Press Tab until ``want(focus)`` holds for the focused element (at most ``limit`` presses)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focus = page.evaluate(_FOCUS_JS)
        if want(focus):
            return focus
    raise AssertionError(f"{limit} Tab presses did not reach the wanted control; focus is on {focus}")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _plain(markdown: str, min_len: int = 12) -> list[str]:
    """Pieces of a Markdown text that read the same once rendered (maths cut out, markers dropped)."""
    pieces = re.split(r"\$\$.+?\$\$|\$[^$]+?\$", markdown, flags=re.S)
    return [t for t in (" ".join(re.sub(r"[*`]", "", p).split()) for p in pieces) if len(t) >= min_len]


@pytest.mark.timeout(600)
def test_keyboard_answer_survives_a_kernel_restart(lab, page, probe, progress_file, shots_dir, monkeypatch):
    from course_lib import progress
    from course_lib.quiz_bank import check_answer

    rel, question = probe
    right = next(k for k, c in enumerate(question.choices) if c.correct)
    cells = read_cells(REPO / rel)
    nb = NotebookPage(page, shots_dir)
    nb.open(lab.lab_url(rel), len(cells))
    nb.run_through(cells, 1)                                    # Shift+Enter, then Ctrl+Enter on the quiz
    quiz_out = nb.outputs(1).locator(".course-quiz")
    quiz_out.wait_for(state="visible", timeout=60_000)
    labels = quiz_out.locator("label:has(input[type=checkbox])")
    texts = [_squash(t) for t in labels.all_inner_texts()]
    assert len(texts) == len(question.choices), f"one labelled control per choice expected, got {texts}"
    for choice, text in zip(question.choices, texts):         # each control's label is its choice's text
        assert text.startswith(f"{choice.id})") and all(p in text for p in _plain(choice.text, 6)), text
    assert "Space" in quiz_out.inner_text() and "Tab" in quiz_out.inner_text()   # the keys are stated
    pid_before = page.evaluate(_PID_JS)

    # keyboard only: into the quiz, to the right choice, Space, to Submit, Enter
    focus = _tab_to(page, lambda f: f["inQuiz"] and f["type"] == "checkbox")
    for _ in range(right - focus["choice"]):
        page.keyboard.press("Tab")
    assert page.evaluate(_FOCUS_JS)["choice"] == right
    page.keyboard.press("Space")
    _tab_to(page, lambda f: f["inQuiz"] and f["tag"] == "BUTTON" and "Submit" in f["text"], limit=len(texts) + 2)
    ring = page.evaluate(_OUTLINE_JS)
    nb.screenshot("keyboard_focus_on_submit", focus=1)
    assert ring["style"] != "none" and ring["width"] >= 2, f"no visible focus ring on Submit: {ring}"
    page.keyboard.press("Enter")
    expected = _plain(check_answer(question.id, question.choices[right].id).feedback)
    page.wait_for_function(
        "([el, parts]) => parts.every(p => el.innerText.replace(/\\s+/g, ' ').includes(p))",
        arg=[quiz_out.element_handle(), expected], timeout=30_000)
    assert "Correct." in quiz_out.inner_text()
    nb.screenshot("keyboard_answer_feedback", focus=1)

    # the answer is on disk before the restart
    saved = json.loads(progress_file.read_text())["quizzes"][question.id]
    assert saved["attempts"] == 1 and saved["first_points"] == question.points and saved["solved"]

    # restart the kernel (and clear outputs), then run the import and the dashboard
    nb.select(0)
    nb.menu("Kernel", "Restart Kernel and Clear Outputs of All Cells…")
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached", timeout=30_000)
    nb.wait_kernel_idle()
    nb.run_range(cells, 0, 0)
    pid_after = page.evaluate(_PID_JS)
    assert pid_before and pid_after and pid_after != pid_before, "the kernel was not restarted"
    nb.run_range(cells, 2, 2)
    table = nb.outputs(2).locator("table")
    table.wait_for(state="visible", timeout=60_000)
    nb.screenshot("dashboard_after_restart", focus=2)

    monkeypatch.setenv(progress.ENV_VAR, str(progress_file))
    row = next(r for r in progress.summary() if r.notebook == "01")
    assert row.tried == 1 and row.solved == 1 and row.first_points == question.points
    shown = table.locator("tr", has_text=row.title)
    assert shown.count() == 1, "no dashboard row for notebook 01"
    cells_text = [_squash(t) for t in shown.locator("th, td").all_inner_texts()]
    assert cells_text == list(progress._cells(row)), cells_text
    assert f"{question.points:g} / {row.max_points:g}" in cells_text[3]
    assert not page.errors, page.errors
