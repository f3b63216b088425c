"""A claim cell fails when the data stop supporting its sentence: proven on a real notebook with altered data.

Notebook 03 is executed top to bottom (nbclient, fresh kernel) with one extra first cell that swaps two
learners' stored runs as ``stored_results.load`` returns them — the TD learner's results under GAE's name and
the other way round. The notebook's prose says GAE is far ahead of TD early in training; on the altered data
that is false, and the run must stop at that sentence's hidden claim cell with ``ClaimNotSupported`` quoting it.
(Unaltered, the same notebook passes: that is `make test`'s nbval run.)
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "03_baselines_and_advantage.ipynb"
SENTENCE = "At the early checkpoint the GAE learner is far ahead"

SWAP_TD_AND_GAE = '''
import course_lib.stored_results as _stored_results

_real_load = _stored_results.load


def _altered_load(name):
    """The stored file as usual, but with the TD and GAE learners' runs swapped."""
    stored = _real_load(name)
    if name == "nb03_learning_curves":
        methods = stored.data["methods"]
        td, gae = [label for label in methods if "TD" in label or "GAE" in label]
        methods[td]["runs"], methods[gae]["runs"] = methods[gae]["runs"], methods[td]["runs"]
    return stored


_stored_results.load = _altered_load
'''


@pytest.mark.timeout(600)
def test_claim_cell_fails_on_altered_data_quoting_its_sentence():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert any(SENTENCE in "".join(c.source) for c in notebook.cells if "claim" in c.metadata.get("tags", [])), \
        f"notebook 03 no longer has the claim cell this test relies on ({SENTENCE!r}): pick another claim"
    notebook.cells.insert(0, nbformat.v4.new_code_cell(SWAP_TD_AND_GAE))
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    with pytest.raises(CellExecutionError):
        client.execute()
    failed = [c for c in notebook.cells if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1, "execution stops at the first failing cell"
    cell = failed[0]
    error = next(o for o in cell.outputs if o.output_type == "error")
    assert "claim" in cell.metadata.get("tags", []), f"the first cell to fail is not a claim cell:\n{cell.source[:300]}"
    assert error.ename == "ClaimNotSupported", f"{error.ename}: {error.evalue}"
    assert f'The data no longer support the claim "{SENTENCE}' in error.evalue
