"""The course website (`make site`) in a real browser, offline.

The session fixture builds the site exactly as `make site` does (Sphinx + MyST-NB from the committed notebooks,
nothing executed) into a temporary folder and fails on any Sphinx warning. Then headless Debian Chromium opens
every page from disk with every request that is not ``file://`` aborted, and checks on each page:

* no console error, no uncaught page error, no failed or blocked request (so nothing comes from a CDN);
* maths typeset by the bundled MathJax and no raw ``$...$`` left in the visible text;
* every image loaded and with alt text; each notebook page has at least as many pictures as the notebook has
  saved image outputs;
* no empty output box;
* no quiz key anywhere in the built site (no choice or numeric explanation from the bank), no Submit button,
  and each concept check shows its question and "Answer it in JupyterLab";
* exercise checks show one whole FAIL verdict (first line, indented continuation lines, the pointer to the
  hint last), exercise cells their starter only; explorers a picture or a note;
* every internal link (and its #fragment) resolves; previous/next links; full-text search finds a word.

Without Chromium the browser part is skipped (COURSE_E2E_REQUIRED=1 makes that a failure, as in tests/e2e);
the build and the checks that need no browser still run.
"""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "site"))

import course_site  # noqa: E402

BUILD_BUDGET_S = 60          # the budget for `make site` on the 2-core machine
BUILD_LIMIT_S = 2 * BUILD_BUDGET_S   # what the test tolerates on a loaded shared machine (the note says how long)
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGE_SUFFIXES = (".html",)
TEXT_SUFFIXES = (".html", ".js", ".json", ".txt", ".inv", ".css")
BUILD_NOTES: list[str] = []   # the build's page count and time, printed at the end of the run
RAW_MATH = re.compile(r"\$\$|(?<![\w$])\$[^$\s][^$\n]*\$(?![\w$])|\\\(|\\\[")

pytestmark = [pytest.mark.e2e]


def sphinx_command(out: Path, doctrees: Path) -> list[str]:
    """The Makefile's `site` recipe, with its folders replaced."""
    return [sys.executable, "-m", "sphinx", "-b", "html", "-E", "-q", "-c", "site", "-d", str(doctrees),
            ".", str(out)]


QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def squash(text: str) -> str:
    """Whitespace collapsed, HTML entities decoded, curly quotes (Sphinx's smart quotes) made straight."""
    return " ".join(html.unescape(text).translate(QUOTES).split())


def plain_segments(markdown: str, min_len: int = 30) -> list[str]:
    """Pieces of a Markdown text that read the same once rendered (maths cut out, markup dropped)."""
    pieces = re.split(r"\$\$.+?\$\$|\$[^$]+?\$|`[^`]*`", markdown, flags=re.S)
    out = []
    for piece in pieces:
        text = " ".join(re.sub(r"[*_]", "", piece).split())
        if len(text) >= min_len:
            out.append(text)
    return out


def key_segments() -> dict[str, list[str]]:
    """Per question: the texts that would give its key away (every choice's explanation, numeric explanations)."""
    from course_lib.quiz_bank import load_bank

    keys = {}
    for qid, q in load_bank().items():
        # feedback a learner sees only after answering: explanations, and a numeric question's nudge if any
        texts = [c.explain for c in q.choices] + [q.explain_correct or "", q.explain_wrong or "",
                                                  getattr(q, "nudge", None) or ""]
        asked = squash(q.prompt + " ".join(c.text for c in q.choices))
        # the prose of each explanation, and its worked results: formulas ending in "= <number>" or
        # "\\approx <number>" (a numeric answer's explanation is mostly maths), unless the question shows them
        formulas = [squash(a or b) for t in texts for a, b in re.findall(r"\$\$(.+?)\$\$|\$([^$]+?)\$", t, re.S)]
        results = [f for f in formulas
                   if len(f) >= 15 and re.search(r"(?:=|\\approx)\s*-?[\d.]+\s*$", f) and f not in asked]
        keys[qid] = [seg for t in texts for seg in plain_segments(t)] + results
    return keys


def key_leaks(files: dict[str, str], keys: dict[str, list[str]]) -> list[str]:
    """Where a key text appears: in a file as it is, or once its HTML tags are removed (emphasis, maths)."""
    leaks = []
    for name, text in files.items():
        forms = (squash(text), squash(re.sub(r"<[^>]+>", "", text)))
        leaks += [f"{name}: {qid}: {seg[:80]!r}" for qid, segments in keys.items() for seg in segments
                  if any(seg in form for form in forms)]
    return leaks


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The built site (its html folder); the build must be warning-free and within the time limit."""
    root = tmp_path_factory.mktemp("course-site")
    out, doctrees = root / "html", root / "doctrees"
    start = time.monotonic()
    proc = subprocess.run(sphinx_command(out, doctrees), cwd=REPO, capture_output=True, text=True, timeout=600)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, f"the site build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    warnings = [ln for ln in proc.stderr.splitlines() if "WARNING" in ln or "ERROR" in ln]
    assert not warnings, "the site build warned:\n" + "\n".join(warnings[:30])
    pages = site_pages(out)
    BUILD_NOTES.append(f"site: built {len(pages)} pages in {elapsed:.1f} s (budget {BUILD_BUDGET_S} s) into {out}")
    assert elapsed <= BUILD_LIMIT_S, f"the site build took {elapsed:.0f} s (limit {BUILD_LIMIT_S} s)"
    return out


def site_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


def notebook_page(site: Path, nb: Path) -> Path:
    return site / "notebooks" / (nb.stem + ".html")


# ---------------------------------------------------------------------------------------------- no browser

def test_launch_links_come_from_one_setting():
    """Binder/Colab links are built from the repository URL and left out while it is empty."""
    assert course_site.launch_links("", "notebooks/04_x.ipynb") == {}
    assert "Binder" not in course_site.run_yourself_markdown("notebooks/04_x.ipynb", "")
    links = course_site.launch_links("https://github.com/someone/course/", "notebooks/04_x.ipynb")
    assert links == {
        "Binder": "https://mybinder.org/v2/gh/someone/course/main?labpath=notebooks/04_x.ipynb",
        "Colab": "https://colab.research.google.com/github/someone/course/blob/main/notebooks/04_x.ipynb"}
    box = course_site.run_yourself_markdown("notebooks/04_x.ipynb", "https://github.com/someone/course")
    assert "[Open in Binder](" in box and "[Open in Colab](" in box and "make lab" in box
    assert set(course_site.launch_links("https://gitlab.com/a/b", "n.ipynb")) == {"Binder"}


def test_site_has_every_page_and_no_quiz_key(site, e2e_note):
    """One page per notebook and guide, an index.html, and no explanation from the quiz bank in any file."""
    for note in BUILD_NOTES:
        e2e_note(note)
    for nb in NOTEBOOKS:
        assert notebook_page(site, nb).exists(), f"no page for {nb.name}"
    for page in ["index.html", "README.html", "search.html", "notebooks/INSTRUCTORS.html", "quizzes/README.html"]:
        assert (site / page).exists(), f"no {page}"
    landing = (site / "README.html").read_text(encoding="utf-8")
    for nb in NOTEBOOKS:   # the course map's notebook names link to their pages (beside the sidebar's links)
        assert re.search(rf'href="notebooks/{nb.stem}\.html"><span[^>]*><code', landing), f"course map: {nb.name}"
    keys = key_segments()
    assert sum(map(len, keys.values())) > 50, "found too few explanation texts in the bank to check against"
    files = {path.relative_to(site).as_posix(): path.read_text(encoding="utf-8", errors="replace")
             for path in site.rglob("*") if path.suffix in TEXT_SUFFIXES and "_static" not in path.parts}
    leaks = key_leaks(files, keys)
    assert not leaks, "quiz keys in the built site:\n" + "\n".join(leaks[:20])


def test_key_check_finds_a_leak():
    """Control: an explanation shown the way the quiz widget shows feedback (its HTML) is found."""
    from course_lib.quiz import markdown_to_html
    from course_lib.quiz_bank import load_bank

    keys = key_segments()
    for q in list(load_bank().values())[::7] + [q for q in load_bank().values() if q.kind == "numeric"]:
        texts = [c.explain for c in q.choices] or [q.explain_correct]
        page = f"<html><body><div class='feedback'>{markdown_to_html(texts[-1])}</div></body></html>"
        assert key_leaks({"page.html": page}, {q.id: keys[q.id]}), f"{q.id}: a leaked explanation was not found"
        assert not key_leaks({"page.html": markdown_to_html(q.prompt)}, {q.id: keys[q.id]})


def test_widget_state_and_cdn_scripts_are_gone(site):
    """No saved widget state, widget manager or require.js reaches a page; no script or style from the web."""
    for page in site_pages(site):
        text = page.read_text(encoding="utf-8")
        assert "application/vnd.jupyter.widget" not in text, f"{page.name}: widget state or view left"
        remote = re.findall(r"<(?:script|link|img)[^>]+(?:src|href)=\"(?:https?:)?//[^\"]+\"", text)
        assert not remote, f"{page.name}: loads from the network: {remote[:3]}"


# ---------------------------------------------------------------------------------------------- browser

# JavaScript: what one page shows. Raw-maths text is read outside code, scripts and MathJax's own output.
_PAGE_FACTS_JS = r"""
() => {
  const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA', 'MJX-CONTAINER', 'KBD', 'NOSCRIPT']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    let p = n.parentElement, hidden = false;
    while (p) { if (skip.has(p.tagName)) { hidden = true; break; } p = p.parentElement; }
    if (!hidden && n.textContent.trim()) texts.push(n.textContent);
  }
  const imgs = [...document.querySelectorAll('img')].map(i => ({
    src: i.getAttribute('src'), alt: (i.getAttribute('alt') || '').trim(),
    ok: i.complete && i.naturalWidth > 0, content: !!i.closest('.bd-article, article')}));
  const empty = [...document.querySelectorAll('.cell_output, .cell_output > .output')]
    .filter(o => !o.textContent.trim() && !o.querySelector('img, svg, mjx-container, iframe, video, canvas'))
    .map(o => (o.closest('.cell') || o).outerHTML.slice(0, 300));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  const cells = tag => [...document.querySelectorAll('div.cell.tag_' + tag)].map(c => ({
    input: (c.querySelector('.cell_input') || {textContent: ''}).textContent,
    output: [...c.querySelectorAll('.cell_output')].map(o => o.innerText).join('\n'),
    imgs: c.querySelectorAll('.cell_output img').length,
    inputHidden: !!c.querySelector('details.hide') && !c.querySelector('details.hide[open]')}));
  const buttons = [...document.querySelectorAll('button, input[type=submit], .jupyter-button')]
    .map(b => (b.textContent || b.value || '').trim()).filter(t => /submit/i.test(t));
  return {texts, imgs, fullText: document.body.innerText, empty, links, ids, buttons,
          math: document.querySelectorAll('span.math, div.math').length,
          typeset: document.querySelectorAll('mjx-container').length,
          mjxErrors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
          quiz: cells('quiz'), checks: cells('exercise-check'), exercises: cells('exercise'),
          explorers: cells('explorer'), claims: cells('claim'),
          prev: (document.querySelector('a.left-prev') || {}).href || null,
          next: (document.querySelector('a.right-next') || {}).href || null};
}
"""


class SitePage:
    """One page opened from disk with the network blocked; collects console errors and failed requests."""

    def __init__(self, context, path: Path):
        self.path = path
        self.problems: list[str] = []
        self.tab = context.new_page()
        self.tab.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        self.tab.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.tab.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))
        self.tab.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            self.problems.append(f"network request blocked: {url}")
            route.abort()

    def open(self, query: str = "", lands_on: str | None = None) -> dict:
        """Load the page (``lands_on``: the file name a redirect ends on) and return what it shows."""
        self.tab.goto(self.path.as_uri() + query, wait_until="load")
        if lands_on:
            self.tab.wait_for_url(re.compile(rf".*/{re.escape(lands_on)}$"))
            self.tab.wait_for_load_state("load")
        # MathJax (an async script, so loaded by now) typesets after load: wait for it; pages without maths
        # do not load it
        self.tab.evaluate("async () => { const mj = window.MathJax;"
                          " if (mj && mj.startup && mj.startup.promise) await mj.startup.promise; return true; }")
        return self.tab.evaluate(_PAGE_FACTS_JS)

    def close(self) -> None:
        self.tab.close()


def _resolve(site: Path, page: Path, href: str) -> tuple[Path | None, str]:
    """The file and fragment an internal href points to; (None, '') for external links."""
    parsed = urllib.parse.urlparse(href)
    if parsed.scheme in ("http", "https", "mailto", "javascript"):
        return None, ""
    if parsed.scheme == "file":
        target = Path(urllib.parse.unquote(parsed.path))
    elif parsed.path:
        target = (page.parent / urllib.parse.unquote(parsed.path)).resolve()
    else:
        target = page
    return target, urllib.parse.unquote(parsed.fragment)


def test_every_page_offline_in_the_browser(chromium_ready, browser, site):
    """Every page from disk, network blocked: the checks listed in the module docstring."""
    pages = site_pages(site)
    ids_by_page: dict[Path, set[str]] = {}
    facts_by_page: dict[Path, dict] = {}
    failures: list[str] = []
    for path in pages:
        view = SitePage(browser, path)
        try:
            # index.html redirects to the landing page, README.html
            facts = view.open(lands_on="README.html" if path == site / "index.html" else None)
        finally:
            view.close()
        name = path.relative_to(site).as_posix()
        facts_by_page[path] = facts
        ids_by_page[path] = set(facts["ids"])
        failures += [f"{name}: {p}" for p in view.problems]
        raw = [t.strip()[:120] for t in facts["texts"] if RAW_MATH.search(t)]
        failures += [f"{name}: raw maths in the text: {t!r}" for t in raw]
        if facts["math"] and facts["typeset"] < facts["math"]:
            failures.append(f"{name}: {facts['math']} maths elements but only {facts['typeset']} typeset")
        if facts["mjxErrors"]:
            failures.append(f"{name}: {facts['mjxErrors']} MathJax errors")
        for img in facts["imgs"]:
            if not img["ok"]:
                failures.append(f"{name}: image does not load: {img['src']}")
            if img["content"] and (not img["alt"] or img["alt"] == img["src"]):
                failures.append(f"{name}: image without alt text: {img['src']}")
        failures += [f"{name}: empty output box: {e}" for e in facts["empty"]]
        failures += [f"{name}: a Submit button: {b!r}" for b in facts["buttons"]]

    # links: every internal href reaches a built file, and its #fragment an element of that page
    for path, facts in facts_by_page.items():
        name = path.relative_to(site).as_posix()
        for href in facts["links"]:
            target, fragment = _resolve(site, path, href)
            if target is None:
                continue
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                failures.append(f"{name}: dead link {href!r}")
            elif fragment and target in ids_by_page and fragment not in ids_by_page[target]:
                failures.append(f"{name}: link {href!r}: no #{fragment} on that page")
            elif fragment and target.suffix == ".html" and target not in ids_by_page:
                if f'id="{fragment}"' not in target.read_text(encoding="utf-8"):
                    failures.append(f"{name}: link {href!r}: no #{fragment} on that page")

    # the notebook pages: figures, quizzes, exercises, explorers, claims, previous/next
    from course_lib.quiz_bank import load_bank

    bank = load_bank()
    for i, nb in enumerate(NOTEBOOKS):
        path = notebook_page(site, nb)
        facts, name = facts_by_page[path], nb.name
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        saved_images = sum(1 for c in cells for o in c.get("outputs", [])
                           if "image/png" in o.get("data", {}) or "image/jpeg" in o.get("data", {}))
        shown = sum(1 for img in facts["imgs"] if img["content"])
        if shown < saved_images:
            failures.append(f"{name}: {shown} pictures on the page, {saved_images} image outputs in the notebook")
        n_quiz = sum(1 for c in cells if c["cell_type"] == "code"
                     and course_site.QUIZ_SHOW_RE.search("".join(c["source"])))
        if len(facts["quiz"]) != n_quiz:
            failures.append(f"{name}: {len(facts['quiz'])} concept checks on the page, {n_quiz} in the notebook")
        for quiz in facts["quiz"]:
            qid = course_site.QUIZ_SHOW_RE.search(quiz["input"]).group("id")
            prompt = plain_segments(bank[qid].prompt, min_len=12)
            if "Answer it in JupyterLab" not in quiz["output"]:
                failures.append(f"{name}: {qid} does not say to answer it in JupyterLab")
            if prompt and squash(prompt[0]) not in squash(quiz["output"].replace("*", "")):
                failures.append(f"{name}: {qid}: its question text is not shown")
            for choice in bank[qid].choices:
                if f"{choice.id})" not in quiz["output"]:
                    failures.append(f"{name}: {qid}: choice {choice.id}) is not shown")
        for check in facts["checks"]:
            lines = [ln for ln in check["output"].splitlines() if ln.strip()]
            if (not lines or not lines[0].startswith("FAIL — ") or not all(ln.startswith(" ") for ln in lines[1:])
                    or "exercises.hint(" not in lines[-1]):
                failures.append(f"{name}: an exercise check shows {lines!r}, not one whole FAIL verdict")
        failures += [f"{name}: an exercise cell shows output: {e['output'][:100]!r}"
                     for e in facts["exercises"] if e["output"].strip()]
        for explorer in facts["explorers"]:
            if not ("Run it in JupyterLab" in explorer["output"] or "run it in JupyterLab" in explorer["output"]):
                failures.append(f"{name}: an explorer without its 'run it in JupyterLab' note")
        for claim in facts["claims"]:
            if not claim["inputHidden"] or not claim["output"].lstrip().startswith("✓"):
                failures.append(f"{name}: a claim cell shows its code or no ✓ line: {claim['output'][:80]!r}")
        if "make lab" not in facts["fullText"]:
            failures.append(f"{name}: the page does not say how to open it locally (make lab)")
        if i > 0 and not (facts["prev"] or "").endswith(NOTEBOOKS[i - 1].stem + ".html"):
            failures.append(f"{name}: previous link {facts['prev']!r}")
        if i + 1 < len(NOTEBOOKS) and not (facts["next"] or "").endswith(NOTEBOOKS[i + 1].stem + ".html"):
            failures.append(f"{name}: next link {facts['next']!r}")
    assert not failures, f"{len(failures)} problems on {len(pages)} pages:\n" + "\n".join(failures[:60])


def test_search_works_offline(chromium_ready, browser, site):
    """Full-text search: search.html?q=surrogate lists the clipped-surrogate notebook, from disk, offline."""
    view = SitePage(browser, site / "search.html")
    try:
        view.open("?q=surrogate")
        view.tab.wait_for_function(
            "() => document.querySelectorAll('#search-results li, .search li').length > 0", timeout=30_000)
        hits = view.tab.evaluate("() => [...document.querySelectorAll('#search-results li a, .search li a')]"
                                 ".map(a => a.getAttribute('href'))")
    finally:
        view.close()
    assert view.problems == [], view.problems
    assert any("04_clipped_surrogate" in h for h in hits), hits
