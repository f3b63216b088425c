"""Read-first notebooks (course_lib/read_first.py): a never-run notebook shows no dead or raw widget.

No browser here (tests/e2e/test_course_in_browser.py opens the notebooks in JupyterLab). The conversion is
tried on a hand-made notebook with each kind of widget, on the browser-test fixture (executed by a real kernel
and saved with its widgets, as the build gets it), through ``tools/build_notebook.build``, and every committed
notebook must already be in read-first form.
"""
from __future__ import annotations

import base64
import html
import copy
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import read_first as rf

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIXTURE = ROOT / "tests" / "e2e" / "fixture_course.ipynb"
EXPLORER_SOURCE = re.compile(r"\bwidgets\.interact(?:ive)?\(|^\s*interact(?:ive)?\(", re.M)
TQDM_SOURCE = re.compile(r"\btqdm\(")
QUIZ_SOURCE = re.compile(r"""^\s*quiz\.show\(\s*["'](?P<id>\d\d\.\w+)["']""", re.M)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n not really a picture").decode()


# ---------------------------------------------------------------------------------------------- a notebook by hand

def model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}


def view(model_id: str, plain: str, **more) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {rf.WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
                     "text/plain": plain, **more}}


def handmade() -> dict:
    """A notebook as nbclient saves it: an explorer, a finished tqdm bar, a concept check, a bare widget."""
    state = {
        "ex": model("VBoxModel", children=["IPY_MODEL_sl", "IPY_MODEL_dd", "IPY_MODEL_out"]),
        "sl": model("FloatSliderModel", description="epsilon", value=0.2),
        "dd": model("DropdownModel", description="seed", index=1, _options_labels=["0", "1"]),
        "out": model("OutputModel", outputs=[
            {"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG, "text/plain": "<Figure>"}},
            {"output_type": "stream", "name": "stdout", "text": "gain +0.2\n"}]),
        "bar": model("HBoxModel", children=["IPY_MODEL_b1", "IPY_MODEL_b2", "IPY_MODEL_b3"]),
        "b1": model("HTMLModel", value="pre-training: 100%"),
        "b2": model("FloatProgressModel", value=6, max=6),
        "b3": model("HTMLModel", value="\u20076/6 [00:05&lt;00:00, 1.10it/s]"),
        "quiz": model("VBoxModel", children=["IPY_MODEL_cb"]),
        "cb": model("CheckboxModel", description="a) something", value=False),
        "btn": model("ButtonModel", description="Go"),
    }
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [md("# 09 · A title"), md("## 3. Explore"),
             code("widgets.interactive(f, eps=(0.0, 0.5))", outputs=[
                 {**view("ex", "interactive(children=(FloatSlider(value=0.2, description='epsilon'), ...))"),
                  "output_type": "execute_result", "execution_count": 3}]),
             code("for s in tqdm(range(6)): pass", outputs=[
                 {"output_type": "stream", "name": "stdout", "text": "before\n"},
                 view("bar", "pre-training:   0%|          | 0/6 [00:00<?, ?it/s]")]),
             code('quiz.show("09.q")', outputs=[view("quiz", "Question 09.q ...", **{
                 "text/markdown": "**Question `09.q`**\n\n- **a)** something"})]),
             code("widgets.Button(description='Go')", outputs=[view("btn", "Button(description='Go')")]),
             code("print(1)", outputs=[{"output_type": "stream", "name": "stdout", "text": "1\n"}])]
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index}"   # fixed ids: two hand-made notebooks are equal
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["widgets"] = {rf.WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    return json.loads(nbformat.writes(nbformat.from_dict(nb)))


def all_text(output: dict) -> str:
    return rf.text_of(output.get("text")) + "".join(rf.text_of(v) for k, v in output.get("data", {}).items()
                                                    if k.startswith("text/"))


def test_each_kind_of_widget_gets_its_read_first_version():
    raw = handmade()
    assert rf.widget_leftovers(raw), "the hand-made notebook should count as raw"
    nb = rf.read_first_notebook(copy.deepcopy(raw))
    explorer, bar, quiz, button, plain = [c["outputs"] for c in nb["cells"][2:]]

    # explorer: the picture of its default view, with alt text (metadata and <img alt>), its text, the line
    assert [o["output_type"] for o in explorer] == ["display_data", "stream", "display_data"]
    picture, printed, line = explorer
    alt = picture["metadata"]["image/png"]["alt"]
    assert alt == "Default view of the explorer (epsilon = 0.2, seed = 1) in section '3. Explore' of 09 · A title"
    assert picture["data"]["image/png"] == PNG
    assert picture["data"]["text/html"] == f'<img src="data:image/png;base64,{PNG}" alt="{html.escape(alt)}"/>'
    assert rf.kind_of(picture) == "explorer-picture"
    assert rf.text_of(printed["text"]) == "gain +0.2\n"
    assert rf.LIVE_LINE in line["data"]["text/markdown"] and rf.LIVE_LINE in line["data"]["text/plain"]
    assert line["metadata"][rf.MARK] == {"kind": "explorer", "settings": "epsilon = 0.2, seed = 1"}

    # the progress bar: its final text, after the cell's other output; never the 0 % text from display time
    assert [(o["output_type"], o["name"], rf.text_of(o["text"])) for o in bar] == [
        ("stream", "stdout", "before\n"), ("stream", "stdout", "pre-training: 100% 6/6 [00:05<00:00, 1.10it/s]\n")]
    # the concept check: its own text version (question and choices), without the widget view
    assert {k: rf.text_of(v) for k, v in quiz[0]["data"].items()} == {
        "text/plain": "Question 09.q ...", "text/markdown": "**Question `09.q`**\n\n- **a)** something"}
    # a widget with nothing to show statically: one line saying to run it; other outputs untouched
    assert button[0]["data"]["text/markdown"] == rf.WIDGET_NOTE
    assert plain == raw["cells"][6]["outputs"]

    assert rf.widget_leftovers(nb) == [] and "widgets" not in nb["metadata"]
    nbformat.validate(nbformat.from_dict(nb))


def test_conversion_is_deterministic_and_idempotent():
    once = rf.read_first_notebook(handmade())
    assert json.dumps(once, sort_keys=True) == json.dumps(rf.read_first_notebook(handmade()), sort_keys=True)
    assert rf.read_first_notebook(copy.deepcopy(once)) == once


def test_a_cell_that_already_shows_a_picture_gets_no_second_one():
    raw = handmade()
    outputs = raw["cells"][2]["outputs"]
    outputs.insert(0, {"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG, "text/plain": "x"}})
    new = rf.read_first_notebook(raw)["cells"][2]["outputs"]
    assert sum(rf.is_picture(o) for o in new) == 1 and rf.LIVE_LINE in all_text(new[-1])


@pytest.mark.parametrize("text", [
    "interactive(children=(IntSlider(value=10, description='checkpoint'), Output()))",
    "pre-training PPO (one run per seed):   0%|          | 0/6 [00:00<?, ?it/s]",
    "live ablation: 0% 0/10 [00:00<?, ?it/s]",
    "HBox(children=(HTML(value=''), FloatProgress(value=0.0, max=6.0)))",
])
def test_raw_widget_text_is_found(text):
    nb = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}]}
    assert rf.widget_leftovers(nb), text


@pytest.mark.parametrize("text", ["pre-training: 100% 6/6 [00:05<00:00]", "clip fraction 10% of 60/600 samples",
                                  "an interactive explorer", "share outside the band 0.42"])
def test_finished_text_is_not_flagged(text):
    nb = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}]}
    assert rf.widget_leftovers(nb) == []


# ---------------------------------------------------------------------------------------------- a real kernel's output

def test_fixture_as_the_kernel_saved_it_converts():
    """The browser-test fixture was executed by a real kernel with ipywidgets, tqdm and matplotlib: it holds
    the raw texts, and its read-first version holds none of them and has the explorer's picture."""
    raw = json.loads(FIXTURE.read_text(encoding="utf-8"))
    found = " ".join(rf.widget_leftovers(raw))
    assert "interactive(" in found and "0%" in found and "widget view" in found and "metadata.widgets" in found
    nb = rf.read_first_notebook(raw)
    assert rf.widget_leftovers(nb) == []
    check_read_first_cells(nb["cells"], "fixture")


# ---------------------------------------------------------------------------------------------- the build

def test_build_writes_the_read_first_version(tmp_path, monkeypatch):
    """tools/build_notebook.build converts what the kernel left before it writes the notebook."""
    sys.path.insert(0, str(ROOT / "tools"))
    import build_notebook

    raw = json.loads(FIXTURE.read_text(encoding="utf-8"))

    def fake_execute(notebook, timeout=600):
        notebook.cells = nbformat.from_dict(raw).cells   # what a run leaves: outputs, widget views, state
        notebook.metadata["widgets"] = raw["metadata"]["widgets"]
        return 1.0

    source = tmp_path / "src" / "99_fixture.py"
    source.parent.mkdir()
    source.write_text("# %% [markdown]\n# # Fixture\n\n# %%\nx = 1\n")
    monkeypatch.setattr(build_notebook, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(build_notebook, "execute", fake_execute)
    target, _ = build_notebook.build(source)
    written = json.loads(target.read_text(encoding="utf-8"))
    assert rf.widget_leftovers(written) == []
    check_read_first_cells(written["cells"], target.name)
    first = target.read_bytes()
    build_notebook.build(source)
    assert target.read_bytes() == first, "building the same run twice gave different files"


# ---------------------------------------------------------------------------------------------- committed notebooks

def check_read_first_cells(cells: list[dict], name: str) -> None:
    """Every explorer cell shows a picture with alt text (metadata and <img alt>) and the live line; every
    tqdm cell a finished bar; every concept check its question and choices as text."""
    explorers = [c for c in cells if c["cell_type"] == "code" and EXPLORER_SOURCE.search(rf.text_of(c["source"]))]
    assert explorers, f"{name}: no explorer cell found (the test would pass vacuously)"
    for cell in explorers:
        outs = cell["outputs"]
        pictures = [o for o in outs if "image/png" in o.get("data", {})]
        head = rf.text_of(cell["source"])[:80]
        assert pictures, f"{name}: explorer without a picture: {head!r}"
        for pic in pictures:
            alt = pic.get("metadata", {}).get("image/png", {}).get("alt", "")
            assert alt.strip(), f"{name}: explorer picture without alt text: {head!r}"
            tag = rf.text_of(pic["data"].get("text/html"))
            assert tag.startswith("<img ") and 'alt="' in tag and 'alt=""' not in tag, f"{name}: {tag[-200:]!r}"
        assert rf.LIVE_LINE in all_text(outs[-1]), f"{name}: explorer's last output is not the live line: {head!r}"
    for cell in cells:
        if cell["cell_type"] == "code" and TQDM_SOURCE.search(rf.text_of(cell["source"])):
            bars = [t for o in cell["outputs"] for t in all_text(o).splitlines() if re.search(r"\d+% \d+/\d+", t)]
            assert bars, f"{name}: a tqdm cell without its final bar text: {rf.text_of(cell['source'])[:80]!r}"
            for bar in bars:
                done, total = re.search(r"(\d+)/(\d+)", bar).groups()
                assert "100%" in bar and done == total, f"{name}: an unfinished bar: {bar!r}"
        quiz = QUIZ_SOURCE.search(rf.text_of(cell["source"])) if cell["cell_type"] == "code" else None
        if quiz:
            from course_lib.quiz_bank import get_question
            shown = "".join(rf.text_of(o.get("data", {}).get("text/markdown")) for o in cell["outputs"])
            q = get_question(quiz["id"])
            assert quiz["id"] in shown, f"{name}: {quiz['id']} does not show its question"
            for choice in q.choices:
                assert f"**{choice.id})**" in shown, f"{name}: {quiz['id']}: choice {choice.id} not shown as text"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_read_first(path):
    """No widget view, no widget state, no raw ``interactive(`` text, no ``0%|`` bar; explorers, bars and
    concept checks in their read-first form."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    leftovers = rf.widget_leftovers(nb)
    assert not leftovers, f"{path.name} is not read-first (rebuild it with `make notebooks`):\n" + "\n".join(leftovers[:10])
    check_read_first_cells(nb["cells"], path.name)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_outputs_need_no_trust(path):
    """Nothing a committed notebook shows depends on trust: no script, no SVG (JupyterLab shows neither
    untrusted), and HTML only as tags JupyterLab's sanitiser keeps (<figure>, <img> with a data: source, a
    displayed width or height and alt text, <figcaption>), so a fresh clone sees what a trusted notebook shows."""
    kept = re.compile(r"</?(?:figure|figcaption)>|<img src=\"data:image/(?:png|gif|jpeg);base64,[A-Za-z0-9+/=]+\" "
                      r"(?:(?:width|height)=\"\d+\" )*alt=\"[^\"<>]+\" ?/?>")
    for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            assert not {"application/javascript", "image/svg+xml", rf.WIDGET_VIEW} & set(data), \
                f"{path.name} cell {index}: {sorted(data)}"
            if "text/html" in data:
                rest = kept.sub("", rf.text_of(data["text/html"])).strip()
                assert rest == "" or "<" not in rest, f"{path.name} cell {index}: HTML beyond figures: {rest[:200]!r}"
