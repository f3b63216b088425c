"""Every picture in the committed notebooks is described and sharp, in every viewer.

* Each image output (in a cell, or saved inside an explorer's Output widget) carries the same meaningful alt
  text three ways: ``<img alt=...>`` in its ``text/html`` representation (what JupyterLab 4 and nbconvert's
  default ``lab`` HTML template show: both ignore PNG metadata), ``alt`` in its ``image/png`` metadata
  (nbconvert's ``classic`` template, the course website) and its ``text/plain`` representation.
* Each PNG is HiDPI: at least twice as many pixels as its displayed width and height.
* nbconvert's accessibility report, the warning "Alternative text is missing on N image(s)" that its HTML
  exporter logs (and the placeholder alt it then inserts), finds nothing in the HTML export of any notebook.
* The sources show every figure through ``plots.show(..., alt=...)``, so a learner's re-run gets the same.

Alt text is "meaningful" here when it is a sentence of at least eight words that is not a placeholder
("figure 1", "image", nbconvert's "No description has been provided ...") and not the fallback that
``course_lib.plots`` gives a figure without any text.
"""
from __future__ import annotations

import base64
import html
import json
import logging
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
PLACEHOLDER = re.compile(r"^(?:an? )?(?:figure|image|plot|chart|picture|graph)(?: \d+)?\.?$|no description has been"
                         r"|^a figure without title, labels or legend", re.I)
IMG_RE = re.compile(r"<img\b[^>]*>", re.I)
ATTR_RE = r'\b{}\s*=\s*"([^"]*)"'


def meaningful(alt: object) -> bool:
    """True for alt text that describes something: eight words or more and no placeholder."""
    return isinstance(alt, str) and len(alt.split()) >= 8 and not PLACEHOLDER.search(alt.strip())


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def picture_outputs(nb: dict):
    """(where, output) for every output with an image: cell outputs, then outputs saved in widget state."""
    for index, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            if any(t in out.get("data", {}) for t in IMAGE_TYPES):
                yield f"cell {index}", out
    state = (nb.get("metadata", {}).get("widgets", {}) or {}).get(WIDGET_STATE, {}).get("state", {})
    for model_id, model in state.items():
        for out in model.get("state", {}).get("outputs", []) or []:
            if any(t in out.get("data", {}) for t in IMAGE_TYPES):
                yield f"widget {model_id[:8]}", out


def picture_problems(out: dict) -> list[str]:
    """What is wrong with one image output (empty list: described three ways and HiDPI)."""
    data, metadata = out.get("data", {}), out.get("metadata", {}) or {}
    if "image/png" not in data:
        return [f"an image output without a PNG: {sorted(data)}"]
    problems = []
    png_meta = metadata.get("image/png") or {}
    alt = png_meta.get("alt")
    if not meaningful(alt):
        problems.append(f"image/png metadata alt is missing or not a description: {alt!r}")
    text = "".join(data.get("text/html", ""))
    imgs = IMG_RE.findall(text)
    if len(imgs) != 1:
        problems.append(f"text/html should hold one <img>, holds {len(imgs)}")
    else:
        html_alt = re.search(ATTR_RE.format("alt"), imgs[0])
        if html_alt is None or html.unescape(html_alt.group(1)) != alt:
            problems.append("the <img> in text/html lacks the same alt text")
    if "".join(data.get("text/plain", "")) != alt:
        problems.append("text/plain is not the alt text")
    width, height = png_meta.get("width"), png_meta.get("height")
    if not (isinstance(width, int) and isinstance(height, int)):
        problems.append(f"image/png metadata lacks the displayed width/height: {png_meta}")
    else:
        pixels = png_size(base64.b64decode("".join(data["image/png"])))
        if pixels[0] < 2 * width - 1 or pixels[1] < 2 * height - 1:
            problems.append(f"not HiDPI: {pixels[0]} x {pixels[1]} pixels shown at {width} x {height}")
    return problems


# ------------------------------------------------------------------------------------------ the checks work

def test_the_checks_catch_what_they_should():
    assert meaningful("Learning curves of DQN and A2C on CartPole-v1 over ten seeds.")
    for bad in (None, "", "Figure 1", "image", "A figure without title, labels or legend.",
                "No description has been provided for this image", "two short words"):
        assert not meaningful(bad), bad
    # a figure as Jupyter's inline backend saves it: PNG at 1x, no alt, no HTML
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (630).to_bytes(4, "big")
                           + (324).to_bytes(4, "big")).decode()
    plain = {"output_type": "display_data", "data": {"image/png": png, "text/plain": "<Figure size 630x324>"},
             "metadata": {}}
    assert len(picture_problems(plain)) >= 3
    low_res = {"output_type": "display_data", "metadata": {"image/png": {"width": 630, "height": 324, "alt": "x"}},
               "data": {"image/png": png, "text/plain": "x", "text/html": '<img src="" alt="x">'}}
    assert any("not HiDPI" in p for p in picture_problems(low_res))


def test_a_figure_shown_by_the_course_passes_the_checks():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib import plots

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a line")
    ax.legend()
    data, metadata = plots.figure_bundle(fig, alt="A rising straight line from the origin to the point one, one")
    plt.close(fig)
    assert picture_problems({"output_type": "display_data", "data": data, "metadata": metadata}) == []


# ------------------------------------------------------------------------------------------ the notebooks

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_picture_is_described_and_hidpi(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    pictures = list(picture_outputs(nb))
    assert pictures, f"{path.name} has no figures"
    problems = [f"{where}: {p}" for where, out in pictures for p in picture_problems(out)]
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
    alts = [out["metadata"]["image/png"]["alt"] for where, out in pictures if where.startswith("cell")]
    assert len(set(alts)) == len(alts), f"{path.name}: two figures share one alt text"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbconvert_accessibility_report_finds_no_image_without_alt(path, caplog):
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    exporter = HTMLExporter()   # the default: the "lab" template
    with caplog.at_level(logging.WARNING):
        body, _ = exporter.from_notebook_node(nb)
    assert "Alternative text is missing" not in caplog.text, caplog.text
    from bs4 import BeautifulSoup   # as nbconvert reads its own export (widget state in <script> is not HTML)

    imgs = BeautifulSoup(body, features="html.parser").select("img")
    assert imgs, f"{path.name}: the export has no images"
    for img in imgs:
        assert meaningful(img.get("alt")), f"{path.name}: <img> alt {img.get('alt')!r}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_sources_show_every_figure_with_alt_text(source):
    text = source.read_text(encoding="utf-8")
    assert "plt.show(" not in text, f"{source.name}: show figures with plots.show(fig, alt=...), not plt.show()"
    calls = re.findall(r"plots\.show\(([^)]*)", text)
    assert calls, f"{source.name} shows no figure"
    assert all("alt=" in call for call in calls), f"{source.name}: a plots.show(...) call without alt="
