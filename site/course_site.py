"""Static versions of the notebooks' interactive parts, applied while Sphinx reads each notebook.

``conf.py`` connects :func:`on_source_read` to Sphinx's ``source-read`` event. For a course notebook the event
hands over the ``.ipynb`` JSON text; :func:`static_notebook` rewrites that in memory and Sphinx/MyST-NB parse
the result. The committed notebooks are never written to, and nothing is executed.

What the transform does to one notebook (JSON in, JSON out):

* **Saved widget state** (``metadata.widgets``) is read, then dropped, so no page loads a widget manager (and
  with it a CDN script). Each widget output is replaced by a static version built from that state:

  - a concept check (``quiz.show("<id>")``): the notebook's own read-first Markdown version of the question
    (prompt and choices, the ``text/markdown`` output that ``course_lib.quiz`` saves beside the widget), plus
    a line saying to answer it in JupyterLab. No Submit button, no feedback, no key: the widget's feedback
    area is empty before a submit and the text never holds an explanation.
  - an explorer (``ipywidgets.interactive``): a picture of its default view (the outputs saved inside its
    Output widget) under a line naming the default settings and saying to run it in JupyterLab; without a
    saved picture, only that line.
  - where the notebook saved its own static version beside a widget (read-first mode: a picture or text in the
    widget output's bundle, or a picture as a separate output), that version is used instead of rebuilding it.
  - a progress bar (tqdm): its final text, e.g. ``pre-training: 100% 6/6 [00:05<00:00]``.
  - anything else: the text of its labels, or an honest "run it in JupyterLab" note.
* **Exercises**: ``# EXERCISE:`` cells keep their starter code and lose any output; the ``exercises.check``
  cell under each keeps only its first FAIL verdict, with its indented continuation lines (warnings on stderr
  are dropped).
* **Claim cells** (tag ``claim``, saved with ``jupyter.source_hidden``) get MyST-NB's ``hide-input`` tag: the
  reader sees the one-line ✓ and can unfold the code.
* **Figures** keep the alt text the notebook saved with them (``course_lib.plots.show``: an ``<img alt=...>`` in
  the ``text/html`` output, which MyST-NB renders, and ``alt`` in the ``image/png`` metadata, which is copied
  to MyST-NB's ``mystnb.image.alt`` cell metadata). There is one source of alt text, the notebook's own; a
  picture saved without it (not in the committed notebooks: tests/test_figures.py) is named by its section.
* **Display maths** written as ``$$...$$`` across lines inside a paragraph is put on one line (MyST's inline
  ``$$`` needs that; Jupyter accepts both).
* **Empty outputs** (a stream with no text) are removed, so no empty output box is drawn.
* A **"Run it yourself"** box goes under the title: how to open the notebook locally with ``make lab`` and,
  when a repository URL is configured, "open in Binder" / "open in Colab" links.

The README becomes the landing page: the course map links to the notebook pages, and hidden tables of
contents (notebooks, then guides) give the sidebar and the previous/next links.
"""
from __future__ import annotations

import html
import json
import re
import urllib.parse
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

QUIZ_SHOW_RE = re.compile(r"""^\s*quiz\.show\(\s*["'](?P<id>\d\d\.\w+)["']""", re.M)
EXERCISE_RE = re.compile(r"^# EXERCISE: ", re.M)
CHECK_RE = re.compile(r"^\s*(?:\w+\s*=\s*)?exercises\.check\(", re.M)
INTERACT_RE = re.compile(r"\b(?:widgets\.)?interactive\(|\binteract\(")
NOTEBOOK_DOC_RE = re.compile(r"^notebooks/(\d\d)_\w+$")

# the course's pages in reading order (docnames, i.e. paths without suffix, relative to the repository)
GUIDES = ["notebooks/INSTRUCTORS", "quizzes/README", "course_lib/README"]

# controls of an explorer whose value is its setting (description = value); buttons are left out on purpose
CONTROL_MODELS = {"FloatSliderModel", "IntSliderModel", "FloatLogSliderModel", "FloatRangeSliderModel",
                  "IntRangeSliderModel", "DropdownModel", "RadioButtonsModel", "ToggleButtonsModel",
                  "SelectionSliderModel", "CheckboxModel", "ToggleButtonModel", "FloatTextModel", "IntTextModel",
                  "BoundedFloatTextModel", "BoundedIntTextModel", "TextModel", "SelectModel"}
TEXT_MODELS = {"HTMLModel", "HTMLMathModel", "LabelModel"}
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}


# --------------------------------------------------------------------------------------------- links

def launch_links(repository_url: str, notebook_path: str, branch: str = "main") -> dict[str, str]:
    """Binder and Colab URLs for ``notebook_path`` (relative to the repository), from the repository's public
    URL; empty when the URL is empty. Colab opens GitHub notebooks only, so a non-GitHub URL gets Binder alone.
    """
    url = repository_url.strip().rstrip("/")
    if not url:
        return {}
    if url.endswith(".git"):
        url = url[:-4]
    links = {}
    m = re.match(r"^https://github\.com/([^/]+)/([^/]+)$", url)
    if m:
        owner, repo = m.groups()
        links["Binder"] = (f"https://mybinder.org/v2/gh/{owner}/{repo}/{branch}"
                           f"?labpath={urllib.parse.quote(notebook_path)}")
        links["Colab"] = f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/{notebook_path}"
    else:
        links["Binder"] = (f"https://mybinder.org/v2/git/{urllib.parse.quote(url + '.git', safe='')}/{branch}"
                           f"?labpath={urllib.parse.quote(notebook_path)}")
    return links


def run_yourself_markdown(notebook_path: str, repository_url: str) -> str:
    """The box under each notebook's title: how to run it locally, and the launch links when configured."""
    name = notebook_path.rsplit("/", 1)[-1]
    lines = [
        ":::{admonition} Run this notebook yourself",
        ":class: tip run-yourself",
        "This page is a static copy of the notebook with its saved outputs. The concept checks, explorers and "
        "exercises work only in a running notebook. On your computer: clone the course, run `make lab` in its "
        f"folder (the first run installs everything), then open `{name}` in JupyterLab.",
    ]
    links = launch_links(repository_url, notebook_path)
    if links:
        lines.append("")
        lines.append(" · ".join(f"[Open in {label}]({url})" for label, url in links.items())
                     + " (see the README's \"Read it as a website\" for what works there).")
    lines.append(":::")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- widgets

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


def _plain(value: str) -> str:
    """Widget HTML as plain text: tags removed, entities and tqdm's figure spaces turned into spaces."""
    text = html.unescape(re.sub(r"<[^>]+>", "", value or ""))
    return " ".join(text.replace("\u2007", " ").split())


def _format_value(name: str, s: dict) -> str:
    value = s.get("value")
    if name in {"DropdownModel", "RadioButtonsModel", "ToggleButtonsModel", "SelectionSliderModel",
                "SelectModel"}:
        labels = s.get("_options_labels") or []
        index = s.get("index")
        return str(labels[index]) if isinstance(index, int) and 0 <= index < len(labels) else "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _markdown_output(text: str) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": text}}


def _stream_output(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def static_widget_outputs(state: dict, model_id: str) -> tuple[str, list[dict], str]:
    """A widget's static version: (kind, outputs, settings). kind is "explorer", "progress", "text" or "none";
    settings names an explorer's default control values ("epsilon = 0.2, advantage = 1"), else ""."""
    parts = list(_walk(state, model_id))
    controls = [(s.get("description") or "value", _format_value(n, s)) for n, s in parts if n in CONTROL_MODELS]
    saved: list[dict] = []
    for name, s in parts:
        if name == "OutputModel":
            saved += [o for o in s.get("outputs", []) or [] if not _is_empty(o)]
    if controls:
        settings = ", ".join(f"{_plain(desc)} = {value}" for desc, value in controls)
        if saved:
            note = (f"*Explorer: a picture of its default view ({settings}). Run it in JupyterLab "
                    "(`make lab`) to move the controls.*")
        else:
            note = (f"*Explorer with the controls {settings}: run it in JupyterLab (`make lab`); "
                    "no picture of it was saved.*")
        return "explorer", [_markdown_output(note)] + saved, settings
    progress = [s for n, s in parts if n in PROGRESS_MODELS]
    texts = [_plain(s.get("value", "")) for n, s in parts if n in TEXT_MODELS]
    texts = [t for t in texts if t]
    if progress:
        return "progress", ([_stream_output(" ".join(texts) + "\n")] if texts else []), ""
    if saved or texts:
        return "text", ([_stream_output("\n".join(texts) + "\n")] if texts else []) + saved, ""
    return "none", [_markdown_output("*An interactive widget: run this cell in JupyterLab (`make lab`).*")], ""


def quiz_markdown(output: dict, qid: str) -> str:
    """The static concept check: the notebook's read-first Markdown of the question, plus where to answer."""
    text = "".join(output.get("data", {}).get("text/markdown", ""))
    if not text.strip():
        from course_lib.quiz import get_question, question_markdown
        text = question_markdown(get_question(qid))
    return (text.rstrip() + "\n\n*Answer it in JupyterLab:* run `make lab`, open this notebook and run the cell; "
            "the clickable version marks your answer and explains it.")


# --------------------------------------------------------------------------------------------- outputs

def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def _is_empty(output: dict) -> bool:
    """True for an output that would render as an empty box."""
    if output.get("output_type") == "stream":
        return _text(output.get("text")).strip() == ""
    if output.get("output_type") in ("display_data", "execute_result"):
        data = output.get("data", {})
        return not data or all(_text(v).strip() == "" if isinstance(v, (str, list)) else not v
                               for v in data.values())
    return False


def _is_picture(output: dict) -> bool:
    return any(k in output.get("data", {}) for k in ("image/png", "image/jpeg", "image/svg+xml"))


def first_verdict(outputs: list[dict]) -> list[dict]:
    """The check cell's first FAIL verdict (else its first line of text), alone: the line starting "FAIL" and
    the indented continuation lines under it (the checker wraps a verdict to lines of <= 100 characters)."""
    lines = [ln for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"
             for ln in _text(o.get("text")).splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("FAIL")), None)
    if start is None:
        return [_stream_output(lines[0] + "\n")] if lines else []
    end = start + 1
    while end < len(lines) and lines[end].startswith((" ", "\t")):
        end += 1
    return [_stream_output("\n".join(lines[start:end]) + "\n")]


def saved_alt(outputs: list[dict]) -> str:
    """The alt text saved with a cell's first picture that has one (``image/png`` or ``image/jpeg`` metadata
    ``alt``, as ``course_lib.plots.show`` writes it), else ""."""
    for out in outputs:
        for mime in ("image/png", "image/jpeg"):
            alt = (out.get("metadata", {}).get(mime) or {}).get("alt") if mime in out.get("data", {}) else None
            if isinstance(alt, str) and alt.strip():
                return alt.strip()
    return ""


DISPLAY_MATH_RE = re.compile(r"\$\$(.+?)\$\$", re.S)


def join_display_maths(markdown: str) -> str:
    """``$$...$$`` written across lines inside a paragraph, on one line: Jupyter renders both, MyST only the
    latter (with ``myst_dmath_double_inline``). A newline inside TeX is a space, so the maths is unchanged."""
    return DISPLAY_MATH_RE.sub(lambda m: "$$" + " ".join(m.group(1).split("\n")) + "$$"
                               if "\n" in m.group(1).strip("\n") and not m.group(0).startswith("$$\n")
                               else m.group(0), markdown)


def _heading(markdown: str) -> str | None:
    m = re.search(r"^#{1,3}\s+(.+)$", markdown, re.M)
    return re.sub(r"[$*`\\]", "", m.group(1)).strip() if m else None


# --------------------------------------------------------------------------------------------- notebooks

def static_notebook(nb: dict, notebook_path: str, repository_url: str = "") -> dict:
    """Rewrite one notebook (the parsed ``.ipynb`` JSON) into its static-site form; see the module docstring."""
    widget_state = (nb.get("metadata", {}).get("widgets", {}) or {}).get(WIDGET_STATE, {}).get("state", {})
    nb.setdefault("metadata", {}).pop("widgets", None)
    title = notebook_path.rsplit("/", 1)[-1].removesuffix(".ipynb")
    section = ""
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        source = _text(cell.get("source"))
        meta = cell.setdefault("metadata", {})
        if cell.get("cell_type") == "markdown":
            source = cell["source"] = join_display_maths(source)
            section = _heading(source) or section
            if index == 0:
                title = _heading(source) or title
            cells.append(cell)
            if index == 0:
                cells.append({"cell_type": "markdown", "metadata": {}, "id": "run-yourself",
                              "source": run_yourself_markdown(notebook_path, repository_url)})
            continue
        if cell.get("cell_type") != "code":
            cells.append(cell)
            continue
        tags = list(meta.get("tags", []))
        if "claim" in tags or meta.get("jupyter", {}).get("source_hidden"):
            tags.append("hide-input")
        # tags MyST-NB turns into CSS classes (tag_<name>): the styles in course.css and the browser test use them
        if QUIZ_SHOW_RE.search(source):
            tags.append("quiz")
        elif EXERCISE_RE.search(source):
            tags.append("exercise")
        elif CHECK_RE.search(source):
            tags.append("exercise-check")
        elif any(WIDGET_VIEW in o.get("data", {}) for o in cell.get("outputs", [])) and INTERACT_RE.search(source):
            tags.append("explorer")
        outputs = [o for o in cell.get("outputs", []) if not _is_empty(o)]
        quiz = QUIZ_SHOW_RE.search(source)
        if EXERCISE_RE.search(source):
            outputs = []
        elif CHECK_RE.search(source):
            outputs = first_verdict(outputs)
        new_outputs: list[dict] = []
        own_pictures = any(_is_picture(o) for o in outputs if WIDGET_VIEW not in o.get("data", {}))
        explorer_settings = ""
        for out in outputs:
            data = out.get("data", {})
            if WIDGET_VIEW not in data:
                new_outputs.append(out)
            elif quiz:
                new_outputs.append(_markdown_output(quiz_markdown(out, quiz.group("id"))))
            else:
                kind, static, settings = static_widget_outputs(widget_state, data[WIDGET_VIEW].get("model_id", ""))
                explorer_settings = explorer_settings or settings
                own = {k: v for k, v in data.items() if k not in (WIDGET_VIEW, "text/plain")}
                if own:    # the notebook saved its own static version beside the widget (read-first mode): use it
                    new_outputs += (static[:1] if kind == "explorer" else []) + [{**out, "data": own}]
                elif own_pictures:   # a picture of the default view is already a separate output of the cell
                    new_outputs += [o for o in static if not _is_picture(o)]
                else:
                    new_outputs += static
        cell["outputs"] = [o for o in new_outputs if not _is_empty(o)]
        if any(_is_picture(o) for o in cell["outputs"]):
            where = f"section '{section}' of {title}" if section else title
            alt = saved_alt(cell["outputs"]) or (
                f"Default view of the explorer ({explorer_settings}) in {where}" if explorer_settings
                else f"A figure in {where} (saved without a description)")
            meta.setdefault("mystnb", {}).setdefault("image", {}).setdefault("alt", alt)
        if tags:
            meta["tags"] = list(dict.fromkeys(tags))
        cells.append(cell)
    nb["cells"] = cells
    return nb


# --------------------------------------------------------------------------------------------- landing page

def landing_markdown(readme: str, notebooks: list[str]) -> str:
    """The README as the landing page: notebook names in the course map become links to their pages, and two
    hidden tables of contents (the notebooks, then the guides) drive the sidebar and previous/next links."""
    names = {n.rsplit("/", 1)[-1] for n in notebooks}

    def link(m: re.Match) -> str:
        name = m.group(1)
        return f"[`{name}`](notebooks/{name})" if name.removesuffix(".ipynb") in names else m.group(0)

    text = re.sub(r"(?<!\[)`(\d\d_\w+\.ipynb)`", link, readme)
    toc = ["", "```{toctree}", ":hidden:", ":caption: Notebooks", "", *notebooks, "```", "",
           "```{toctree}", ":hidden:", ":caption: Guides", "", *GUIDES, "```", ""]
    return text.rstrip() + "\n" + "\n".join(toc)


def make_source_read(repository_url: str, notebooks: list[str]):
    """The ``source-read`` handler: static notebooks, and the README as the landing page."""

    def on_source_read(app, docname: str, source: list[str]) -> None:
        if NOTEBOOK_DOC_RE.match(docname):
            nb = json.loads(source[0])
            source[0] = json.dumps(static_notebook(nb, docname + ".ipynb", repository_url))
        elif docname == app.config.root_doc:
            source[0] = landing_markdown(source[0], notebooks)

    return on_source_read

