"""The committed notebooks are built from notebooks/src/*.py (Jupytext percent format); these tests keep the
two in step, count the claim checks, and keep each exercise starter a single source."""
import json
import re
import sys
from pathlib import Path

import jupytext
import pytest

from course_lib import exercises

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from build_notebook import read_source  # noqa: E402

SOURCES = sorted((ROOT / "notebooks" / "src").glob("*.py"))
IDS = [s.stem for s in SOURCES]
MIN_CLAIMS = 6


def committed_cells(source: Path) -> list[dict]:
    return json.loads((ROOT / "notebooks" / f"{source.stem}.ipynb").read_text())["cells"]


def test_percent_format_round_trips_cell_kinds_tags_and_metadata():
    text = ('# %% [markdown]\n# # Title\n# prose $x$\n\n# %%\nx = 1\n\n# %% tags=["exercise"]\ny = 2\n\n'
            '# %% tags=["claim"] jupyter={"source_hidden": true}\nassert x == 1\n')
    cells = jupytext.reads(text, fmt="py:percent").cells
    assert [c.cell_type for c in cells] == ["markdown", "code", "code", "code"]
    assert cells[0].source == "# Title\nprose $x$"
    assert cells[1].source == "x = 1"
    assert cells[2].source == "y = 2" and cells[2].metadata["tags"] == ["exercise"]
    assert cells[3].metadata == {"tags": ["claim"], "jupyter": {"source_hidden": True}}
    # and back: writing the notebook as percent text and reading it again changes nothing
    again = jupytext.reads(jupytext.writes(jupytext.reads(text, fmt="py:percent"), fmt="py:percent"), fmt="py:percent")
    assert [(c.cell_type, c.source, c.metadata) for c in again.cells] == [(c.cell_type, c.source, c.metadata) for c in cells]


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_committed_notebook_matches_its_source(source):
    notebook = ROOT / "notebooks" / f"{source.stem}.ipynb"
    assert notebook.exists(), f"{notebook.name} is missing: run `make notebooks`"
    committed = [(c["cell_type"], "".join(c["source"]), c["metadata"].get("tags"), c["metadata"].get("jupyter"))
                 for c in committed_cells(source)]
    built = [(c.cell_type, c.source, c.metadata.get("tags"), c.metadata.get("jupyter"))
             for c in read_source(source).cells]
    assert committed == built, f"{notebook.name} is stale: rebuild it with `make notebooks` after editing {source.name}"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_committed_notebook_has_outputs_and_no_errors(source):
    code = [c for c in committed_cells(source) if c["cell_type"] == "code"]
    assert any(c["outputs"] for c in code), "committed without outputs"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{len(errors)} stored error output(s)"


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_claim_cells_check_the_prose_and_are_hidden(source):
    """At least MIN_CLAIMS claim cells; each calls claim() with a quoted sentence, hides its source, and its
    committed output shows the check passed."""
    claims = [c for c in committed_cells(source) if "claim" in c["metadata"].get("tags", [])]
    assert len(claims) >= MIN_CLAIMS, f"{source.stem}: {len(claims)} claim cells, at least {MIN_CLAIMS} expected"
    for cell in claims:
        text = "".join(cell["source"])
        assert cell["cell_type"] == "code" and re.search(r"\bclaim\(\s*[frb]?[\"']", text), \
            f"a claim cell must call claim(\"<sentence>\", ...):\n{text[:200]}"
        assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True, f"claim cell not hidden:\n{text[:200]}"
        shown = "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")
        assert "✓" in shown, f"claim cell without a passing output in the committed notebook:\n{text[:200]}"


def exercise_cells() -> list[tuple[str, str, str]]:
    """(notebook stem, exercise id, cell source) of every `# EXERCISE:` cell in the notebook sources."""
    found = []
    for source in SOURCES:
        for cell in jupytext.read(source, fmt="py:percent").cells:
            if cell.cell_type == "code" and cell.source.startswith("# EXERCISE:"):
                found.append((source.stem, cell.source.split("\n", 1)[0].split(":", 1)[1].strip(), cell.source))
    return found


def test_every_exercise_appears_exactly_once_in_its_notebook():
    ids = [eid for _, eid, _ in exercise_cells()]
    assert sorted(ids) == sorted(ex.id for ex in exercises.list_exercises()), "notebooks and registry disagree"
    assert len(ids) == len(set(ids)), "an exercise cell appears twice"
    for stem, eid, _ in exercise_cells():
        assert stem.startswith(eid[:2]), f"{eid} sits in notebook {stem}"


@pytest.mark.parametrize("stem,exercise_id,cell", exercise_cells(), ids=[e[1] for e in exercise_cells()])
def test_notebook_exercise_cell_is_the_registered_starter(stem, exercise_id, cell):
    """One source for each starter: the notebook's cell is exactly what the checker and grader treat as shipped."""
    assert cell.strip() == exercises.starter(exercise_id).strip(), (
        f"notebooks/src/{stem}.py: the `# EXERCISE: {exercise_id}` cell differs from the starter registered in "
        f"course_lib/exercises/nb{exercise_id[:2]}.py; change both together")
