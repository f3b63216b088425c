"""The course in a real browser: JupyterLab from the course environment, driven in headless Chromium.

1. Click-through: open the first notebook, run its cells down to a concept check, pick a wrong choice and
   Submit (that choice's feedback appears, the score line counts the attempt), pick the right one and Submit
   (success, one more question solved, first-attempt points unchanged), then run a debug-the-bug checker cell
   and read its whole PASS/FAIL verdict (wrapped to lines of <= 100 characters).
2. Every committed notebook, opened as a fresh clone sees it (untrusted, never run), reads well: no raw widget
   text, no 0 % progress bar, explorers as a picture with alt text and a "make it live" line, concept checks
   as text, no widget at all; trusting it changes nothing.
3. Controls: the fixture as the kernel saved it (widgets not converted) shows raw widget text and is caught;
   a trusted notebook whose widget state was stripped shows the widget error placeholder and is caught.

Expected texts come from the library itself (``check_answer`` for quiz feedback, ``quiz.Score`` for the score
line's wording, ``exercises.check`` run here on the same cell source for the verdict), never typed in here.
Screenshots of each state: ``tmp/e2e-screenshots/`` (see conftest.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from lab_page import NotebookPage, first_cell, read_cells
from test_hints_in_browser import code_spans, verdict_lines

REPO = Path(__file__).resolve().parents[2]

# The notebook the click-through drives. With ALLOW_FIXTURE_STANDIN = True a missing TARGET is replaced by
# the stand-in fixture (and the run says so); notebook 01 is committed, so it is False: losing the notebook
# (or its concept check / exercise cells) fails the test instead of quietly falling back.
TARGET = "notebooks/01_actor_critic_basics.ipynb"
FIXTURE = "tests/e2e/fixture_course.ipynb"
ALLOW_FIXTURE_STANDIN = False

QUIZ_SHOW = r"""^\s*quiz\.show\(\s*["'](?P<id>\d\d\.\w+)["']"""
EXERCISE_CHECK = r"""^\s*(?:\w+\s*=\s*)?exercises\.check\(\s*["'](?P<id>\d\d\.\w+)["']\s*,\s*(?P<func>\w+)"""
EXERCISE_CELL = r"^# EXERCISE: {id}\s*$"

# git-ignored; the control notebook is written here (one folder per process) and removed afterwards
PROBE_DIR = f"tmp/e2e-probe-{os.getpid()}"

pytestmark = [pytest.mark.e2e]


# ---------------------------------------------------------------------------------------------- helpers

def click_through_notebook(note) -> str:
    """The notebook to click through: TARGET, or the fixture while TARGET does not exist (and say so)."""
    if (REPO / TARGET).exists():
        return TARGET
    if not ALLOW_FIXTURE_STANDIN:
        pytest.fail(f"{TARGET} is missing (ALLOW_FIXTURE_STANDIN is False)", pytrace=False)
    note(f"browser test: {TARGET} does not exist yet; clicked through the stand-in {FIXTURE} instead")
    return FIXTURE


def committed_notebooks() -> list[str]:
    """The course notebooks, as paths relative to the repository root."""
    return sorted(p.relative_to(REPO).as_posix() for p in (REPO / "notebooks").glob("*.ipynb"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plain_segments(markdown: str, min_len: int = 12) -> list[str]:
    """Pieces of a Markdown text that read the same once rendered: maths ($...$) cut out, emphasis and code
    markers dropped, whitespace collapsed; only pieces of at least ``min_len`` characters."""
    pieces = re.split(r"\$\$.+?\$\$|\$[^$]+?\$", markdown, flags=re.S)
    out = []
    for piece in pieces:
        text = " ".join(re.sub(r"[*`]", "", piece).split())
        if len(text) >= min_len:
            out.append(text)
    return out


def squash(text: str) -> str:
    return " ".join(text.split())


def score_pattern() -> re.Pattern:
    """A regex for the quiz's score line, built from ``quiz.Score``'s own wording with marker numbers, so the
    test follows the wording; groups: points, max_points, tried, total, solved, attempts."""
    from course_lib.quiz import Score

    markers = {"points": 9101, "max_points": 9102, "tried": 9103, "solved": 9104, "total": 9105}
    sample = str(Score(notebook="NB", attempts={"q": 9106}, **markers))
    groups = {str(v): rf"(?P<{k}>\d+(?:\.\d+)?)" for k, v in [*markers.items(), ("attempts", 9106)]}
    groups.update({"NB": r"\d\d", "attempts": "attempts?"})  # "1 attempt" vs "2 attempts"
    parts = re.split("(" + "|".join(groups) + ")", sample)
    return re.compile("".join(groups.get(part, re.escape(part)) for part in parts))


def read_score(text: str) -> dict[str, float]:
    """Parse the score line out of a widget's text (AssertionError if it is not there)."""
    match = score_pattern().search(squash(text))
    assert match, f"no score line in the quiz widget's text:\n{text}"
    return {k: float(v) for k, v in match.groupdict().items()}


def first_single_choice_check(cells):
    """The first ``quiz.show`` cell whose question is single-choice, and that question."""
    from course_lib.quiz_bank import get_question

    start = 0
    while True:
        cell = first_cell(cells, QUIZ_SHOW, start)   # LookupError when there is none left
        question = get_question(re.search(QUIZ_SHOW, cell.source, re.M)["id"])
        if question.kind == "single":
            return cell, question
        start = cell.index + 1


def expected_verdict(cells, check_cell, exercise_id: str, func_name: str) -> str:
    """PASS or FAIL for the notebook's own exercise cell, computed here with the same checker."""
    from course_lib import exercises
    from course_lib.exercises.cells import exec_cell

    source = first_cell(cells, EXERCISE_CELL.format(id=re.escape(exercise_id))).source
    assert first_cell(cells, EXERCISE_CELL.format(id=re.escape(exercise_id))).index < check_cell.index
    return "PASS" if exercises.check(exercise_id, exec_cell(source, func_name), quiet=True).passed else "FAIL"


# ---------------------------------------------------------------------------------------------- tests

@pytest.mark.timeout(900)
def test_concept_check_and_exercise_click_through(lab, page, shots_dir, e2e_note):
    from course_lib.quiz_bank import check_answer

    rel = click_through_notebook(e2e_note)
    path = REPO / rel
    before = digest(path)
    cells = read_cells(path)
    quiz_cell, question = first_single_choice_check(cells)
    qid = question.id
    wrong = next(c for c in question.choices if not c.correct)
    right = next(c for c in question.choices if c.correct)
    check_cell = first_cell(cells, EXERCISE_CHECK)
    check_match = re.search(EXERCISE_CHECK, check_cell.source, re.M)
    exercise_id, func_name = check_match["id"], check_match["func"]
    verdict = expected_verdict(cells, check_cell, exercise_id, func_name)

    nb = NotebookPage(page, shots_dir)
    nb.open(lab.lab_url(rel), len(cells))
    nb.screenshot("clickthrough_opened")
    nb.clear_all_outputs()  # from here on, every output the test reads was made in this session

    # run everything down to the concept check
    nb.run_through(cells, quiz_cell.index)
    # the quiz widget of this question (a cell may show more than one): the innermost box naming its id
    quiz_out = nb.outputs(quiz_cell.index).locator(".widget-vbox").filter(has_text=qid).last
    quiz_out.wait_for(state="visible", timeout=60_000)
    # one checkbox per choice, labelled with the choice's own text ("a) ...")
    choices = quiz_out.locator("label:has(input[type=checkbox])")
    choices.first.wait_for(state="visible", timeout=30_000)
    labels = [squash(t).split(")", 1)[0] for t in choices.all_inner_texts()]
    assert labels == list(question.choice_ids), f"quiz {qid} shows choices {labels}"
    start = read_score(quiz_out.inner_text())
    nb.screenshot("quiz_ready", focus=quiz_cell.index)

    def submit(choice_id: str) -> str:
        choices.nth(labels.index(choice_id)).locator("input").check()
        quiz_out.locator("button.jupyter-button", has_text="Submit").click()
        feedback = plain_segments(check_answer(qid, choice_id).feedback)
        assert feedback, "the bank's feedback has no plain text to look for"
        page.wait_for_function(
            "([el, parts]) => parts.every(p => el.innerText.replace(/\\s+/g, ' ').includes(p))",
            arg=[quiz_out.element_handle(), feedback], timeout=30_000)
        return quiz_out.inner_text()

    # a wrong choice: its own explanation, not the right one's; one attempt counted, nothing solved
    text = submit(wrong.id)
    nb.screenshot("quiz_wrong_choice", focus=quiz_cell.index)
    assert not any(p in squash(text) for p in plain_segments(right.explain)), "right answer's explanation shown"
    after_wrong = read_score(text)
    assert after_wrong["attempts"] == start["attempts"] + 1
    assert after_wrong["solved"] == start["solved"]
    assert after_wrong["points"] == start["points"]

    # the right choice: success, one more solved; first-attempt points do not change on a second attempt
    text = submit(right.id)
    nb.screenshot("quiz_right_choice", focus=quiz_cell.index)
    assert not any(p in squash(text) for p in plain_segments(wrong.explain)), "old feedback still shown"
    after_right = read_score(text)
    assert after_right["attempts"] == start["attempts"] + 2
    assert after_right["solved"] == start["solved"] + 1
    assert after_right["points"] == start["points"], "a second attempt must not earn first-attempt points"
    assert after_right != start, "the score line did not change"

    # the debug-the-bug checker: run on from the quiz to the check cell, read its whole verdict (a first line,
    # indented continuation lines of <= 100 characters, after a FAIL the pointer to the hint last)
    nb.run_range(cells, quiz_cell.index + 1, check_cell.index)
    stdout = nb.outputs(check_cell.index).locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]')
    stdout.first.wait_for(state="visible", timeout=30_000)
    lines = verdict_lines(stdout.first.inner_text())
    nb.screenshot("exercise_checked", focus=check_cell.index)
    assert lines[0].startswith(f"{verdict} — {exercise_id}: "), f"checker said {lines[0]!r}, expected {verdict}"
    if verdict == "FAIL":
        from course_lib import exercises

        assert squash(lines[-1]) == f'(stuck? exercises.hint("{exercise_id}"))', lines
        fail = squash(" ".join(lines))
        leaked = [s for h in exercises.get_exercise(exercise_id).hints for s in code_spans(h) if s in fail]
        assert not leaked, f"the FAIL shows code from the hints {leaked}: {fail}"
    assert not page.errors, f"JavaScript errors in the page: {page.errors}"
    assert digest(path) == before, f"{rel} was modified on disk by the browser session"


def widget_cells(path: Path) -> list[int]:
    """Index of the cell of each saved widget-view output (one entry per output, in order)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [i for i, c in enumerate(cells) if c["cell_type"] == "code"
            for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]


def saved_widget_outputs(path: Path) -> int:
    """How many outputs of the saved notebook are widget views."""
    return len(widget_cells(path))


EXPLORER_SOURCE = re.compile(r"\bwidgets\.interact(?:ive)?\(|^\s*interact(?:ive)?\(", re.M)
TQDM_SOURCE = re.compile(r"\btqdm\(")
FIXTURE_READ_FIRST = "fixture (read-first)"   # the fixture as the build writes it: converted by read_first


def read_first_problems(cells, facts: list[dict]) -> list[str]:
    """What a never-run notebook must not show, from what each cell's output area shows (``output_facts``):
    raw widget text (``interactive(``, ``IntSlider(``, ``HBox(``), a progress bar at 0 %, a tqdm cell without
    a finished bar, an explorer without a loaded picture with alt text or without the "make it live" line, a
    concept check without its choices as text."""
    from course_lib.read_first import LIVE_LINE, RAW_WIDGET_TEXT
    from course_lib.quiz_bank import get_question

    problems = []
    for cell, fact in zip(cells, facts):
        text = fact["text"]
        raw = RAW_WIDGET_TEXT.search(text)
        if raw:
            problems.append(f"cell {cell.index}: raw widget text {raw.group(0)!r} in {squash(text)[:120]!r}")
        if cell.cell_type != "code":
            continue
        if EXPLORER_SOURCE.search(cell.source):
            pictures = [i for i in fact["imgs"] if i["ok"] and i["alt"] not in ("", "Image")]
            if not pictures:
                problems.append(f"cell {cell.index}: explorer without a loaded picture with alt text {fact['imgs']}")
            if LIVE_LINE not in squash(text):
                problems.append(f"cell {cell.index}: explorer without the line {LIVE_LINE!r}")
        if TQDM_SOURCE.search(cell.source):
            bars = re.findall(r"(\d+)% (\d+)/(\d+)", squash(text))
            if not bars or any(p != "100" or done != total for p, done, total in bars):
                problems.append(f"cell {cell.index}: progress bar not shown finished: {bars}")
        quiz = re.search(QUIZ_SHOW, cell.source, re.M)
        if quiz:
            missing = [c.id for c in get_question(quiz["id"]).choices if f"{c.id})" not in text]
            if quiz["id"] not in text or missing:
                problems.append(f"cell {cell.index}: concept check {quiz['id']} without its text (missing {missing})")
    return problems


def notebook_under_test(rel: str) -> Path:
    """The file to open: a committed notebook, or the fixture converted as the build converts notebooks
    (written to PROBE_DIR, removed by the caller)."""
    if rel != FIXTURE_READ_FIRST:
        return REPO / rel
    from course_lib.read_first import read_first_notebook

    probe_dir = REPO / PROBE_DIR
    probe_dir.mkdir(parents=True, exist_ok=True)
    probe = probe_dir / "fixture_read_first.ipynb"
    nb = read_first_notebook(json.loads((REPO / FIXTURE).read_text(encoding="utf-8")))
    probe.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return probe


@pytest.mark.timeout(240)
@pytest.mark.parametrize("rel", committed_notebooks() + [FIXTURE_READ_FIRST])
def test_never_run_notebook_reads_well(lab, page, shots_dir, rel):
    """Opened as a fresh clone sees it (untrusted, never run): no raw widget text and no 0 % bar; each
    explorer a picture with alt text and the "make it live" line; each concept check its question and choices;
    no widget at all (so none is dead) and no widget error. Then trusted: exactly the same texts and pictures,
    so trusting changes nothing. The file on disk stays as it was."""
    path = notebook_under_test(rel)
    try:
        before = digest(path)
        cells = read_cells(path)
        explorers = [c.index for c in cells if c.cell_type == "code" and EXPLORER_SOURCE.search(c.source)]
        assert explorers, f"{rel}: no explorer cell found, so the explorer checks would be vacuous"
        nb = NotebookPage(page, shots_dir)
        url = lab.lab_url(path.relative_to(REPO).as_posix())

        nb.open(url, len(cells))
        nb.wait_widgets_settled()
        untrusted = nb.output_facts()
        nb.screenshot(f"never_run_{path.stem}", focus=explorers[0])
        assert not nb.widget_errors(), f"{rel}: widget error placeholders: {nb.widget_errors()}"
        assert nb.rendered_widget_count() == 0, f"{rel}: a widget rendered in a never-run notebook"
        problems = read_first_problems(cells, untrusted)
        assert not problems, f"{rel} (untrusted, never run):\n" + "\n".join(problems[:20])

        lab.trust(path)
        nb.open(url, len(cells))
        nb.wait_widgets_settled()
        trusted = nb.output_facts()
        nb.screenshot(f"never_run_trusted_{path.stem}", focus=explorers[0])
        assert nb.rendered_widget_count() == 0 and not nb.widget_errors()
        changed = [i for i, (u, t) in enumerate(zip(untrusted, trusted)) if u != t]
        assert not changed, f"{rel}: trusting changed the outputs of cells {changed}: " + \
            "; ".join(f"{untrusted[i]} -> {trusted[i]}" for i in changed[:2])[:1500]
        assert digest(path) == before, f"{rel} was modified on disk by opening it"
    finally:
        if rel == FIXTURE_READ_FIRST:
            shutil.rmtree(REPO / PROBE_DIR, ignore_errors=True)


@pytest.mark.timeout(180)
def test_raw_widget_outputs_are_detected(lab, page, shots_dir):
    """The control for the test above: the fixture as the kernel saved it (widget views and state, not yet
    converted) shows, untrusted, the raw ``interactive(`` text and the 0 % bar, and the checks say so."""
    cells = read_cells(REPO / FIXTURE)
    nb = NotebookPage(page, shots_dir)
    nb.open(lab.lab_url(FIXTURE), len(cells))
    nb.wait_widgets_settled()
    nb.screenshot("control_raw_widget_outputs")
    problems = "\n".join(read_first_problems(cells, nb.output_facts()))
    for expected in ("raw widget text 'interactive('", "0%", "explorer without a loaded picture",
                     "explorer without the line", "progress bar not shown finished"):
        assert expected in problems, f"the raw fixture should show {expected!r}; the checks found:\n{problems}"


@pytest.mark.timeout(180)
def test_stripped_widget_state_is_detected(lab, page, shots_dir):
    """The control for the test above: a trusted notebook whose widget state was stripped shows the
    placeholder, and ``widget_errors`` catches it."""
    source = json.loads((REPO / FIXTURE).read_text(encoding="utf-8"))
    assert source["metadata"].pop("widgets", None), "the fixture should carry saved widget state"
    probe_dir = REPO / PROBE_DIR
    probe_dir.mkdir(parents=True, exist_ok=True)
    probe = probe_dir / "fixture_without_widget_state.ipynb"
    probe.write_text(json.dumps(source), encoding="utf-8")
    try:
        lab.trust(probe)
        nb = NotebookPage(page, shots_dir)
        nb.open(lab.lab_url(probe.relative_to(REPO).as_posix()), len(source["cells"]))
        nb.wait_widgets_settled()
        nb.screenshot("control_stripped_widget_state")
        errors = nb.widget_errors()
        assert errors, "a trusted notebook without widget state should show an error placeholder"
        assert nb.rendered_widget_count() < saved_widget_outputs(probe)
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)


def test_fixture_is_current():
    """The committed fixture matches what build_fixture.py makes now and carries saved widget state (it is
    the kernel's raw output; the read-first test converts it, the controls use it as it is)."""
    from build_fixture import fixture_cells

    saved = json.loads((REPO / FIXTURE).read_text())
    assert [(c["cell_type"], "".join(c["source"])) for c in saved["cells"]] == [
        (c.cell_type, c.source) for c in fixture_cells()], "stale fixture: run tests/e2e/build_fixture.py"
    assert saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
