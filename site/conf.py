"""Sphinx configuration of the course website (`make site`): MyST-NB reads the committed notebooks without
executing them; sphinx-book-theme lays out the book. Build by hand with

    .venv/bin/python -m sphinx -b html -c site . _build/site

(source folder: the repository root; only the pages listed in ``include_patterns`` are read). Everything a page
needs is in the built folder: the theme's scripts and icons, MathJax (from the ``django-static-mathjax`` wheel,
SVG output, so no web fonts) and the search index. No page loads anything from the network.

The one setting: the repository's public URL, ``COURSE_REPOSITORY_URL`` in the environment (e.g.
``make site COURSE_REPOSITORY_URL=https://github.com/<owner>/<repo>``). It turns on the "Open in Binder" /
"Open in Colab" links of every notebook page; while it is empty they are left out.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent
REPO = SITE.parent
sys.path.insert(0, str(SITE))

import course_site  # noqa: E402  (site/course_site.py: the static versions of widgets, quizzes, exercises)

REPOSITORY_URL = os.environ.get("COURSE_REPOSITORY_URL", "").strip()

project = "Actor-Critic to PPO"
author = "the course's authors"
copyright = "the course's authors"

extensions = ["myst_nb"]

# the repository root is the source folder; these pages (and nothing else) make the book
root_doc = "README"
NOTEBOOKS = sorted(p.relative_to(REPO).with_suffix("").as_posix()
                   for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
include_patterns = ["README.md", "notebooks/[0-9][0-9]_*.ipynb", "notebooks/INSTRUCTORS.md", "quizzes/README.md",
                    "course_lib/README.md"]
exclude_patterns = ["_build", ".venv", ".git", "tmp", "runs", "tests", "tools", "site", "**/.ipynb_checkpoints",
                    "notebooks/data", "notebooks/scripts", "notebooks/src", "*.egg-info"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# MyST: $...$ and $$...$$ maths, ::: fences (the "Run it yourself" box), anchors for #section links
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
myst_dmath_double_inline = True   # $$...$$ inside a paragraph, as Jupyter renders it
suppress_warnings = ["myst.header"]   # the notebooks start at "#" and some Markdown outputs skip levels

# MyST-NB: never execute; render Markdown outputs (tables, quiz questions) with MyST so their maths renders;
# no widget manager script (the widgets are replaced by static versions in course_site.py)
nb_execution_mode = "off"
nb_render_markdown_format = "myst"
nb_ipywidgets_js = {}
nb_merge_streams = True

# offline maths: MathJax 3 from the django-static-mathjax wheel, SVG output (needs no font files)
mathjax_path = "mathjax/tex-svg-full.js"
mathjax3_config = {"svg": {"fontCache": "global"}}

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_css_files = ["course.css"]
templates_path = ["_templates"]
html_additional_pages = {"index": "redirect.html"}   # index.html opens the landing page (the README)
html_context = {"default_mode": "auto"}   # pydata-sphinx-theme logs a console error without it
html_copy_source = False
html_show_sourcelink = False
html_show_search_summary = False   # summaries are fetch()ed, which browsers refuse from file://
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
    "navbar_persistent": [],   # no page-wide header bar: the search field sits in the sidebar
}
if REPOSITORY_URL:
    html_theme_options.update({"repository_url": REPOSITORY_URL, "use_repository_button": True,
                               "repository_branch": "main"})


def _copy_mathjax(app, exception) -> None:
    """Put MathJax's single-file SVG build into _static/mathjax/ (the path ``mathjax_path`` names)."""
    if exception is not None or app.builder.format != "html":
        return
    import mathjax  # the django-static-mathjax wheel: MathJax's files under mathjax/static/mathjax/

    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg-full.js"
    target = Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target / source.name)


def setup(app):
    app.connect("source-read", course_site.make_source_read(REPOSITORY_URL, NOTEBOOKS))
    app.connect("build-finished", _copy_mathjax)
