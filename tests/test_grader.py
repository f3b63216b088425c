"""The auto-grader: correct scores with a reason for every lost point, on good and on ordinary bad submissions.

Most tests share one isolated sandbox (two sandboxed workers, started once); a few run the command line end to
end. Attacks by a hostile cell are in tests/test_grader_attacks.py.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_lib import exercises, grade
from course_lib.exercises import core
from course_lib.exercises.cells import exec_cell
from course_lib.grading import inputs, items, wire
from course_lib.quiz_bank import load_bank

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "grader"
import grader_fixtures as fx  # noqa: E402  (loaded by conftest.py)

NB = "01"
EX_IDS = [ex.id for ex in exercises.list_exercises(NB)]
Q_IDS = [q.id for q in fx.questions(NB)]
SEED = 2024

pytestmark = pytest.mark.filterwarnings("ignore:std\\(\\). degrees of freedom:UserWarning")




def make_options(template, **kw):
    """Options as a run builds them: the bank and the template read before anything is graded."""
    return grade.Options(seed=SEED, bank=load_bank(), templates=inputs.read_templates({NB: template}), **kw)


@pytest.fixture()
def options(template):
    return make_options(template)


def _grade(path, sandbox, options):
    return grade.grade_submission(inputs.read_submission(Path(path)), sandbox, options)


def _item(g, kind, item_id):
    (item,) = [i for i in g.items if i.kind == kind and i.item_id == item_id]
    return item


def _with(bodies, notebook_id=NB):
    """A full-marks notebook in which the given exercises' cell bodies ({id: source}) are replaced."""
    full = {ex.id: ex.reference for ex in exercises.list_exercises(notebook_id)}
    full.update(bodies)
    answers = {q.id: fx.correct_answer(q) for q in fx.questions(notebook_id)}
    return fx.course_notebook(notebook_id, full, answers)


def _fingerprint(path: Path):
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_size


# ------------------------------------------------------------------------------------- the scores themselves
def test_a_fully_correct_submission_gets_full_marks(tmp_path, sandbox, options):
    g = _grade(fx.write(fx.full_marks(NB), tmp_path / "alice.ipynb"), sandbox, options)
    assert [i.item_id for i in g.items if i.kind == "exercise"] == EX_IDS
    assert [i.item_id for i in g.items if i.kind == "quiz"] == Q_IDS
    assert g.total == g.max_points > 0
    assert g.reasons() == ""
    assert g.max_points == len(EX_IDS) + sum(q.points for q in fx.questions(NB))


def test_an_untouched_notebook_gets_zero_with_reasons(tmp_path, sandbox, options):
    g = _grade(fx.write(fx.shipped(NB), tmp_path / "bob.ipynb"), sandbox, options)
    assert g.total == 0 and g.max_points > 0
    for ex_id in EX_IDS:
        assert "unchanged" in _item(g, "exercise", ex_id).reason
    for qid in Q_IDS:
        assert "not answered" in _item(g, "quiz", qid).reason
    assert g.reasons().count(" | ") == len(g.items) - 1  # one reason per lost item


def test_buggy_code_that_was_edited_but_not_fixed_scores_zero_with_the_checkers_hint(tmp_path, sandbox, options):
    """Not merely 'unchanged': the starter, touched up, really runs in the sandbox and really fails."""
    ex = exercises.get_exercise("01.detach_critic")
    touched = ex.starter.replace("    value = critic(obs)", "    value = critic(obs)  # I think this is fine")
    g = _grade(fx.write(_with({"01.detach_critic": touched}), tmp_path / "c.ipynb"), sandbox, options)
    item = _item(g, "exercise", "01.detach_critic")
    assert item.points == 0 and "gradient into the critic" in item.reason
    assert _item(g, "exercise", "01.loss_sign").points == 1


def test_wrong_quiz_answers_and_unreadable_answers_lose_their_points(tmp_path, sandbox, options):
    qs = fx.questions(NB)
    nb = fx.course_notebook(NB, {e: exercises.get_exercise(e).reference for e in EX_IDS},
                            {qs[0].id: fx.wrong_answer(qs[0]), qs[1].id: fx.correct_answer(qs[1])})
    # a computed answer is not read (the cell is never run), only a literal is
    nb.cells[-1].source = f"# QUIZ: {qs[-1].id}\nanswer = 'a'.upper()\n"
    g = _grade(fx.write(nb, tmp_path / "q.ipynb"), sandbox, options)
    assert _item(g, "quiz", qs[0].id).points == 0 and "not correct" in _item(g, "quiz", qs[0].id).reason
    assert _item(g, "quiz", qs[1].id).points == qs[1].points
    assert "plain value" in _item(g, "quiz", qs[-1].id).reason


@pytest.mark.parametrize("ex", exercises.list_exercises(), ids=[e.id for e in exercises.list_exercises()])
def test_every_exercise_through_the_real_sandbox(ex, sandbox):
    """Reference passes and (edited) starter fails when run in a child process and judged in the grader."""
    cell = grade.AnswerCell("exercise", ex.id, 1, ex.reference)
    assert grade.grade_exercise(sandbox, SEED, ex.id, cell).points == ex.points
    edited = grade.AnswerCell("exercise", ex.id, 1, ex.starter + "\n# edited\n")
    item = grade.grade_exercise(sandbox, SEED, ex.id, edited)
    assert item.points == 0 and item.reason


@pytest.mark.parametrize("ex", exercises.list_exercises(), ids=[e.id for e in exercises.list_exercises()])
def test_judging_json_observations_gives_the_in_process_verdict(ex):
    """The grader judges observations that went through JSON; for every exercise and every stored fix
    (reference, starter, wrong fixes) the verdict equals the notebook's in-process one."""
    for source in (ex.reference, ex.starter, *(w.source for w in ex.wrong_fixes)):
        func = exec_cell(source, ex.func_name)
        direct = core.check_function(ex, func, SEED)
        obs = core.observe(ex, func, SEED)
        via_json = core.judge(ex, SEED, wire.decode(wire.encode(obs)))
        assert (via_json.passed, via_json.message) == (direct.passed, direct.message)


# ---------------------------------------------------------------------------------------- hostile cells
def test_an_endless_loop_hits_the_time_limit_and_the_rest_is_still_graded(tmp_path, sandbox, options):
    class Short:  # the same workers, a 2 s limit per item
        def run(self, exercise_id, source, seed):
            return sandbox.run(exercise_id, source, seed, time_limit=2.0)

    ex = exercises.get_exercise("01.loss_sign")
    looping = ex.starter.replace("    logp = ", "    while True:\n        pass\n    logp = ")
    path = fx.write(_with({"01.loss_sign": looping}), tmp_path / "loop.ipynb")
    start = time.monotonic()
    g = _grade(path, Short(), options)
    assert time.monotonic() - start < 30
    item = _item(g, "exercise", "01.loss_sign")
    assert item.points == 0 and "time limit" in item.reason and "2 s" in item.reason
    assert _item(g, "exercise", "01.detach_critic").points == 1
    # an endless loop at the top of the cell (not inside the function) is caught the same way
    top = grade.AnswerCell("exercise", ex.id, 1, "while True:\n    pass\n" + ex.reference)
    assert "time limit" in grade.grade_exercise(Short(), SEED, ex.id, top).reason


def test_a_syntax_error_is_reported_with_its_line(tmp_path, sandbox, options):
    ex = exercises.get_exercise("01.loss_sign")
    broken = ex.reference.replace("return -(logp * adv).mean()", "return -(logp * adv).mean(")
    g = _grade(fx.write(_with({"01.loss_sign": broken}), tmp_path / "syntax.ipynb"), sandbox, options)
    item = _item(g, "exercise", "01.loss_sign")
    cell_lines = fx.exercise_cell(ex.id, broken).source.splitlines()
    line = cell_lines.index("    return -(logp * adv).mean(") + 1
    assert item.points == 0 and item.reason.startswith("syntax error in cell")
    assert f"line {line} of the cell" in item.reason


def test_code_that_imports_or_patches_the_checker_gets_no_credit(tmp_path, sandbox, options):
    ex = exercises.get_exercise("01.detach_critic")
    patch_module = ("import course_lib.exercises as ex\n"
                    "ex.check = lambda *a, **k: None\n"
                    "ex.core.judge = lambda *a, **k: ex.CheckResult(True, 'ok', 1.0, 1.0)\n" + ex.starter)
    g = _grade(fx.write(_with({"01.detach_critic": patch_module}), tmp_path / "t1.ipynb"), sandbox, options)
    item = _item(g, "exercise", ex.id)
    assert item.points == 0 and "not run" in item.reason and "course_lib.exercises" in item.reason


def test_patching_torch_comparisons_or_faking_the_reply_does_not_fake_a_pass(tmp_path, sandbox, options):
    """Cells that run (no forbidden names) but try to make the buggy function look right: everything they
    change lives in their own child process, and the verdict is computed in the grader."""
    ex = exercises.get_exercise("01.detach_critic")
    patch_torch = ("import torch\n"
                   "torch.allclose = lambda *a, **k: True\n"
                   "torch.isclose = lambda a, b, *x, **k: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)\n"
                   "torch.Tensor.__eq__ = lambda self, other: True\n" + ex.starter)
    fake_reply = ("import os, json, struct\n"
                  "fake = json.dumps({'nonce': 'guess', 'observations': []}).encode()\n"
                  "for fd in range(3, 64):\n"
                  "    try:\n"
                  "        os.write(fd, struct.pack('>Q', len(fake)) + fake)\n"
                  "    except OSError:\n"
                  "        pass\n" + ex.starter)
    for name, body in (("patch_torch", patch_torch), ("fake_reply", fake_reply)):
        cell = grade.AnswerCell("exercise", ex.id, 1, body)
        item = grade.grade_exercise(sandbox, SEED, ex.id, cell)
        assert item.points == 0, name
        assert item.reason, name
    # the forged message is refused for its nonce, not accepted as data
    forged = grade.grade_exercise(sandbox, SEED, ex.id, grade.AnswerCell("exercise", ex.id, 1, fake_reply))
    assert "nonce" in forged.reason


def test_reaching_for_the_reference_through_sys_modules_is_refused():
    tree = __import__("ast").parse("import sys\nref = sys.modules['course_lib.exercises']\n"
                                   "f = __import__('course_lib')\nx = (lambda: 0).__globals__\n")
    problems = grade.forbidden_uses(tree)
    assert any("sys.modules" in p for p in problems)
    assert any("__import__" in p for p in problems) and any("__globals__" in p for p in problems)
    assert grade.forbidden_uses(__import__("ast").parse("import torch\nimport numpy as np\n")) == []


def test_sys_exit_os_exit_and_errors_at_the_top_of_a_cell_are_explained(sandbox):
    ex = exercises.get_exercise("01.loss_sign")
    cases = {
        "import sys\nsys.exit(0)\n": "sys.exit(0)",
        "import os\nos._exit(7)\n": "exit code 7",
        "x = 1\nraise RuntimeError('boom at import')\n": "RuntimeError: boom at import (line 2 of your cell",
        "import no_such_module_xyz\n": "ModuleNotFoundError",
    }
    for prefix, expected in cases.items():
        cell = grade.AnswerCell("exercise", ex.id, 1, prefix + ex.reference)
        item = grade.grade_exercise(sandbox, SEED, ex.id, cell)
        assert item.points == 0 and expected in item.reason, (prefix, item.reason)
    missing = grade.AnswerCell("exercise", ex.id, 1, "def something_else():\n    pass\n")
    assert "does not define a function called policy_loss" in grade.grade_exercise(sandbox, SEED, ex.id,
                                                                                    missing).reason


def test_huge_printed_output_is_truncated_and_a_correct_answer_still_passes(tmp_path, sandbox, options):
    ex = exercises.get_exercise("01.loss_sign")
    noisy = ex.reference.replace('    """Policy-gradient loss for a categorical policy (to be minimised); shapes as '
                                 'in the starter."""\n',
                                 '    """Policy-gradient loss (noisy)."""\n'
                                 '    for i in range(20000):\n        print("debug", i, "x" * 50)\n')
    assert noisy != ex.reference
    g = _grade(fx.write(_with({"01.loss_sign": noisy}), tmp_path / "noisy.ipynb"), sandbox, options)
    item = _item(g, "exercise", ex.id)
    assert item.points == 1, item.reason
    assert 0 < len(item.output) < 3000 and "more characters of output not shown" in item.output


def test_a_deleted_answer_cell_scores_zero_with_a_reason(tmp_path, sandbox, options):
    nb = fx.full_marks(NB)
    nb.cells = [c for c in nb.cells if not c.source.startswith("# EXERCISE: 01.loss_sign")
                and not c.source.startswith(f"# QUIZ: {Q_IDS[0]}")]
    g = _grade(fx.write(nb, tmp_path / "deleted.ipynb"), sandbox, options)
    ex_item, q_item = _item(g, "exercise", "01.loss_sign"), _item(g, "quiz", Q_IDS[0])
    assert ex_item.points == 0 and ex_item.max_points == 1 and "missing" in ex_item.reason
    assert q_item.points == 0 and q_item.max_points > 0 and "missing" in q_item.reason
    assert g.max_points == _grade(fx.write(fx.full_marks(NB), tmp_path / "ok.ipynb"), sandbox, options).max_points


@pytest.mark.parametrize("order", ["wrong_then_right", "right_then_wrong"])
def test_a_duplicated_answer_cell_grades_the_last_one_and_says_so(tmp_path, sandbox, options, order):
    ex = exercises.get_exercise("01.loss_sign")
    nb = fx.full_marks(NB)
    k = next(i for i, c in enumerate(nb.cells) if c.source.startswith("# EXERCISE: 01.loss_sign"))
    first, last = (ex.starter + "# v1\n", ex.reference) if order == "wrong_then_right" else \
        (ex.reference, ex.starter + "# v2\n")
    nb.cells[k] = fx.exercise_cell(ex.id, first)
    nb.cells.insert(k + 2, fx.exercise_cell(ex.id, last))
    g = _grade(fx.write(nb, tmp_path / f"{order}.ipynb"), sandbox, options)
    item = _item(g, "exercise", ex.id)
    assert item.points == (1 if order == "wrong_then_right" else 0)
    assert "2 cells are marked 01.loss_sign" in item.note and "graded the last one" in item.note
    assert "graded the last one" in g.reasons()


def test_unknown_ids_and_ids_of_other_notebooks_are_noted_and_ignored(tmp_path, sandbox, options):
    nb = fx.full_marks(NB)
    nb.cells.append(fx.exercise_cell("01.no_such_thing", "x = 1\n"))
    other = exercises.get_exercise("02.terminal_bootstrap")
    nb.cells.append(fx.exercise_cell(other.id, other.reference))
    g = _grade(fx.write(nb, tmp_path / "extra.ipynb"), sandbox, options)
    assert g.total == g.max_points
    assert "'01.no_such_thing' is not a known exercise id; ignored" in g.reasons()
    assert "'02.terminal_bootstrap' belongs to another notebook; ignored" in g.reasons()


@pytest.mark.parametrize("name, reason", [
    ("corrupted.ipynb", "not valid JSON"),
    ("not_a_notebook.ipynb", "not valid JSON"),
    ("json_without_cells.ipynb", "no list of cells"),
])
def test_files_that_are_not_notebooks_get_a_row_with_the_reason(name, reason, sandbox, options):
    g = _grade(FIXTURES / name, sandbox, options)
    assert g.total == 0 and reason in g.reasons() and g.reasons().startswith("not graded:")
    # told which notebook it should have been, every item is listed as lost
    g01 = _grade(FIXTURES / name, sandbox,
                 grade.Options(seed=SEED, bank=options.bank, notebook=NB, templates=options.templates))
    assert g01.max_points > 0 and all(i.reason == "file not readable" for i in g01.items)


def test_other_cells_are_never_run_and_submissions_are_never_modified(tmp_path, sandbox, options):
    marker = tmp_path / "a_cell_ran"
    touch = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    nb = fx.full_marks(NB)
    nb.cells.insert(2, fx.code(touch))                               # an ordinary code cell
    nb.cells.append(fx.code(f"# QUIZ: {Q_IDS[0]}\n{touch}answer = 'a'\n"))  # a quiz cell is parsed only
    path = fx.write(nb, tmp_path / "side_effects.ipynb")
    os.chmod(path, 0o444)  # and a read-only file is fine: the grader only reads
    before = _fingerprint(path)
    g = _grade(path, sandbox, options)
    assert not marker.exists()
    assert _fingerprint(path) == before
    assert "graded the last one" in _item(g, "quiz", Q_IDS[0]).note


def test_one_bad_submission_never_stops_the_batch(tmp_path, sandbox, template):
    paths = [fx.write(fx.full_marks(NB), tmp_path / "01_a.ipynb"), FIXTURES / "corrupted.ipynb",
             tmp_path / "01_does_not_exist.ipynb", fx.write(fx.shipped(NB), tmp_path / "01_b.ipynb"), tmp_path]
    before = {p: _fingerprint(p) for p in paths if p.is_file()}
    grades, seed = grade.grade_files(paths, seed=SEED, workers=2, templates={NB: template}, sandbox=sandbox)
    assert seed == SEED
    assert [g.file for g in grades] == [str(p) for p in paths]
    assert grades[0].total == grades[0].max_points > 0
    assert "not valid JSON" in grades[1].reasons()
    assert "file not found" in grades[2].reasons() and grades[2].max_points > 0  # graded as 01 by its name
    assert grades[3].total == 0 and grades[3].max_points == grades[0].max_points
    assert "folder" in grades[4].reasons()
    assert all(_fingerprint(p) == fp for p, fp in before.items())


# ------------------------------------------------------------------------------------------ the command line
def test_command_line_writes_csv_and_json_and_exits_zero(tmp_path, template):
    subs = tmp_path / "class"
    fx.write(fx.full_marks(NB), subs / "01_alice.ipynb")
    fx.write(fx.shipped(NB), subs / "01_bob.ipynb")
    (subs / "01_carol.ipynb").write_bytes((FIXTURES / "corrupted.ipynb").read_bytes())
    out, js = tmp_path / "grades.csv", tmp_path / "grades.json"
    code = grade.main([str(subs), "--out", str(out), "--json", str(js), "--template", str(template),
                       "--seed", "7", "--workers", "2"])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [Path(r["file"]).name for r in rows] == ["01_alice.ipynb", "01_bob.ipynb", "01_carol.ipynb"]
    header = list(rows[0])
    assert header[0] == "file" and header[-3:] == ["total", "max", "reasons"]
    assert {f"exercise:{i}" for i in EX_IDS} | {f"quiz:{q}" for q in Q_IDS} == set(header[1:-3])
    alice, bob, carol = rows
    assert alice["total"] == alice["max"] and alice["reasons"] == ""
    assert bob["total"] == "0" and bob["max"] == alice["max"] and "unchanged" in bob["reasons"]
    assert carol["total"] == "0" and "not valid JSON" in carol["reasons"]
    data = json.loads(js.read_text())
    assert data["seed"] == 7 and len(data["submissions"]) == 3
    assert {i["item_id"] for i in data["submissions"][0]["items"]} == set(EX_IDS) | set(Q_IDS)


def test_usage_errors_exit_with_code_2(tmp_path, capsys):
    sub = fx.write(fx.shipped(NB), tmp_path / "01_x.ipynb")
    assert grade.main([]) == 2
    assert grade.main([str(sub), "--out", str(sub)]) == 2  # never written over a submission
    assert grade.main([str(sub), "--time-limit", "0"]) == 2
    assert grade.main([str(sub), "--notebook", "09"]) == 2
    assert grade.main([str(sub), "--time-limit", "inf"]) == 2
    assert grade.main([str(tmp_path / "empty_folder_that_is_missing"), "--template", "nope.ipynb"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert grade.main([str(empty)]) == 2
    assert "error" in capsys.readouterr().err


def test_python_dash_m_course_lib_grade_runs_end_to_end(tmp_path, template):
    sub = fx.write(fx.full_marks(NB), tmp_path / "01_dave.ipynb")
    proc = subprocess.run([sys.executable, "-m", "course_lib.grade", str(sub), "--template", str(template),
                           "--json"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["submissions"][0]["total"] == data["submissions"][0]["max"] > 0
    assert "graded 1 file(s)" in proc.stderr


def test_expected_items_without_a_template_are_the_registry_and_the_quiz_cells_present(tmp_path):
    answers = [grade.AnswerCell("quiz", Q_IDS[1], 3, "answer = 'a'")]
    expected, _ = grade.expected_items(str(tmp_path / "x.ipynb"), answers, None, {}, set(load_bank()))
    assert expected.exercises == tuple(EX_IDS) and expected.quizzes == (Q_IDS[1],)
    expected, _ = grade.expected_items(str(tmp_path / "03_y.ipynb"), [], None, {"03": None}, set(load_bank()))
    assert expected.exercises == tuple(e.id for e in exercises.list_exercises("03"))
    mixed = [grade.AnswerCell("exercise", "02.terminal_bootstrap", 1, ""),
             grade.AnswerCell("exercise", "01.loss_sign", 2, ""), grade.AnswerCell("quiz", Q_IDS[0], 3, "")]
    expected, notes = grade.expected_items(str(tmp_path / "z.ipynb"), mixed, None, {}, set(load_bank()))
    assert expected.exercises == tuple(EX_IDS) and "several notebooks (01, 02); graded as notebook 01" in notes[0]


def test_literal_answer_reads_the_last_assignment_without_running_anything():
    assert grade.literal_answer("# QUIZ: x\nanswer = 'a'\nanswer = ['b', 'c']\n") == (True, ["b", "c"], None)
    assert grade.literal_answer("answer: float = -0.25\n") == (True, -0.25, None)
    assert grade.literal_answer("answer = None  # your answer\n")[2] == "not answered (answer = None)"
    assert "no `answer = ...`" in grade.literal_answer("x = 1\n")[2]
    assert "syntax error" in grade.literal_answer("answer = (\n")[2]
    assert grade.literal_answer("%time x = 1\nanswer = 'b'\n") == (True, "b", None)


def test_a_cell_that_grabs_too_much_memory_fails_cleanly(sandbox):
    """The child's address space is capped a few GB above the worker's: a huge allocation raises, the item
    scores 0 with the error, and the machine is not pushed into swap."""
    ex = exercises.get_exercise("01.loss_sign")
    hog = "import torch\nblock = torch.ones(2**31)  # 8 GB of float32\n" + ex.reference
    item = grade.grade_exercise(sandbox, SEED, ex.id, grade.AnswerCell("exercise", ex.id, 1, hog))
    assert item.points == 0 and "line 2 of your cell" in item.reason
    assert "RuntimeError" in item.reason or "MemoryError" in item.reason


def test_kernel_only_lines_in_an_exercise_cell_are_ignored(sandbox):
    """A learner may import and call the in-notebook checker in the answer cell itself; those lines only matter
    in their kernel, so the grader drops them (and says so) instead of failing the cell."""
    ex = exercises.get_exercise("01.loss_sign")
    body = ("from course_lib import exercises\n" + ex.reference
            + f"\nexercises.check({ex.id!r}, {ex.func_name})\nexercises.solution({ex.id!r})\n")
    item = grade.grade_exercise(sandbox, SEED, ex.id, grade.AnswerCell("exercise", ex.id, 1, body))
    assert item.points == 1, item.reason
    assert "ignored 3 line(s)" in item.note
    # an aliased import is not a kernel-only line: it stays forbidden
    aliased = "from course_lib import exercises as ex\n" + ex.reference
    item = grade.grade_exercise(sandbox, SEED, ex.id, grade.AnswerCell("exercise", ex.id, 1, aliased))
    assert item.points == 0 and "not run" in item.reason


def test_an_error_after_the_function_is_defined_does_not_stop_its_grading(sandbox):
    """A test call at the bottom of the cell that needs another cell's variables raises in the grader; the
    function itself is still graded, and the note says what happened."""
    ex = exercises.get_exercise("01.loss_sign")
    body = ex.reference + "\nprint(policy_loss(logits_from_another_cell, actions, adv))\n"
    item = grade.grade_exercise(sandbox, SEED, ex.id, grade.AnswerCell("exercise", ex.id, 1, body))
    assert item.points == 1, item.reason
    assert "NameError" in item.note and "graded anyway" in item.note
    # the same error *before* the function is defined leaves nothing to grade
    early = "print(logits_from_another_cell)\n" + ex.reference
    item = grade.grade_exercise(sandbox, SEED, ex.id, grade.AnswerCell("exercise", ex.id, 1, early))
    assert item.points == 0 and "NameError" in item.reason and "line 1 of your cell" in item.reason
