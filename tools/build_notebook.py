"""Build a course notebook from its readable source, execute it, and save it with outputs.

Sources live in ``notebooks/src/NN_name.py`` in the "percent" format that Jupytext, VS Code and Spyder read:

    # %% [markdown]
    # # A heading
    # Some prose with $\\LaTeX$.

    # %%
    x = 1 + 1
    print(x)

    # %% tags=["raises-exception"]
    ...

Markdown cells have their leading ``# `` stripped. ``tags=[...]`` on a code cell's marker becomes cell tags.
The notebook is executed top to bottom in a fresh kernel (working directory ``notebooks/``), widget state is
stored so that widgets show on reopening, and the wall-clock run time is printed so the README can list it.

Usage::

    python tools/build_notebook.py notebooks/src/01_actor_critic_basics.py [--no-execute] [--timeout 600]
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?(?P<rest>.*)$")


def parse_percent(text: str) -> list[nbformat.NotebookNode]:
    """Split a percent-format source into notebook cells (markdown and code), keeping tags."""
    cells: list[nbformat.NotebookNode] = []
    kind, tags, lines = None, [], []

    def flush() -> None:
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(re.sub(r"^# ?", "", line) for line in body.splitlines())
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = list(tags)
        cells.append(cell)

    for line in text.splitlines():
        match = MARKER.match(line)
        if match:
            flush()
            kind = "markdown" if match.group("md") else "code"
            rest = match.group("rest").strip()
            tags = ast.literal_eval(rest.split("=", 1)[1]) if rest.startswith("tags=") else []
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def build(source: Path, execute: bool = True, timeout: int = 600) -> tuple[Path, float]:
    """Write (and optionally execute) ``notebooks/<source stem>.ipynb``; return its path and run seconds."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = parse_percent(source.read_text())
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    target = source.parent.parent / f"{source.stem}.ipynb"
    seconds = 0.0
    if execute:
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(target.parent)}},
            store_widget_state=True,
        )
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    # keep committed notebooks quiet in diffs: no execution timestamps
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    nbformat.validate(notebook)
    nbformat.write(notebook, target)
    return target, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--no-execute", action="store_true", help="write the notebook without running it")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    for source in args.sources:
        target, seconds = build(source, execute=not args.no_execute, timeout=args.timeout)
        ran = f" — ran top to bottom in {seconds:.1f} s" if not args.no_execute else ""
        print(f"wrote {target}{ran}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
