"""Stored results cannot silently go stale: every file in notebooks/data/ is checked against today's code.

For each ``notebooks/data/NAME.json``: its provenance is complete, its config equals what the data script's
``config()`` (the settings the notebook uses) gives today, the hash of the code that made it matches, every
extra file it records is intact, and a live re-run of its first updates reproduces the stored prefix.
Otherwise the test fails with "stale: run `make data NAME`". Every other file in notebooks/data/ must be an
output recorded (with its SHA-256) by one of those JSON files.
"""
from __future__ import annotations

import inspect
import json
import sys
import textwrap
from pathlib import Path

import pytest

from course_lib import stored_results

DATA_FILES = sorted(p for p in stored_results.DATA_DIR.iterdir() if p.is_file())
JSON_FILES = [p for p in DATA_FILES if p.suffix == ".json"]


# ------------------------------------------------------------- every stored result in the repository ----
def test_every_data_script_has_its_stored_result_and_every_json_has_a_script():
    scripts = set(stored_results.script_names())
    stored = {p.stem for p in JSON_FILES}
    assert scripts, "no data scripts found in notebooks/scripts/"
    assert scripts == stored, (f"scripts without a stored result: {sorted(scripts - stored)} (run `make data NAME`); "
                               f"stored results without a script: {sorted(stored - scripts)}")


@pytest.mark.parametrize("path", JSON_FILES, ids=[p.stem for p in JSON_FILES])
def test_stored_result_matches_todays_code_config_and_prefix(path):
    stored = stored_results.load(path.stem)  # provenance complete; config, hash and outputs checked
    provenance = stored.provenance
    assert provenance["script"] == f"notebooks/scripts/{path.stem}.py"
    assert provenance["seeds"] == stored.config["seeds"] and len(provenance["seeds"]) >= 1
    assert {"python", "torch", "numpy", "gymnasium"} <= set(provenance["versions"])
    assert provenance["prefix"] not in (None, [], {}), "a stored result needs a prefix that can be re-run"
    live, executed = _run_recording_course_lib_calls(
        lambda: stored_results.load_script(path.stem).prefix(stored.config))
    stored_results.assert_same_prefix(stored, live)
    # the hash is only as good as its static picture of the code: every course_lib function or class the live
    # re-run actually called must be inside what the hash covers
    reach = stored_results.reach(path.stem)
    missed = sorted(f"{mod}.{name}" for mod, name in executed
                    if mod not in stored_results.NOT_HASHED and not ({name, "*"} & reach.get(mod, set())))
    assert not missed, f"{path.stem}: the re-run called {missed}, which the source hash does not cover"


def _run_recording_course_lib_calls(fn):
    """``(fn(), {(module, top-level name)})`` of every course_lib function (or method: its class) that ran."""
    root = str(stored_results.PACKAGE_DIR) + "/"
    seen: set[tuple[str, str]] = set()

    def profiler(frame, event, arg):
        code = frame.f_code
        # functions only: a class body also runs as a frame, when its module is imported
        if event == "call" and code.co_filename.startswith(root) and code.co_flags & inspect.CO_NEWLOCALS:
            top = code.co_qualname.split(".")[0]
            if not top.startswith("<"):  # module-level code and its lambdas always count in the hash
                seen.add((code.co_filename, top))

    sys.setprofile(profiler)
    try:
        result = fn()
    finally:
        sys.setprofile(None)
    modules = set()
    for filename, top in seen:
        rel = Path(filename).relative_to(stored_results.ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        modules.add((".".join(parts), top))
    return result, modules


@pytest.mark.parametrize("path", [p for p in DATA_FILES if p.suffix != ".json"],
                         ids=[p.name for p in DATA_FILES if p.suffix != ".json"])
def test_every_other_data_file_is_a_recorded_output(path):
    owners = [p.stem for p in JSON_FILES
              if path.name in json.loads(p.read_text()).get("provenance", {}).get("outputs", {})]
    assert owners, f"notebooks/data/{path.name} is recorded by no stored result: which script makes it?"
    stored_results.load(owners[0])  # checks its SHA-256


# ------------------------------------------------------------- the checks themselves, on a toy script ----
TOY = '''
import random
from course_lib import stored_results
from course_lib.stats import bootstrap_ci

OUTPUTS = ["toy_weights.bin"]
STEP = 0.5


def config():
    return {"seeds": [0, 1], "updates": 5, "step": STEP}


def _updates(seed, n, step):
    rng = random.Random(seed)
    return [round(rng.random() * step, 6) for _ in range(n)]


def prefix(config):
    return _updates(config["seeds"][0], 2, config["step"])


def run(config):
    stored_results.data_path("toy_weights.bin").write_bytes(b"weights")
    runs = [_updates(s, config["updates"], config["step"]) for s in config["seeds"]]
    return {"runs": runs, "ci": list(bootstrap_ci([r[-1] for r in runs], n_resamples=100))}
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A repository in miniature: one data script, its data folder, and the real course_lib."""
    scripts, data = tmp_path / "scripts", tmp_path / "data"
    scripts.mkdir()
    data.mkdir()
    (scripts / "toy.py").write_text(TOY)
    monkeypatch.setattr(stored_results, "SCRIPTS_DIR", scripts)
    monkeypatch.setattr(stored_results, "DATA_DIR", data)
    stored_results.load_script.cache_clear()
    yield scripts / "toy.py", data
    stored_results.load_script.cache_clear()


def test_produce_then_load_round_trip(toy):
    script, data = toy
    stored_results.produce("toy")
    stored = stored_results.load("toy")
    assert stored.config == {"seeds": [0, 1], "updates": 5, "step": 0.5}
    assert len(stored.data["runs"]) == 2 and stored.data["runs"][0][:2] == stored.prefix
    assert set(stored.provenance) == set(stored_results.PROVENANCE_FIELDS)
    # the hash covers the script and the course_lib modules it imports, transitively
    depends = stored.provenance["depends"]
    assert any(d.startswith("course_lib/stats.py [") and "bootstrap_ci" in d for d in depends), depends
    assert not any(d.startswith("course_lib/stored_results.py") for d in depends)  # reads and writes, computes nothing
    stored_results.assert_same_prefix(stored, stored_results.load_script("toy").prefix(stored.config))


def test_changed_config_is_stale(toy):
    script, _ = toy
    stored_results.produce("toy")
    script.write_text(TOY.replace("STEP = 0.5", "STEP = 0.25"))
    stored_results.load_script.cache_clear()
    with pytest.raises(stored_results.StaleResult, match=r"stale: run `make data toy`.*\.step"):
        stored_results.load("toy")


def test_changed_code_is_stale_but_comments_and_docstrings_are_not(toy):
    script, _ = toy
    stored_results.produce("toy")
    script.write_text('"""A docstring."""\n# a comment\n' + TOY)
    stored_results.load_script.cache_clear()
    stored_results.load("toy")  # still up to date
    script.write_text(TOY.replace("rng.random() * step", "rng.random() * step * 1.0"))
    stored_results.load_script.cache_clear()
    with pytest.raises(stored_results.StaleResult, match="other code"):
        stored_results.load("toy")


def _edit_module(monkeypatch, module: str, edit):
    """Make the hash see ``edit(source)`` in place of course_lib ``module``'s real source."""
    real = stored_results._top

    def top(name):
        if name != module:
            return real(name)
        return stored_results._module_top(name, edit(stored_results._module_file(name).read_text()))

    monkeypatch.setattr(stored_results, "_top", top)


def test_library_code_the_run_cannot_reach_does_not_make_it_stale(toy, monkeypatch):
    stored_results.produce("toy")
    # new functions and a class that nothing calls (e.g. a config for another task), listed in __all__
    _edit_module(monkeypatch, "course_lib.stats", lambda src: _changed(lambda s: s.replace(
        "def iqm(", "def a_new_helper():\n    return 1\n\n\ndef iqm(") + (
        "\n\nclass Unused:\n    x = a_new_helper()\n\n\ndef another(values):\n    return bootstrap_ci(values)\n"
        "\n\n__all__ = [\"CI\", \"another\"]\n"), src))
    stored_results.load("toy")


@pytest.mark.parametrize("edit", [
    # the function the script imports
    lambda src: src.replace("def bootstrap_ci(", "def bootstrap_ci(*_args, **_kwargs):\n    return None\n\n\n"
                                                 "def _old_bootstrap_ci("),
    # a private helper that function calls
    lambda src: src.replace("def _statistic(name: str):", "def _statistic(name: str):\n    name = name.lower()"),
    # a module-level constant (everything that runs on import counts)
    lambda src: src.replace("_BOOTSTRAP_BLOCK_ELEMENTS = 16_000_000", "_BOOTSTRAP_BLOCK_ELEMENTS = 8_000_000"),
], ids=["used-function", "helper-it-calls", "module-constant"])
def test_library_code_the_run_reaches_makes_it_stale(toy, monkeypatch, edit):
    stored_results.produce("toy")
    _edit_module(monkeypatch, "course_lib.stats", lambda src: _changed(edit, src))
    with pytest.raises(stored_results.StaleResult, match="other code"):
        stored_results.load("toy")


def _changed(edit, src: str) -> str:
    out = edit(src)
    assert out != src, "the edit did not apply: the test no longer changes anything"
    return out


def test_changed_or_missing_output_is_stale(toy):
    _, data = toy
    stored_results.produce("toy")
    (data / "toy_weights.bin").write_bytes(b"other weights")
    with pytest.raises(stored_results.StaleResult, match="toy_weights.bin"):
        stored_results.load("toy")
    (data / "toy_weights.bin").unlink()
    with pytest.raises(stored_results.StaleResult, match="toy_weights.bin"):
        stored_results.load("toy")


def test_prefix_that_no_longer_reproduces_is_stale(toy):
    stored_results.produce("toy")
    stored = stored_results.load("toy")
    live = list(stored.prefix)
    stored_results.assert_same_prefix(stored, [x * (1 + 1e-7) for x in live])  # within rtol 1e-5
    with pytest.raises(stored_results.StaleResult, match="not reproduced"):
        stored_results.assert_same_prefix(stored, [live[0] * 1.001, live[1]])
    with pytest.raises(stored_results.StaleResult):
        stored_results.assert_same_prefix(stored, live[:1])


def test_file_without_provenance_or_missing_is_refused(toy):
    _, data = toy
    with pytest.raises(FileNotFoundError, match="make data toy"):
        stored_results.load("toy")
    (data / "toy.json").write_text(json.dumps({"runs": []}))
    with pytest.raises(stored_results.StaleResult, match="no provenance"):
        stored_results.load("toy")


def test_cli_rejects_unknown_names_and_lists_state(toy, capsys):
    with pytest.raises(SystemExit):
        stored_results.cli(["nope"])
    assert "no data script called nope" in capsys.readouterr().err
    stored_results.cli(["--list"])
    assert "toy: " in capsys.readouterr().out and "make data toy" in capsys.readouterr().out + "make data toy"


def test_close_compares_numbers_with_tolerance_and_structure_exactly():
    assert stored_results.close({"a": [1.0, None, "x"]}, {"a": [1.0 + 1e-9, None, "x"]})
    assert not stored_results.close({"a": [1.0]}, {"b": [1.0]})
    assert not stored_results.close([1.0, 2.0], [1.0, 2.1])
    assert stored_results.close(float("nan"), float("nan")) and not stored_results.close(float("nan"), 0.0)
    assert not stored_results.close(True, 1)


def test_tagged_cells_are_read_with_jupytext(tmp_path, monkeypatch):
    src = tmp_path / "nb.py"
    src.write_text(textwrap.dedent('''\
        # %% [markdown]
        # # Title

        # %% tags=["keep"]
        x = 2

        # %%
        y = 3

        # %% tags=["keep", "claim"] jupyter={"source_hidden": true}
        z = x * 5
        '''))
    monkeypatch.setattr(stored_results, "SOURCES_DIR", tmp_path)
    assert stored_results.tagged_cells_code("nb", "keep") == "x = 2\n\nz = x * 5"
    assert stored_results.load_tagged_cells("nb", "keep")["z"] == 10
    with pytest.raises(ValueError, match="no code cells tagged"):
        stored_results.tagged_cells_code("nb", "absent")
