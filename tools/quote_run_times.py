"""Quote the run times of notebooks/run_times.json everywhere the course states them.

    .venv/bin/python tools/quote_run_times.py      # after `make time-notebooks`

Rewrites, and nothing else: the "Running all cells takes **N s**" phrase and the load average in each
notebook's header (in notebooks/src/*.py and in the committed .ipynb, so no rebuild is needed), the last column
of the README's course map, and the README sentence giving the load average and the total for all seven.
tests/test_run_times.py checks that the quotes agree with the file.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
HEADER_TIME = re.compile(r"(Running all cells takes \*\*)(\d+)( s\*\*)")
HEADER_LOAD = re.compile(r"(load average )(\d+\.\d+)")


def quote_header(text: str, seconds: int, load: float) -> str:
    """The header text with its run time and load average replaced."""
    text, n = HEADER_TIME.subn(rf"\g<1>{seconds}\g<3>", text, count=1)
    if n != 1:
        raise ValueError("no 'Running all cells takes **N s**' phrase in the header")
    return HEADER_LOAD.sub(rf"\g<1>{load:.2f}", text, count=1)


def main() -> None:
    times = json.loads((NOTEBOOKS / "run_times.json").read_text())
    load = float(times["load_average"])
    readme = (ROOT / "README.md").read_text()
    for name, seconds in times["seconds"].items():
        quoted = round(seconds)
        source = NOTEBOOKS / "src" / (Path(name).stem + ".py")
        source.write_text(quote_header(source.read_text(), quoted, load))
        notebook_path = NOTEBOOKS / name
        notebook = nbformat.read(notebook_path, as_version=4)
        notebook.cells[0].source = quote_header(notebook.cells[0].source, quoted, load)
        nbformat.write(notebook, notebook_path)
        readme = re.sub(rf"^(\| {name[:2]} \|.*\| )\d+ s \|$", rf"\g<1>{quoted} s |", readme, count=1,
                        flags=re.M)
    total = round(sum(times["seconds"].values()))
    readme = re.sub(r"\(load\s+average \d+\.\d+\):\s+\d+ s for all seven", f"(load\naverage {load:.2f}): {total} s "
                    "for all seven", readme, count=1)
    (ROOT / "README.md").write_text(readme)
    print(f"quoted {len(times['seconds'])} run times (total {total} s, load average {load:.2f})")


if __name__ == "__main__":
    main()
