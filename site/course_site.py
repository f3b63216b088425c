"""Static versions of the notebooks' interactive parts, applied while Sphinx reads each notebook.

``conf.py`` connects :func:`on_source_read` to Sphinx's ``source-read`` event. For a course notebook the event
hands over the ``.ipynb`` JSON text; :func:`static_notebook` rewrites that in memory and Sphinx/MyST-NB parse
the result. The committed notebooks are never written to, and nothing is executed.

What the transform does to one notebook (JSON in, JSON out):

* **Widgets** are already static in the committed notebooks: ``tools/build_notebook.py`` writes each widget
  output as its read-first version (``course_lib.read_first``, which this step also applies to a notebook that
  still holds widget views or state, so no page loads a widget manager or a CDN script). Here, for the site:

  - a concept check (``quiz.show("<id>")``): the notebook's read-first Markdown of the question (prompt and
    choices, saved by ``course_lib.quiz`` beside the widget), plus a line saying to answer it in JupyterLab.
    No Submit button, no feedback, no key: the text never holds an explanation.
  - an explorer (``ipywidgets.interactive``): its picture of the default view keeps its PNG alone (MyST-NB
    writes it as an image file, with the picture's alt text), and the notebook's "run the cells above" line
    becomes a line naming the default settings and saying to run it in JupyterLab.
  - a progress bar (tqdm) already reads as its final text, e.g. ``pre-training: 100% 6/6 [00:05<00:00]``.
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

import json
import re
import urllib.parse

from course_lib.read_first import (MARK, PICTURE_TYPES, figure_alt, heading, is_empty, is_picture, kind_of,
                                   read_first_notebook, text_of)

QUIZ_SHOW_RE = re.compile(r"""^\s*quiz\.show\(\s*["'](?P<id>\d\d\.\w+)["']""", re.M)
EXERCISE_RE = re.compile(r"^# EXERCISE: ", re.M)
CHECK_RE = re.compile(r"^\s*(?:\w+\s*=\s*)?exercises\.check\(", re.M)
NOTEBOOK_DOC_RE = re.compile(r"^notebooks/(\d\d)_\w+$")

# the course's pages in reading order (docnames, i.e. paths without suffix, relative to the repository)
GUIDES = ["notebooks/INSTRUCTORS", "quizzes/README", "course_lib/README"]


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

def _markdown_output(text: str) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": text}}


def _stream_output(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def explorer_note(settings: str, has_picture: bool) -> str:
    """The site's line for an explorer: where its controls work (the notebook's own line says to run cells)."""
    if has_picture:
        return (f"*Explorer: a picture of its default view ({settings}). Run it in JupyterLab (`make lab`) to "
                "move the controls.*")
    return f"*Explorer with the controls {settings}: run it in JupyterLab (`make lab`); no picture of it was saved.*"


def quiz_markdown(output: dict, qid: str) -> str:
    """The static concept check: the notebook's read-first Markdown of the question, plus where to answer."""
    text = "".join(output.get("data", {}).get("text/markdown", ""))
    if not text.strip():
        from course_lib.quiz import get_question, question_markdown
        text = question_markdown(get_question(qid))
    return (text.rstrip() + "\n\n*Answer it in JupyterLab:* run `make lab`, open this notebook and run the cell; "
            "the clickable version marks your answer and explains it.")


# --------------------------------------------------------------------------------------------- outputs

def first_verdict(outputs: list[dict]) -> list[dict]:
    """The check cell's first FAIL verdict (else its first line of text), alone: the line starting "FAIL" and
    the indented continuation lines under it (the checker wraps a verdict to lines of <= 100 characters)."""
    lines = [ln for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"
             for ln in text_of(o.get("text")).splitlines() if ln.strip()]
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


# --------------------------------------------------------------------------------------------- notebooks

def static_notebook(nb: dict, notebook_path: str, repository_url: str = "") -> dict:
    """Rewrite one notebook (the parsed ``.ipynb`` JSON) into its static-site form; see the module docstring."""
    read_first_notebook(nb)   # a notebook saved with widgets: the same static versions the notebook build makes
    title = notebook_path.rsplit("/", 1)[-1].removesuffix(".ipynb")
    section = ""
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        source = text_of(cell.get("source"))
        meta = cell.setdefault("metadata", {})
        if cell.get("cell_type") == "markdown":
            source = cell["source"] = join_display_maths(source)
            section = heading(source) or section
            if index == 0:
                title = heading(source) or title
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
        outputs = [o for o in cell.get("outputs", []) if not is_empty(o)]
        quiz = QUIZ_SHOW_RE.search(source)
        # tags MyST-NB turns into CSS classes (tag_<name>): the styles in course.css and the browser test use them
        if quiz:
            tags.append("quiz")
        elif EXERCISE_RE.search(source):
            tags.append("exercise")
        elif CHECK_RE.search(source):
            tags.append("exercise-check")
        elif any(kind_of(o).startswith("explorer") for o in outputs):
            tags.append("explorer")
        if EXERCISE_RE.search(source):
            outputs = []
        elif CHECK_RE.search(source):
            outputs = first_verdict(outputs)
        new_outputs: list[dict] = []
        has_picture = any(is_picture(o) for o in outputs)
        alt = ""
        for out in outputs:
            data, kind = out.get("data", {}), kind_of(out)
            if quiz and "text/markdown" in data:
                new_outputs.append(_markdown_output(quiz_markdown(out, quiz.group("id"))))
            elif kind == "explorer":   # the notebook's "run the cells above" line becomes the site's note
                new_outputs.append(_markdown_output(explorer_note(out["metadata"][MARK].get("settings", ""),
                                                                  has_picture)))
            elif kind == "explorer-picture":   # the PNG alone: MyST-NB writes it as an image file
                alt = alt or next((out["metadata"][m]["alt"] for m in PICTURE_TYPES if m in data), "")
                new_outputs.append({**out, "data": {k: v for k, v in data.items() if k != "text/html"}})
            else:
                new_outputs.append(out)
        cell["outputs"] = [o for o in new_outputs if not is_empty(o)]
        if any(is_picture(o) for o in cell["outputs"]):
            meta.setdefault("mystnb", {}).setdefault("image", {}).setdefault(
                "alt", alt or saved_alt(cell["outputs"]) or figure_alt(source, section, title))
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

