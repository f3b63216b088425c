"""Each notebook's run time is measured by one tool, stays within budget, and is quoted the same everywhere.

`make time-notebooks` (``tools/build_notebook.py --time --json notebooks/run_times.json``) runs every committed
notebook top to bottom from a fresh kernel and records the seconds. The README's course map and each notebook's
header quote those numbers (rounded to whole seconds); nothing else is a source of run times.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMES_FILE = ROOT / "notebooks" / "run_times.json"
BUDGET_S = 150
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def measured() -> dict:
    return json.loads(TIMES_FILE.read_text())


def test_every_notebook_was_timed_within_budget():
    times = measured()
    assert sorted(times["seconds"]) == NOTEBOOKS, "re-run `make time-notebooks`: the set of notebooks changed"
    over = {n: s for n, s in times["seconds"].items() if s > BUDGET_S}
    assert not over, f"over the {BUDGET_S} s budget: {over}"
    assert times["machine"] and times["load_average"] is not None


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_readme_and_notebook_header_quote_the_measured_time(name):
    seconds = round(measured()["seconds"][name])
    readme = (ROOT / "README.md").read_text()
    row = next((line for line in readme.splitlines() if line.startswith(f"| {name[:2]} |")), None)
    assert row is not None, f"README course map has no row for {name}"
    assert row.rstrip(" |").endswith(f"{seconds} s"), f"README row for {name} should end with {seconds} s: {row}"
    header = json.loads((ROOT / "notebooks" / name).read_text())["cells"][0]
    text = "".join(header["source"])
    match = re.search(r"Running all cells takes \*\*(\d+) s\*\*", text)
    assert match, f"{name}: header must say 'Running all cells takes **N s**' (from notebooks/run_times.json)"
    assert int(match.group(1)) == seconds, f"{name}: header says {match.group(1)} s, measured {seconds} s"
