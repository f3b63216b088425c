"""Build ``tests/e2e/fixture_course.ipynb``: a tiny notebook shaped like a course notebook, for the browser test.

It holds one concept check (``quiz.show``), one debug-the-bug exercise (the shipped buggy starter in an
``# EXERCISE:`` cell, then its ``exercises.check`` cell), a tqdm progress bar and an explorer
(``widgets.interactive`` drawing a figure), following the course's conventions. It is executed here with widget
state stored and saved *as the kernel left it*: widget views and state, the raw ``interactive(children=...``
text and the progress bar's ``0%`` text from display time. That is what ``tools/build_notebook.py`` gets before
its read-first step (``course_lib.read_first``), so the tests use it both ways: as it is, as the control that
shows raw widget text is detected, and converted, as one more read-first notebook. The browser test clicks
through it only while ``notebooks/01_actor_critic_basics.ipynb`` does not exist yet.

The question and exercise are the first of notebook 01 in the bank and the registry, so the fixture follows
the library when those change. Rebuild after such a change (``test_fixture_is_current`` says when)::

    .venv/bin/python tests/e2e/build_fixture.py
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixture_course.ipynb"
NOTEBOOK = "01"


def first_single_choice_question(notebook: str = NOTEBOOK) -> str:
    """Id of the first single-choice question of ``notebook`` in the quiz bank."""
    from course_lib.quiz_bank import load_bank

    for q in load_bank().values():
        if q.number == notebook and q.kind == "single":
            return q.id
    raise LookupError(f"the quiz bank has no single-choice question for notebook {notebook}")


def first_exercise(notebook: str = NOTEBOOK) -> str:
    """Id of the first debug-the-bug exercise of ``notebook``."""
    from course_lib import exercises

    found = exercises.list_exercises(notebook)
    if not found:
        raise LookupError(f"no exercise is registered for notebook {notebook}")
    return found[0].id


def fixture_cells() -> list[nbformat.NotebookNode]:
    """The fixture's cells (sources only), derived from the current bank and exercise registry."""
    from course_lib import exercises

    qid = first_single_choice_question()
    ex = exercises.get_exercise(first_exercise())
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    return [
        md("# Browser-test fixture\n\nA stand-in with the shape of a course notebook: one concept check and "
           "one debug-the-bug exercise. Built by `tests/e2e/build_fixture.py`; not part of the course."),
        code("from course_lib import exercises, quiz"),
        md("## Check your understanding"),
        code(f'quiz.show("{qid}")'),
        md("## Debug the bug"),
        code(exercises.starter(ex.id)),
        code(f'exercises.check("{ex.id}", {ex.func_name})'),
        md("## Explore"),
        code("import ipywidgets as widgets\nimport matplotlib.pyplot as plt\nfrom tqdm.auto import tqdm\n\n"
             "for _ in tqdm(range(3), desc=\"fixture steps\"):\n    pass"),
        code("def show_line(slope: int = 1) -> None:\n    fig, ax = plt.subplots(figsize=(3, 2))\n"
             "    ax.plot([0, 1], [0, slope])\n    ax.set_title(\"a line of slope k\")\n    plt.show()\n"
             "    print(f\"slope {slope}\")\n\n\n"
             "widgets.interactive(show_line, slope=widgets.IntSlider(value=1, min=0, max=3, description=\"k\"))"),
    ]


def build(target: Path = FIXTURE, timeout: int = 120) -> float:
    """Write the fixture notebook, executed in a fresh kernel with widget state stored; return run seconds."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = fixture_cells()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(target.parent)}})
    saved = os.environ.get("COURSE_PROGRESS_FILE")
    os.environ["COURSE_PROGRESS_FILE"] = "off"  # the fixture shows a fresh learner, not the author's progress
    try:
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    finally:
        if saved is None:
            os.environ.pop("COURSE_PROGRESS_FILE", None)
        else:
            os.environ["COURSE_PROGRESS_FILE"] = saved
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # no timestamps: quiet diffs
    nbformat.validate(nb)
    nbformat.write(nb, target)
    return seconds


if __name__ == "__main__":
    took = build()
    print(f"wrote {FIXTURE} (ran in {took:.1f} s)")
    sys.exit(0)
