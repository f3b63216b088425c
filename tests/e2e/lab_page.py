"""Drive one open notebook in JupyterLab 4 the way a learner does: menus, clicks and the keyboard.

The DOM hooks used here are JupyterLab's and ipywidgets' public CSS classes (``.jp-Notebook``, ``.jp-Cell``,
``.jp-InputPrompt``, ``.jp-OutputArea-output``, ``.jp-Notebook-ExecutionIndicator[data-status]``,
``.widget-radio-box``, ``.jupyter-button``). Every wait is on a condition of the page (a prompt number, the
kernel status, a text) with a deadline, never a bare sleep, so a broken page fails instead of hanging.

Cells are addressed by their index in the ``.ipynb`` file, which is also their order in the DOM (the lab
settings in ``lab_server.py`` turn off virtual scrolling, so every cell is in the DOM).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page

# What the widget manager writes into an output it cannot render (jupyterlab-manager's own strings).
WIDGET_ERROR_TEXTS = ("Error displaying widget", "model not found", "Failed to load model class",
                      "Could not create a view")
WIDGET_LOADING_TEXT = "Loading widget..."
TRACEBACK_TEXT = "Traceback (most recent call last)"

# JavaScript: the state of code cells `indices` — "done" when every one shows an execution count,
# "error: <text>" as soon as any cell of the notebook shows a Python traceback, else false (keep waiting).
_RUN_STATE_JS = """
([indices, traceback]) => {
  const cells = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');
  for (const out of document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')) {
    if (out.textContent.includes(traceback)) return 'error: ' + out.textContent.slice(0, 1500);
  }
  for (const i of indices) {
    const cell = cells[i];
    if (!cell) return false;
    const prompt = (cell.querySelector('.jp-InputPrompt') || {}).textContent || '';
    if (!/^\\[\\d+\\]:$/.test(prompt.trim())) return false;
  }
  const indicator = document.querySelector(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
  if (indicator && indicator.getAttribute('data-status') !== 'idle') return false;
  return 'done';
}
"""

# JavaScript: true once the visible notebook has a kernel (toolbar shows its name) and that kernel is idle.
_KERNEL_READY_JS = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return false;
  const name = (panel.querySelector('.jp-Toolbar-kernelName') || {}).textContent || '';
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return name.trim() !== '' && !name.includes('No Kernel') && indicator !== null
         && indicator.getAttribute('data-status') === 'idle';
}
"""


@dataclass(frozen=True)
class CellSource:
    """One cell of the notebook file: its index (= DOM order), type and source text."""

    index: int
    cell_type: str      # "code" | "markdown" | "raw"
    source: str


def read_cells(path: Path) -> list[CellSource]:
    """The cells of an ``.ipynb`` file, in order."""
    raw = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [CellSource(i, c["cell_type"], "".join(c["source"])) for i, c in enumerate(raw)]


def first_cell(cells: list[CellSource], pattern: str, start: int = 0) -> CellSource:
    """The first code cell at or after ``start`` whose source matches the regex ``pattern``.

    Raises LookupError naming the pattern if there is none.
    """
    rx = re.compile(pattern, re.MULTILINE)
    for cell in cells[start:]:
        if cell.cell_type == "code" and rx.search(cell.source):
            return cell
    raise LookupError(f"no code cell matching {pattern!r} from cell {start} on")


class NotebookPage:
    """A JupyterLab tab showing one notebook, driven through the page's UI."""

    def __init__(self, page: Page, shots_dir: Path | None = None) -> None:
        self.page = page
        self.shots_dir = shots_dir
        self.shots: list[Path] = []

    # ------------------------------------------------------------------ locating
    @property
    def panel(self) -> Locator:
        """The visible notebook panel (other tabs are hidden, not removed)."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")

    def cell(self, index: int) -> Locator:
        """The cell at ``index`` (file order)."""
        return self.panel.locator(".jp-Notebook .jp-Cell").nth(index)

    def outputs(self, index: int) -> Locator:
        """The output area of cell ``index``."""
        return self.cell(index).locator(".jp-OutputArea")

    # ------------------------------------------------------------------ opening
    def open(self, url: str, n_cells: int, timeout_ms: float = 90_000) -> None:
        """Load ``url`` (a notebook's lab URL) and wait until all ``n_cells`` cells are in the DOM and the
        kernel reports idle."""
        self.page.goto(url, timeout=timeout_ms)
        self.panel.locator(".jp-Notebook .jp-Cell").nth(n_cells - 1).wait_for(state="attached", timeout=timeout_ms)
        self.wait_kernel_idle(timeout_ms)

    def wait_kernel_idle(self, timeout_ms: float = 90_000) -> None:
        """Wait until a kernel is attached (the toolbar names it) and the kernel indicator reads idle.

        The indicator alone is not enough: it also reads idle while the notebook still has "No Kernel",
        and a cell run then is silently dropped."""
        self.page.wait_for_function(_KERNEL_READY_JS, timeout=timeout_ms, polling=100)

    # ------------------------------------------------------------------ running
    def select(self, index: int) -> None:
        """Make cell ``index`` the active cell in command mode (click its prompt, then Escape)."""
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").first.click()
        self.page.keyboard.press("Escape")
        self.page.wait_for_function(
            """(i) => { const c = document.querySelectorAll(
                 '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[i];
                 return c && c.classList.contains('jp-mod-active'); }""",
            arg=index, timeout=10_000)

    def active_index(self) -> int:
        """Index of the active cell (-1 if none)."""
        return int(self.page.evaluate(
            """() => [...document.querySelectorAll(
                 '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')]
                 .findIndex(c => c.classList.contains('jp-mod-active'))"""))

    def run_through(self, cells: list[CellSource], last: int, timeout_ms: float = 240_000) -> None:
        """Run every cell from the top down to and including cell ``last`` (see :meth:`run_range`)."""
        self.run_range(cells, 0, last, timeout_ms)

    def run_range(self, cells: list[CellSource], first: int, last: int, timeout_ms: float = 240_000) -> None:
        """Run cells ``first`` .. ``last`` (inclusive) as a learner does: select ``first``, Shift+Enter through
        the cells before ``last``, Ctrl+Enter on ``last`` (so no new cell is added at the end). Waits until
        each code cell in the range shows its execution count; a traceback in any output fails at once with
        its text."""
        if not 0 <= first <= last < len(cells):
            raise ValueError(f"need 0 <= first <= last < {len(cells)} cells; got first={first}, last={last}")
        self.select(first)
        for _ in range(last - first):
            self.page.keyboard.press("Shift+Enter")
        # Shift+Enter leaves the next cell active: check we are where we think before running the last one
        self.page.wait_for_function(
            """(i) => { const c = document.querySelectorAll(
                 '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[i];
                 return c && c.classList.contains('jp-mod-active'); }""",
            arg=last, timeout=10_000)
        self.page.keyboard.press("Control+Enter")
        code = [c.index for c in cells[first: last + 1] if c.cell_type == "code" and c.source.strip()]
        self.wait_executed(code, timeout_ms)

    def run_cell(self, index: int, timeout_ms: float = 120_000) -> None:
        """Run one cell (select it, Ctrl+Enter) and wait for its execution count."""
        self.select(index)
        self.page.keyboard.press("Control+Enter")
        self.wait_executed([index], timeout_ms)

    def wait_executed(self, indices: list[int], timeout_ms: float) -> None:
        """Wait until each code cell in ``indices`` shows ``[n]:`` and the kernel is idle; raise
        AssertionError with the traceback if a cell failed."""
        state = self.page.wait_for_function(_RUN_STATE_JS, arg=[indices, TRACEBACK_TEXT],
                                            timeout=timeout_ms, polling=250).json_value()
        if state != "done":
            raise AssertionError(f"a cell raised an exception in the browser kernel:\n{state}")

    # ------------------------------------------------------------------ widgets
    def wait_widgets_settled(self, timeout_ms: float = 60_000) -> int:
        """Wait until no output still says "Loading widget..."; return how many outputs are widget outputs
        (a rendered widget view or the widget manager's error placeholder).

        Raises playwright's TimeoutError if a widget never renders (neither a view nor an error).
        """
        self.page.wait_for_function(
            """(loading) => ![...document.querySelectorAll(
                 '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
                 .some(o => o.textContent.trim() === loading)""",
            arg=WIDGET_LOADING_TEXT, timeout=timeout_ms, polling=250)
        return self.rendered_widget_count() + len(self.widget_errors())

    def rendered_widget_count(self) -> int:
        """How many outputs hold a real widget view. (The widget renderer gives its output no MIME-type
        attribute; a view is a descendant with the ``jupyter-widgets`` class, while the error placeholder
        puts that class on the output itself and holds only text.)"""
        return self.panel.locator(".jp-OutputArea-output:has(.jupyter-widgets)").count()

    def widget_errors(self) -> list[str]:
        """Texts of outputs that show a widget error placeholder instead of a widget (empty when all good)."""
        found = []
        for out in self.panel.locator(".jp-OutputArea-output").all():
            text = out.inner_text().strip()
            if out.locator(".jupyter-widgets-error-widget").count() or any(e in text for e in WIDGET_ERROR_TEXTS):
                found.append(text[:300])
        return found

    # ------------------------------------------------------------------ evidence
    def screenshot(self, name: str, focus: int | None = None) -> Path | None:
        """Save a PNG of the window (cell ``focus`` scrolled into view) as ``<shots_dir>/<nn>_<name>.png``."""
        if self.shots_dir is None:
            return None
        if focus is not None:
            self.cell(focus).scroll_into_view_if_needed()
        path = self.shots_dir / f"{len(list(self.shots_dir.glob('*.png'))) + 1:02d}_{name}.png"
        self.page.screenshot(path=str(path))
        self.shots.append(path)
        return path
