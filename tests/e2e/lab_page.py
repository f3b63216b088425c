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

_CELLS = "document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')"

# JavaScript: the state of code cells `indices` — "done" when every one shows an execution count and the
# kernel is idle; "error: <text>" as soon as a cell not in `mayRaise` shows a Python traceback; else false.
_RUN_STATE_JS = """
([indices, mayRaise, traceback]) => {
  const cells = %s;
  for (let i = 0; i < cells.length; i++) {
    if (mayRaise.includes(i)) continue;
    for (const out of cells[i].querySelectorAll('.jp-OutputArea-output')) {
      if (out.textContent.includes(traceback)) return 'error in cell ' + i + ': ' + out.textContent.slice(0, 1500);
    }
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
""" % _CELLS

# JavaScript: true when cell `i` is the active cell.
_ACTIVE_JS = "(i) => { const c = %s[i]; return !!c && c.classList.contains('jp-mod-active'); }" % _CELLS

# JavaScript: true when no cell has an output and every code cell's prompt is empty ("[ ]:").
_CLEARED_JS = """
() => [...%s].every(c => c.querySelectorAll('.jp-OutputArea-output').length === 0
                        && !/\\d|\\*/.test((c.querySelector('.jp-InputPrompt') || {}).textContent || ''))
""" % _CELLS

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
    tags: tuple[str, ...] = ()

    @property
    def runs(self) -> bool:
        """True for a code cell with something in it (the kernel gives it an execution count)."""
        return self.cell_type == "code" and self.source.strip() != ""


def read_cells(path: Path) -> list[CellSource]:
    """The cells of an ``.ipynb`` file, in order."""
    raw = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [CellSource(i, c["cell_type"], "".join(c["source"]), tuple(c.get("metadata", {}).get("tags", ())))
            for i, c in enumerate(raw)]


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
        self.shots: list[Path] = []   # screenshots taken through this object, in order

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
        # Claim cells are committed with their code hidden; a hidden input shows no "[n]:" prompt, which is how
        # the test sees that a cell has run. Show all code, as a learner can from the View menu.
        self.menu("View", "Expand All Code")

    def wait_kernel_idle(self, timeout_ms: float = 90_000) -> None:
        """Wait until a kernel is attached (the toolbar names it) and the kernel indicator reads idle.

        The indicator alone is not enough: it also reads idle while the notebook still has "No Kernel",
        and a cell run then is silently dropped."""
        self.page.wait_for_function(_KERNEL_READY_JS, timeout=timeout_ms, polling=100)

    # ------------------------------------------------------------------ running
    def wait_active(self, index: int, timeout_ms: float = 10_000) -> None:
        """Wait until cell ``index`` is the active cell."""
        self.page.wait_for_function(_ACTIVE_JS, arg=index, timeout=timeout_ms)

    def select(self, index: int) -> None:
        """Make cell ``index`` the active cell in command mode (click its prompt, then Escape)."""
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").first.click()
        self.page.keyboard.press("Escape")
        self.wait_active(index)

    def menu(self, top: str, item: str, timeout_ms: float = 10_000) -> None:
        """Click ``top`` in the menu bar, then its entry labelled exactly ``item``; wait for the menu to close."""
        self.page.locator(".lm-MenuBar-item", has_text=top).first.click()
        entry = self.page.locator(".lm-Menu .lm-Menu-item").filter(
            has=self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")))
        entry.first.wait_for(state="visible", timeout=timeout_ms)
        entry.first.click()
        self.page.locator(".lm-Menu").first.wait_for(state="detached", timeout=timeout_ms)

    def clear_all_outputs(self, timeout_ms: float = 30_000) -> None:
        """Edit > Clear Outputs of All Cells, and wait until every output and execution count is gone.

        Committed notebooks carry outputs and counts from when they were built; clearing them first means
        everything the test reads afterwards was produced in this browser session."""
        self.menu("Edit", "Clear Outputs of All Cells")
        self.page.wait_for_function(_CLEARED_JS, timeout=timeout_ms, polling=100)

    def run_through(self, cells: list[CellSource], last: int, timeout_ms: float = 300_000) -> None:
        """Run every cell from the top down to and including cell ``last`` (see :meth:`run_range`)."""
        self.run_range(cells, 0, last, timeout_ms)

    def run_range(self, cells: list[CellSource], first: int, last: int, timeout_ms: float = 300_000) -> None:
        """Run cells ``first`` .. ``last`` (inclusive) one at a time, as a learner does: select ``first``, then
        Shift+Enter (Ctrl+Enter on ``last``, so no cell is added at the end), waiting after each code cell
        until it shows its execution count. ``timeout_ms`` bounds each cell. A traceback fails at once with
        its text, except in cells tagged ``raises-exception`` (they are meant to raise)."""
        if not 0 <= first <= last < len(cells):
            raise ValueError(f"need 0 <= first <= last < {len(cells)} cells; got first={first}, last={last}")
        self.select(first)
        for cell in cells[first: last + 1]:
            self.wait_active(cell.index)
            self.page.keyboard.press("Control+Enter" if cell.index == last else "Shift+Enter")
            if cell.runs:
                self.wait_executed(cells, [cell.index], timeout_ms)

    def wait_executed(self, cells: list[CellSource], indices: list[int], timeout_ms: float) -> None:
        """Wait until each code cell in ``indices`` shows ``[n]:`` and the kernel is idle; raise
        AssertionError with the traceback if a cell not tagged ``raises-exception`` failed."""
        may_raise = [c.index for c in cells if "raises-exception" in c.tags]
        state = self.page.wait_for_function(_RUN_STATE_JS, arg=[indices, may_raise, TRACEBACK_TEXT],
                                            timeout=timeout_ms, polling=200).json_value()
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
        """How many cell outputs (top level, not outputs nested inside an Output widget) hold a real widget
        view. The widget renderer gives its output no MIME-type attribute; a view is a descendant with the
        ``jupyter-widgets`` class, while the error placeholder puts that class on the output itself and
        holds only text."""
        return self.panel.locator(
            ".jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output:has(.jupyter-widgets)").count()

    def widget_errors(self) -> list[str]:
        """Texts of outputs that show a widget error placeholder instead of a widget (empty when all good)."""
        return list(self.page.evaluate(
            """(texts) => [...document.querySelectorAll(
                 '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]
                 .filter(o => o.querySelector('.jupyter-widgets-error-widget') !== null
                              || texts.some(t => o.textContent.includes(t)))
                 .map(o => o.textContent.trim().slice(0, 300))""",
            list(WIDGET_ERROR_TEXTS)))

    def output_facts(self) -> list[dict]:
        """What each cell's output area shows, in file order: ``{"text": its visible text, "imgs": [{"alt",
        "ok" (loaded, non-zero width), "src" (its first 40 characters)}]}`` (empty for a cell without outputs)."""
        return list(self.page.evaluate(
            """() => [...%s].map(c => {
                 const area = c.querySelector('.jp-Cell-outputArea');
                 if (!area) return {text: '', imgs: []};
                 return {text: area.innerText,
                         imgs: [...area.querySelectorAll('img')].map(i => ({
                           alt: (i.getAttribute('alt') || '').trim(), ok: i.complete && i.naturalWidth > 0,
                           src: (i.getAttribute('src') || '').slice(0, 40)}))};
               })""" % _CELLS))

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
