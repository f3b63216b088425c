"""The committed notebooks are built from notebooks/src/*.py; these tests keep the two in step."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from build_notebook import parse_percent  # noqa: E402

SOURCES = sorted((ROOT / "notebooks" / "src").glob("*.py"))


def test_parse_percent_splits_cells_strips_markdown_and_keeps_tags():
    text = "# %% [markdown]\n# # Title\n# prose $x$\n\n# %%\nx = 1\n\n# %% tags=[\"exercise\"]\ny = 2\n"
    cells = parse_percent(text)
    assert [c.cell_type for c in cells] == ["markdown", "code", "code"]
    assert cells[0].source == "# Title\nprose $x$"
    assert cells[1].source == "x = 1"
    assert cells[2].source == "y = 2" and cells[2].metadata["tags"] == ["exercise"]


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_committed_notebook_matches_its_source(source):
    notebook = ROOT / "notebooks" / f"{source.stem}.ipynb"
    assert notebook.exists(), f"{notebook.name} is missing: run `make notebooks`"
    committed = [(c["cell_type"], "".join(c["source"])) for c in json.loads(notebook.read_text())["cells"]]
    built = [(c.cell_type, c.source) for c in parse_percent(source.read_text())]
    assert committed == built, f"{notebook.name} is stale: rebuild it with `make notebooks` after editing {source.name}"


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_committed_notebook_has_outputs_and_no_errors(source):
    cells = json.loads((ROOT / "notebooks" / f"{source.stem}.ipynb").read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert any(c["outputs"] for c in code), "committed without outputs"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{len(errors)} stored error output(s)"
