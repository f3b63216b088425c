"""Read-first outputs: what a notebook shows before anyone runs it, with no widget left that needs a kernel.

A notebook executed with its widget state stored (nbclient's ``store_widget_state``) saves each widget as a
*widget view* (``application/vnd.jupyter.widget-view+json``) pointing into ``metadata.widgets``. Without a
kernel those views are dead: an untrusted notebook shows their raw ``text/plain`` (``interactive(children=
(IntSlider(...``, a progress bar's ``0%| 0/6`` from display time) and a trusted one shows controls that do
nothing. :func:`read_first_notebook` replaces every widget output by static outputs built from the saved
state, and drops the state:

* an **explorer** (``ipywidgets.interactive``): a picture of its default view (the image its Output widget
  held at build time) with alt text, the text it printed there, then one line, :data:`LIVE_LINE`;
* a **progress bar** (tqdm): its final text, e.g. ``pre-training: 100% 6/6 [00:05<00:00, 1.1s/it]``;
* a widget that saved its own static version beside the view (a concept check saves its question and choices
  as ``text/markdown`` and ``text/plain``): that version;
* anything else: the text of its labels, else a one-line note to run the cell.

Every output it makes is a plain ``display_data`` or ``stream`` output that renders the same whether or not
the notebook is trusted. Outputs it makes carry ``metadata["read_first"] = {"kind": ...}`` (stream outputs
cannot carry metadata), so later steps such as the course website (``site/course_site.py``) can find them.
A picture carries its alt text twice: as ``metadata["image/png"]["alt"]`` (the key nbconvert's HTML export
reads) and in a ``text/html`` ``<img alt=...>`` copy, because JupyterLab's image renderer ignores that metadata.

The transform is a pure function of the notebook: converting twice gives the same notebook (no random ids,
no clock), and a notebook without widget outputs is left as it is.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MARK = "read_first"   # output metadata key of the outputs made here: {"kind": ..., "settings": ...}

LIVE_LINE = "Run the cells above, then this one, to make it live."
EXPLORER_NOTE = f"*A picture of this explorer's default view. {LIVE_LINE}*"
WIDGET_NOTE = "*An interactive widget: run the cells above, then this one, to use it.*"

# controls of an explorer whose value is its setting (description = value); buttons are left out on purpose
CONTROL_MODELS = {"FloatSliderModel", "IntSliderModel", "FloatLogSliderModel", "FloatRangeSliderModel",
                  "IntRangeSliderModel", "DropdownModel", "RadioButtonsModel", "ToggleButtonsModel",
                  "SelectionSliderModel", "CheckboxModel", "ToggleButtonModel", "FloatTextModel", "IntTextModel",
                  "BoundedFloatTextModel", "BoundedIntTextModel", "TextModel", "SelectModel",
                  "SelectMultipleModel"}
TEXT_MODELS = {"HTMLModel", "HTMLMathModel", "LabelModel"}
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}
PICTURE_TYPES = ("image/png", "image/jpeg")


# --------------------------------------------------------------------------------------------- small parts

def text_of(value: Any) -> str:
    """A notebook text field (a string or a list of lines) as one string."""
    return "".join(value) if isinstance(value, list) else (value or "")


def is_empty(output: dict) -> bool:
    """True for an output that would render as an empty box."""
    if output.get("output_type") == "stream":
        return text_of(output.get("text")).strip() == ""
    if output.get("output_type") in ("display_data", "execute_result"):
        data = output.get("data", {})
        return not data or all(text_of(v).strip() == "" if isinstance(v, (str, list)) else not v
                               for v in data.values())
    return False


def is_picture(output: dict) -> bool:
    return any(k in output.get("data", {}) for k in (*PICTURE_TYPES, "image/svg+xml"))


def kind_of(output: dict) -> str:
    """The ``kind`` an output made here was marked with ("" for any other output)."""
    return (output.get("metadata", {}) or {}).get(MARK, {}).get("kind", "")


def heading(markdown: str) -> str | None:
    """The first heading (levels 1-3) of a Markdown cell, without maths or emphasis markers."""
    m = re.search(r"^#{1,3}\s+(.+)$", markdown, re.M)
    return re.sub(r"[$*`\\]", "", m.group(1)).strip() if m else None


def _plain(value: str) -> str:
    """Widget HTML as plain text: tags removed, entities and tqdm's figure spaces turned into spaces."""
    text = html.unescape(re.sub(r"<[^>]+>", "", value or ""))
    return " ".join(text.replace("\u2007", " ").split())


def _format_value(name: str, s: dict) -> str:
    value = s.get("value")
    labels = s.get("_options_labels") or []
    if name in {"DropdownModel", "RadioButtonsModel", "ToggleButtonsModel", "SelectionSliderModel",
                "SelectModel"}:
        index = s.get("index")
        return str(labels[index]) if isinstance(index, int) and 0 <= index < len(labels) else "(none)"
    if name == "SelectMultipleModel":
        return ", ".join(str(labels[i]) for i in s.get("index") or [] if 0 <= i < len(labels)) or "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def markdown_output(text: str, kind: str, **extra: Any) -> dict:
    """A ``display_data`` output showing ``text`` (Markdown, with itself as the plain-text fallback)."""
    return {"output_type": "display_data", "metadata": {MARK: {"kind": kind, **extra}},
            "data": {"text/markdown": text, "text/plain": text.replace("*", "")}}


def stream_output(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


# --------------------------------------------------------------------------------------------- alt text

def figure_alt(source: str, section: str, notebook_title: str) -> str:
    """Alt text for the figures of a code cell: the titles set in its code, else its section."""
    titles = figure_titles(source)
    where = f"section '{section}' of {notebook_title}" if section else notebook_title
    if titles:
        return f"Figure from {where}: " + "; ".join(titles[:4])
    return f"Figure from {where}, drawn by the code cell above"


def figure_titles(source: str) -> list[str]:
    """The titles (``set_title``, ``suptitle``, ``title``) a cell's code sets, in order, without TeX markup."""
    titles = [call.group(2) for call in
              re.finditer(r"(?:set_title|suptitle|title)\s*\(\s*(?:r|f|rf|fr)?([\"'])(.+?)\1", source)]
    titles = [re.sub(r"[$\\{}]", "", t).strip() for t in titles]
    return [t for t in dict.fromkeys(titles) if t]


def explorer_alt(settings: str, source: str, section: str, notebook_title: str) -> str:
    """Alt text for the picture of an explorer's default view: its settings, where it is, what it plots."""
    where = f"section '{section}' of {notebook_title}" if section else notebook_title
    alt = f"Default view of the explorer ({settings}) in {where}" if settings else f"Explorer in {where}"
    titles = figure_titles(source)
    return alt + (": " + "; ".join(titles[:4]) if titles else "")


# --------------------------------------------------------------------------------------------- one widget

@dataclass
class StaticWidget:
    """What a saved widget shows, read from the notebook's widget state."""

    kind: str                    # "explorer", "progress", "text" or "none"
    saved: list[dict] = field(default_factory=list)   # outputs its Output widgets held (explorer: default view)
    texts: list[str] = field(default_factory=list)    # its labels and HTML as plain text
    settings: str = ""           # an explorer's control values: "epsilon = 0.2, advantage = 1"


def _model_id(ref: str) -> str:
    return ref.replace("IPY_MODEL_", "", 1) if isinstance(ref, str) else ""


def _walk(state: dict, model_id: str, seen: set | None = None):
    """Yield (model_name, model_state) for a widget and all its descendants, depth first."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return
    seen.add(model_id)
    model = state[model_id]
    yield model.get("model_name", ""), model.get("state", {})
    for child in model.get("state", {}).get("children", []) or []:
        yield from _walk(state, _model_id(child), seen)


def static_widget(state: dict, model_id: str) -> StaticWidget:
    """The static content of the widget ``model_id`` (and its children) in the saved ``state``."""
    parts = list(_walk(state, model_id))
    controls = [(s.get("description") or "value", _format_value(n, s)) for n, s in parts if n in CONTROL_MODELS]
    saved = [o for n, s in parts if n == "OutputModel" for o in s.get("outputs", []) or [] if not is_empty(o)]
    texts = [t for t in (_plain(s.get("value", "")) for n, s in parts if n in TEXT_MODELS) if t]
    if controls:
        settings = ", ".join(f"{_plain(desc)} = {value}" for desc, value in controls)
        return StaticWidget("explorer", saved, texts, settings)
    if any(n in PROGRESS_MODELS for n, _ in parts):
        return StaticWidget("progress", [], texts)
    if saved or texts:
        return StaticWidget("text", saved, texts)
    return StaticWidget("none")


def picture_output(output: dict, alt: str) -> dict:
    """A saved picture output as a read-first picture: ``display_data`` with ``alt`` in its metadata and an
    ``<img alt=...>`` copy (JupyterLab's image renderer ignores the metadata; its HTML renderer keeps the alt
    and the ``data:`` source, trusted or not)."""
    data = output.get("data", {})
    mime = next(m for m in PICTURE_TYPES if m in data)
    b64 = "".join(text_of(data[mime]).split())
    metadata = {k: v for k, v in (output.get("metadata") or {}).items() if k in PICTURE_TYPES}
    saved = metadata.get(mime, {})
    # a figure shown by course_lib.plots.show already carries its author's description and displayed size
    if isinstance(saved.get("alt"), str) and saved["alt"].strip():
        alt = f"Default view of the explorer. {saved['alt'].strip()}"
    metadata[mime] = {**saved, "alt": alt}
    metadata[MARK] = {"kind": "explorer-picture"}
    size = f'width="{saved["width"]}" ' if isinstance(saved.get("width"), int) else ""   # HiDPI: shown at half
    return {"output_type": "display_data", "metadata": metadata,
            "data": {mime: b64,
                     "text/html": f'<img src="data:{mime};base64,{b64}" {size}alt="{html.escape(alt)}"/>',
                     "text/plain": alt}}


def explorer_outputs(widget: StaticWidget, alt: str, has_picture: bool) -> list[dict]:
    """An explorer's read-first outputs: its default view's picture (unless the cell already shows one) and
    printed text, then the :data:`LIVE_LINE` note (which keeps the default settings in its metadata)."""
    out = []
    for o in widget.saved:
        if any(m in o.get("data", {}) for m in PICTURE_TYPES):
            if not has_picture:
                out.append(picture_output(o, alt))
        elif o.get("output_type") == "stream":
            out.append(stream_output(text_of(o.get("text"))))
        elif not is_picture(o) and WIDGET_VIEW not in o.get("data", {}):
            out.append({"output_type": "display_data", "metadata": o.get("metadata", {}), "data": o["data"]})
    return out + [markdown_output(EXPLORER_NOTE, "explorer", settings=widget.settings)]


def read_first_outputs(outputs: list[dict], state: dict, alt_for) -> list[dict]:
    """A cell's outputs with each widget view replaced (see the module docstring); other outputs unchanged.

    ``alt_for(settings)`` gives the alt text of an explorer's picture from its default settings."""
    has_picture = any(is_picture(o) for o in outputs if WIDGET_VIEW not in o.get("data", {}))
    new: list[dict] = []
    for out in outputs:
        data = out.get("data", {})
        if WIDGET_VIEW not in data:
            new.append(out)
            continue
        widget = static_widget(state, data[WIDGET_VIEW].get("model_id", ""))
        own = {k: v for k, v in data.items() if k != WIDGET_VIEW}
        if set(own) - {"text/plain"}:     # the widget's own static version (a concept check's question)
            new.append({"output_type": "display_data", "metadata": {MARK: {"kind": "widget"}}, "data": own})
        elif widget.kind == "explorer":
            new += explorer_outputs(widget, alt_for(widget.settings), has_picture)
            has_picture = True
        elif widget.kind == "progress":
            new += [stream_output(" ".join(widget.texts) + "\n")] if widget.texts else []
        elif widget.kind == "text":
            new += ([stream_output("\n".join(widget.texts) + "\n")] if widget.texts else []) + [
                {"output_type": "display_data", "metadata": o.get("metadata", {}), "data": o["data"]}
                if "data" in o else o for o in widget.saved]
        else:
            new.append(markdown_output(WIDGET_NOTE, "widget"))
    return new


# --------------------------------------------------------------------------------------------- notebooks

def widget_state(nb: dict) -> dict:
    """The saved widget models of a notebook, by model id (empty when none were saved)."""
    return ((nb.get("metadata", {}).get("widgets", {}) or {}).get(WIDGET_STATE, {}) or {}).get("state", {}) or {}


def read_first_notebook(nb: dict) -> dict:
    """Replace every widget output of ``nb`` (the parsed ``.ipynb``, changed in place and returned) by its
    read-first version and drop ``metadata.widgets``; see the module docstring."""
    state = widget_state(nb)
    nb.setdefault("metadata", {}).pop("widgets", None)
    title = "the notebook"
    section = ""
    for index, cell in enumerate(nb.get("cells", [])):
        source = text_of(cell.get("source"))
        if cell.get("cell_type") == "markdown":
            section = heading(source) or section
            if index == 0:
                title = heading(source) or title
            continue
        if cell.get("cell_type") != "code" or not any(WIDGET_VIEW in o.get("data", {})
                                                      for o in cell.get("outputs", [])):
            continue
        cell["outputs"] = read_first_outputs(
            cell["outputs"], state, lambda settings: explorer_alt(settings, source, section, title))
    return nb


def widget_leftovers(nb: dict) -> list[str]:
    """What in ``nb`` still needs a widget front end or shows raw widget text (empty for a read-first
    notebook): widget views, saved widget state, ``interactive(...)`` reprs and progress bars at 0 %."""
    found = ["saved widget state (metadata.widgets)"] if nb.get("metadata", {}).get("widgets") else []
    for index, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                found.append(f"cell {index}: a widget view")
            texts = [text_of(out.get("text"))] + [text_of(v) for k, v in data.items() if k.startswith("text/")]
            for text in texts:
                raw = RAW_WIDGET_TEXT.search(text)
                if raw:
                    found.append(f"cell {index}: raw widget text {raw.group(0)!r}")
    return found


# raw widget reprs (``interactive(children=(IntSlider(...``) and tqdm bars still at 0 % ("  0%|", "0% 0/6")
RAW_WIDGET_TEXT = re.compile(r"\binteractive\(|\b(?:Int|Float)Slider\(|\b[HV]Box\(|(?<![\d.])0%\s*(?:\||\d+/\d+)")
