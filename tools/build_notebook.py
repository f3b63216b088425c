"""Build the course notebooks from their readable sources, execute them, and save them with outputs.

Sources live in ``notebooks/src/NN_name.py`` in Jupytext's "percent" format (also read by VS Code and Spyder)::

    # %% [markdown]
    # # A heading

    # %% tags=["claim"] jupyter={"source_hidden": true}
    claim("...", holds, evidence)

Jupytext parses them, so cell tags and metadata on a marker line round-trip into the notebook. Each notebook is
executed top to bottom by nbclient in a fresh kernel (working directory ``notebooks/``) and the wall-clock run
time is printed. Before it is written, every widget output becomes its read-first version
(``course_lib.read_first``): an explorer a picture of its default view and the line "Run the cells above, then
this one, to make it live.", a progress bar its final text, a concept check its question and choices as text.
The saved notebook holds no widget view and no widget state, so it reads the same trusted or not, and
nothing in it is a dead control; running a cell makes its own output live.

Usage::

    python tools/build_notebook.py notebooks/src/01_actor_critic_basics.py ...   # build (and execute)
    python tools/build_notebook.py --no-execute notebooks/src/01_*.py             # write without running
    python tools/build_notebook.py --time [notebooks/NN_name.ipynb ...]            # time committed notebooks
                                                                                  # (writes nothing)

``--time`` runs each committed notebook (default: all of them) from a fresh kernel and prints one line per
notebook and a total; ``--json FILE`` also writes those seconds (with the machine and its load) to FILE.
``make time-notebooks`` writes ``notebooks/run_times.json``, which the README's course map and each notebook's
header quote (``tests/test_run_times.py`` checks that they agree).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.output_widget import OutputWidget

from course_lib.read_first import read_first_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# Kernels started here must not read or write the author's own course progress (quiz scores, exercise results):
# a committed notebook shows a learner's fresh start. "off" keeps progress in memory (course_lib/progress.py).
KERNEL_ENV = {"COURSE_PROGRESS_FILE": "off"}


def read_source(source: Path) -> nbformat.NotebookNode:
    """The notebook described by a percent-format ``source``: its cells, tags and cell metadata.

    Cell ids are derived from the cell's position and kind, so rebuilding an unchanged source gives an
    unchanged notebook (no random ids in diffs).
    """
    notebook = jupytext.read(source, fmt="py:percent")
    for index, cell in enumerate(notebook.cells):
        cell.id = hashlib.sha1(f"{source.stem}:{index}:{cell.cell_type}".encode()).hexdigest()[:12]
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    }
    return notebook


class RecordingOutputWidget(OutputWidget):
    """nbclient's stand-in for a front end's Output widget, without echoing each output back to the kernel.

    nbclient records what an explorer draws into its Output widget (the saved widget state the read-first step
    turns into a picture) and, like a browser, also sends every such output back to the kernel as a comm
    message on the shell channel, while it is itself waiting on that channel for the cell's reply. Builds then
    sometimes stalled at an explorer cell for exactly the per-cell timeout, with the kernel idle, and went on
    normally afterwards. Nothing here needs the kernel's copy of those outputs, so the echo is left out.
    """

    def sync_state(self) -> None:
        """Record only (``self.outputs`` and the client's widget state are updated by the caller)."""


def execute(notebook: nbformat.NotebookNode, timeout: int = 600) -> float:
    """Run every cell of ``notebook`` in place in a fresh kernel (cwd ``notebooks/``); return the seconds taken."""
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}, store_widget_state=True)
    client.widget_registry["@jupyter-widgets/output"]["OutputModel"] = RecordingOutputWidget
    saved = {key: os.environ.get(key) for key in KERNEL_ENV}
    os.environ.update(KERNEL_ENV)  # the kernel inherits this process's environment when it starts
    try:
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def build(source: Path, run: bool = True, timeout: int = 600) -> tuple[Path, float]:
    """Write (and optionally execute) ``notebooks/<source stem>.ipynb``; return its path and run seconds."""
    notebook = read_source(source)
    seconds = execute(notebook, timeout) if run else 0.0
    notebook = nbformat.from_dict(read_first_notebook(notebook))   # static widgets; widget state dropped
    for cell in notebook.cells:  # keep committed notebooks quiet in diffs: no execution timestamps
        cell.metadata.pop("execution", None)
    nbformat.validate(notebook)
    target = NOTEBOOKS / f"{source.stem}.ipynb"
    nbformat.write(notebook, target)
    return target, seconds


def time_notebooks(paths: list[Path], timeout: int = 300) -> dict[str, float]:
    """Run each committed notebook top to bottom without writing it; return ``{name: seconds}``."""
    times: dict[str, float] = {}
    for path in paths:
        seconds = execute(nbformat.read(path, as_version=4), timeout)
        times[path.name] = round(seconds, 1)
        print(f"{path.name}: {seconds:.1f} s", flush=True)
    total = sum(times.values())
    print(f"all {len(paths)}: {total:.1f} s ({total / 60:.1f} min); load average now {_load_average()}")
    return times


def _load_average() -> float | None:
    """The 1-minute load average (None where the system does not report it)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="sources to build, or notebooks to time with --time")
    parser.add_argument("--no-execute", action="store_true", help="write the notebook without running it")
    parser.add_argument("--time", action="store_true", help="time committed notebooks; write nothing")
    parser.add_argument("--json", type=Path, help="with --time: also write the seconds to this JSON file")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    if args.time:
        paths = args.paths or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
        times = time_notebooks(paths, args.timeout)
        if args.json:
            record = {"seconds": times, "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, "
                                                   f"Python {platform.python_version()}",
                      "load_average": _load_average(), "tool": "tools/build_notebook.py --time"}
            args.json.write_text(json.dumps(record, indent=1) + "\n")
        return 0
    if not args.paths:
        parser.error("name at least one source in notebooks/src/")
    for source in args.paths:
        target, seconds = build(source, run=not args.no_execute, timeout=args.timeout)
        ran = f" — ran top to bottom in {seconds:.1f} s" if not args.no_execute else ""
        print(f"wrote {target.relative_to(ROOT)}{ran}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
