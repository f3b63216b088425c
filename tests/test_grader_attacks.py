"""The grader against a hostile class, by attack class: each test names the guarantee it proves.

A hostile cell is the reference solution with a few lines of standard-library code in front; the item itself
should then still pass (or lose only its own points), while nothing outside it changes.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from course_lib import exercises, grade
from course_lib.grading import cli, inputs, items, notebooks, report
from course_lib.grading.sandbox import DEFAULT_EXTRA_TASKS, Sandbox, SandboxUnavailable
from course_lib.quiz_bank import default_quiz_dir, load_bank

HERE = Path(__file__).resolve().parent
import grader_fixtures as fx  # noqa: E402  (loaded by conftest.py)

NB, SEED = "01", 2024
EX = exercises.get_exercise("01.loss_sign")

pytestmark = pytest.mark.filterwarnings("ignore:std\\(\\). degrees of freedom:UserWarning")




def _run(sb, prefix: str, ex=EX):
    return grade.grade_exercise(sb, SEED, ex.id, grade.AnswerCell("exercise", ex.id, 1, prefix + ex.reference))


def _fingerprint(path: Path):
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_size


def _processes_with(token: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


# ------------------------------------------------------------------------------------- escaping processes
SPAWN = {
    "new_session": "subprocess.Popen(CMD, start_new_session=True)\n",
    "own_process_group": "subprocess.Popen(CMD, process_group=0)\n",
    "setsid_double_fork": ("if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                           "        os.execv(CMD[0], CMD)\n    os._exit(0)\n"),
    "ignores_sigterm_and_sighup": ("subprocess.Popen([CMD[0], '-c', 'import signal, time; "
                                   "[signal.signal(s, signal.SIG_IGN) for s in (1, 15)]; time.sleep(120)', "
                                   "CMD[-1]], start_new_session=True)\n"),
}


@pytest.mark.parametrize("style", sorted(SPAWN))
def test_every_process_an_item_starts_ends_with_it(sandbox, style):
    """PID-namespace teardown: new sessions, process groups, double forks are gone when the item returns."""
    token = f"ESCAPE-{style}-{os.getpid()}-{time.monotonic_ns()}"
    prefix = ("import os, subprocess, sys\n"
              f"CMD = [sys.executable, '-c', 'import time; time.sleep(120)', {token!r}]\n" + SPAWN[style])
    item = _run(sandbox, prefix)
    assert item.points == 1, item.reason
    time.sleep(0.2)
    assert _processes_with(token) == []


# ------------------------------------------------------------------------------- the file system it sees
def test_an_item_cannot_write_outside_its_scratch_folder(tmp_path, sandbox):
    victim = fx.write(fx.full_marks(NB), tmp_path / "01_classmate.ipynb")
    bank_file = sorted(default_quiz_dir().glob("*.yaml"))[0]
    course_file = Path(exercises.__file__)
    before = {p: _fingerprint(p) for p in (victim, bank_file, course_file)}
    targets = [str(victim), str(bank_file), str(course_file), str(tmp_path / "new_file"),
               str(course_file.parent / "planted.py"), "/etc/planted", "/usr/planted", "/dev/shm/../planted",
               "/tmp/planted"]
    prefix = ("import os\n"
              f"for t in {targets!r}:\n"
              "    try:\n        open(t, 'a').write('x')\n        print('WROTE', t)\n"
              "    except OSError as e:\n        print('DENIED', t, type(e).__name__)\n"
              "open('scratch.txt', 'w').write('mine')\nprint('SCRATCH', os.getcwd())\n")
    item = _run(sandbox, prefix)
    assert item.points == 1, item.reason
    assert "WROTE" not in item.output and item.output.count("DENIED") == len(targets), item.output
    assert "SCRATCH /scratch" in item.output
    assert {p: _fingerprint(p) for p in before} == before
    assert not (tmp_path / "new_file").exists() and not (course_file.parent / "planted.py").exists()


def test_an_item_cannot_read_other_submissions_the_bank_or_results(tmp_path, sandbox):
    other = fx.write(fx.full_marks(NB), tmp_path / "01_other.ipynb")
    results = tmp_path / "grades.csv"
    results.write_text("file,total\n")
    bank_file = sorted(default_quiz_dir().glob("*.yaml"))[0]
    shipped = Path(inputs.course_notebook_dir()) / "01_actor_critic_basics.ipynb"
    targets = [str(other), str(results), str(bank_file), str(shipped), "/etc/passwd", "/home", "/var"]
    prefix = ("import os\n"
              f"for t in {targets!r}:\n"
              "    try:\n        (os.listdir(t) if os.path.isdir(t) else open(t).read(1))\n"
              "        print('READ', t)\n"
              "    except OSError as e:\n        print('DENIED', t, type(e).__name__)\n")
    item = _run(sandbox, prefix)
    assert item.points == 1, item.reason
    assert "READ" not in item.output and item.output.count("DENIED") == len(targets), item.output


# ------------------------------------------------------------------------- killing the worker or the grader
def test_an_item_sees_no_process_and_cannot_kill_its_worker_or_the_grader(tmp_path, sandbox, template):
    prefix = ("import os, signal\n"
              "print('PROC', os.listdir('/proc'), 'PID', os.getpid())\n"
              f"for pid in (os.getppid(), {os.getpid()}, {os.getppid()}):\n"
              "    try:\n        os.kill(pid, signal.SIGKILL)\n        print('KILLED', pid)\n"
              "    except OSError as e:\n        print('NO', pid, type(e).__name__)\n")
    item = _run(sandbox, prefix)
    assert item.points == 1, item.reason
    # getppid() is 0 outside the namespace: kill(0) reaches only the item's own new process group; the
    # worker survived (the item got a result), and the grader's pids do not exist in there
    assert "PROC [] PID 1" in item.output and f"NO {os.getpid()} ProcessLookupError" in item.output, item.output
    assert f"KILLED {os.getpid()}" not in item.output and f"KILLED {os.getppid()}" not in item.output
    # in a batch: the hostile row loses nothing it did not earn, the other rows are untouched
    hostile = fx.course_notebook(NB, {e.id: e.reference for e in exercises.list_exercises(NB)}
                                 | {EX.id: prefix + EX.reference + "\nos._exit(3)\n"},
                                 {q.id: fx.correct_answer(q) for q in fx.questions(NB)})
    paths = [fx.write(fx.full_marks(NB), tmp_path / "01_a.ipynb"), fx.write(hostile, tmp_path / "01_b.ipynb"),
             fx.write(fx.full_marks(NB), tmp_path / "01_c.ipynb")]
    grades, _ = grade.grade_files(paths, seed=SEED, templates={NB: template}, sandbox=sandbox)
    full = grades[0].max_points
    assert grades[0].total == grades[2].total == full > 0 and grades[1].max_points == full
    assert grades[1].total == full - EX.points and "exit code 3" in grades[1].reasons()


# ------------------------------------------------------------------------------------ the result channel
@pytest.fixture(scope="module")
def unconfined():
    """Items as plain forks (--no-sandbox): the worker's stdout is then reachable through /proc."""
    with Sandbox(workers=1, time_limit=20.0, isolate=False) as sb:
        yield sb


INJECT = ("import os\n"
          "line = '{\"nonce\": \"forged\", \"message\": null, \"problem\": \"timeout\", \"status\": \"\"}\\n'\n"
          "try:\n"
          "    with open(f'/proc/{os.getppid()}/fd/1', 'w') as f:\n        f.write(line * 3)\n"
          "    print('INJECTED')\n"
          "except OSError as e:\n    print('NO CHANNEL', type(e).__name__)\n")


def test_lines_injected_into_the_workers_reply_stream_never_shift_later_items(unconfined, sandbox):
    """Without the sandbox the cell can reach the stream: the reply is refused (nonce), the worker replaced,
    and the next items on it are graded correctly. With the sandbox the stream cannot even be reached."""
    item = _run(unconfined, INJECT)
    assert item.points == 0 and "out of step" in item.reason, item.reason
    for _ in range(2):
        assert _run(unconfined, "").points == 1
    confined = _run(sandbox, INJECT)
    assert confined.points == 1 and "NO CHANNEL" in confined.output


def test_a_forged_item_message_is_refused_for_its_nonce(sandbox):
    fake = ("import os, json, struct\n"
            "fake = json.dumps({'nonce': 'guess', 'observations': []}).encode()\n"
            "for fd in range(3, 64):\n"
            "    try:\n        os.write(fd, struct.pack('>Q', len(fake)) + fake)\n"
            "    except OSError:\n        pass\n")
    item = _run(sandbox, fake, exercises.get_exercise("01.detach_critic"))
    assert item.points == 0 and "nonce" in item.reason


# ----------------------------------------------------------------------------------- memory and processes
def test_memory_is_capped_for_the_item_as_a_whole_not_per_process():
    """Five processes of 150 MB each go over a 400 MB item limit, although each alone is far below any
    per-process limit: the kernel kills item processes (the item's, never the worker's), and the next item on
    the same worker is fine. One process of 150 MB is fine too."""
    hog = ("import os, time\n"
           "kids = []\n"
           "for _ in range(NPROC):\n"
           "    pid = os.fork()\n"
           "    if pid == 0:\n"
           "        block = b'x' * (150 * 2**20)\n"
           "        time.sleep(2)\n"
           "        os._exit(0)\n"
           "    kids.append(pid)\n"
           "print('STATUS', sorted(os.waitstatus_to_exitcode(os.waitpid(k, 0)[1]) for k in kids))\n")
    with Sandbox(workers=1, time_limit=20.0, extra_memory=400 * 2**20) as sb:
        alone = _run(sb, "NPROC = 1\n" + hog)
        together = _run(sb, "NPROC = 5\n" + hog)
        after = _run(sb, "")
    assert alone.points == 1 and "STATUS [0]" in alone.output, (alone.reason, alone.output)
    assert f"-{signal.SIGKILL}" in together.output, (together.reason, together.output)  # some were OOM-killed
    assert after.points == 1, after.reason


def test_processes_and_threads_are_capped_for_the_item_as_a_whole(sandbox):
    bomb = ("import os, time\n"
            "n = 0\n"
            "try:\n"
            "    while n < 500:\n"
            "        if os.fork() == 0:\n            time.sleep(60)\n            os._exit(0)\n"
            "        n += 1\n"
            "except OSError as e:\n    print('STOPPED', n, type(e).__name__)\n")
    item = _run(sandbox, bomb)
    assert item.points == 1, item.reason
    stopped = int(item.output.split("STOPPED")[1].split()[0])
    assert 0 < stopped <= DEFAULT_EXTRA_TASKS, item.output


# ------------------------------------------------------------------------------ no sandbox on this machine
def test_without_a_sandbox_the_grader_refuses_unless_told_and_then_every_row_says_so(tmp_path, template,
                                                                                   monkeypatch, capsys):
    monkeypatch.setattr(cli, "isolation_problem", lambda: "bubblewrap (`bwrap`) is not installed")
    sub = fx.write(fx.full_marks(NB), tmp_path / "01_x.ipynb")
    out = tmp_path / "grades.csv"
    assert grade.main([str(sub), "--template", str(template), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot isolate" in err and "bwrap" in err and "--no-sandbox" in err and not out.exists()
    assert grade.main([str(sub), "--template", str(template), "--out", str(out), "--no-sandbox",
                       "--seed", "3"]) == 0
    (row,) = list(csv.DictReader(io.StringIO(out.read_text())))
    assert row["total"] == row["max"] and "WITHOUT isolation" in row["reasons"]
    with pytest.raises(SandboxUnavailable):
        monkeypatch.setattr("course_lib.grading.sandbox.confinement.problem", lambda: "no user namespaces")
        Sandbox(workers=1)


# --------------------------------------------------------------------- everything read before cells run
def test_submissions_and_the_bank_are_read_before_any_cell_runs(tmp_path, unconfined, template):
    """Even unconfined, a cell that rewrites a classmate's notebook and the bank mid-run changes nothing."""
    bank = tmp_path / "bank"
    bank.mkdir()
    for f in default_quiz_dir().glob("*.yaml"):
        (bank / f.name).write_bytes(f.read_bytes())
    victim = tmp_path / "01_z_victim.ipynb"
    vandal = ("import pathlib\n"
              f"pathlib.Path({str(victim)!r}).write_text('{{}}')\n"
              f"for f in pathlib.Path({str(bank)!r}).glob('*.yaml'):\n"
              "    f.write_text(f.read_text().replace('correct: true', 'correct: maybe'))\n")
    attacker = fx.course_notebook(NB, {e.id: e.reference for e in exercises.list_exercises(NB)}
                                  | {EX.id: vandal + EX.reference}, {q.id: fx.correct_answer(q) for q in fx.questions(NB)})
    paths = [fx.write(attacker, tmp_path / "01_a_attacker.ipynb"), fx.write(fx.full_marks(NB), victim)]
    grades, _ = grade.grade_files(paths, seed=SEED, templates={NB: template}, quiz_dir=str(bank),
                                  sandbox=unconfined)
    assert victim.read_text() == "{}"  # the vandal did write (no sandbox here) ...
    assert grades[1].total == grades[1].max_points > 0, grades[1].reasons()  # ... and it changed nothing


# ---------------------------------------------------------------------- huge and deeply nested sources
HOSTILE_EXPRESSIONS = {
    "8 MB cell": "[" + "1," * (4 * 2**20) + "]",
    "100k-term expression": "+".join(["1"] * 100_000),
    "deep lambda chain": "lambda: (" * 3000 + "0" + ")" * 3000,
    "200k unary minus": "-" * 200_000 + "1",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_EXPRESSIONS))
def test_huge_or_deeply_nested_cells_cost_their_item_only(name, sandbox):
    expression = HOSTILE_EXPRESSIONS[name]
    started = time.monotonic()
    ex_item = _run(sandbox, f"junk = {expression}\n")
    q = fx.questions(NB)[0]
    q_item = grade.grade_quiz(q, grade.AnswerCell("quiz", q.id, 1, f"answer = {expression}\n"), None)
    assert time.monotonic() - started < 60
    assert q_item.points == 0 and q_item.reason and q_item.max_points == q.points
    assert ex_item.max_points == EX.points and (ex_item.points == EX.points or ex_item.reason)
    if name == "8 MB cell":
        assert "too large" in ex_item.reason and "too large" in q_item.reason
    assert all(len(r) <= items.MAX_REASON for r in
               items.SubmissionGrade("f", [ex_item, q_item]).reasons().split(" | "))


def test_odd_quiz_answers_and_internal_errors_keep_the_item_in_the_row(tmp_path, sandbox, template, monkeypatch):
    numeric = next(q for q in load_bank().values() if q.kind == "numeric")
    huge = grade.grade_quiz(numeric, grade.AnswerCell("quiz", numeric.id, 1, "answer = " + "9" * 401 + "\n"), None)
    assert huge.points == 0 and huge.reason and huge.max_points == numeric.points
    full = fx.write(fx.full_marks(NB), tmp_path / "01_full.ipynb")
    options = grade.Options(seed=SEED, bank=load_bank(), templates=inputs.read_templates({NB: template}))
    reference = grade.grade_submission(inputs.read_submission(full), sandbox, options)

    def broken(*a, **k):
        raise RuntimeError("bank exploded")

    monkeypatch.setattr(items, "check_answer", broken)
    g = grade.grade_submission(inputs.read_submission(full), sandbox, options)
    assert g.max_points == reference.max_points and len(g.items) == len(reference.items)
    assert all("internal error" in i.reason for i in g.items if i.kind == "quiz")


def test_a_notebook_nested_50k_deep_gets_a_row_with_the_reason(tmp_path, sandbox, template):
    deep = tmp_path / "01_deep.ipynb"
    deep.write_text("[" * 50_000 + "]" * 50_000)
    options = grade.Options(seed=SEED, bank=load_bank(), templates=inputs.read_templates({NB: template}))
    g = grade.grade_submission(inputs.read_submission(deep), sandbox, options)
    assert g.total == 0 and "not graded" in g.reasons() and g.max_points > 0


def test_folder_entries_that_are_not_notebook_files_get_rows(tmp_path, sandbox, template):
    folder = tmp_path / "class"
    fx.write(fx.full_marks(NB), folder / "01_good.ipynb")
    (folder / "01_dir.ipynb").mkdir()
    os.symlink("01_loop.ipynb", folder / "01_loop.ipynb")
    os.mkfifo(folder / "01_fifo.ipynb")
    paths = inputs.collect_paths([str(folder)])
    assert len(paths) == 4
    grades, _ = grade.grade_files(paths, seed=SEED, templates={NB: template}, sandbox=sandbox)
    by_name = {Path(g.file).name: g for g in grades}
    assert by_name["01_good.ipynb"].total == by_name["01_good.ipynb"].max_points
    assert "folder" in by_name["01_dir.ipynb"].reasons()
    assert "symbolic link loop" in by_name["01_loop.ipynb"].reasons()
    assert "FIFO" in by_name["01_fifo.ipynb"].reasons()
    assert len({g.max_points for g in grades}) == 1


# ------------------------------------------------------------------------------------------------ results
def test_reasons_are_short_and_csv_cells_cannot_be_formulas():
    g = items.SubmissionGrade("=HYPERLINK(\"http://x\")", [items.ItemGrade("01.a", "quiz", 0, 1, reason="=1+1 " * 500)],
                              ["-cmd|' /C calc'!A0"])
    rows = list(csv.reader(io.StringIO(report.csv_text([g]))))
    assert rows[1][0].startswith("'=")
    assert rows[1][-1].startswith("'-") and len(rows[1][-1]) < 2 * items.MAX_REASON + 20


# ---------------------------------------------------------------------------------------------- the CLI
@pytest.fixture()
def cli_files(tmp_path, template):
    sub = fx.write(fx.shipped(NB), tmp_path / "01_x.ipynb")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.csv"
    os.symlink(tmp_path / "target.csv", link)
    return {"sub": sub, "fifo": fifo, "link": link, "dir": tmp_path, "template": template,
            "bank": sorted(default_quiz_dir().glob("*.yaml"))[0],
            "shipped": inputs.course_notebook_dir() / "01_actor_critic_basics.ipynb",
            "inside": Path(exercises.__file__).parent / "grades.csv", "tmp": tmp_path}


CLI_ABUSE = {
    "time limit inf": ["--time-limit", "inf"],
    "time limit nan": ["--time-limit", "nan"],
    "time limit negative": ["--time-limit", "-1"],
    "time limit a day": ["--time-limit", "86400"],
    "seed of 23 digits": ["--seed", "1" * 23],
    "negative seed": ["--seed", "-1"],
    "no workers": ["--workers", "0"],
    "out is a symlink": ["--out", "{link}"],
    "out is a FIFO": ["--out", "{fifo}"],
    "out is a folder": ["--out", "{dir}"],
    "out over the submission": ["--out", "{sub}"],
    "out over the bank": ["--out", "{bank}"],
    "out over the template": ["--out", "{template}", "--template", "{template}"],
    "out over a shipped notebook": ["--out", "{shipped}"],
    "out where sandboxes see it": ["--out", "{inside}"],
    "out and json the same": ["--out", "{tmp}/r.txt", "--json", "{tmp}/r.txt"],
    "both to stdout": ["--out", "-", "--json", "-"],
    "json over the submission": ["--json", "{sub}"],
    "out in a missing folder": ["--out", "{tmp}/no/such/folder/g.csv"],
}


@pytest.mark.parametrize("case", sorted(CLI_ABUSE))
def test_cli_abuse_is_a_usage_error_before_any_grading(case, cli_files, monkeypatch, capsys):
    def never(*a, **k):
        raise AssertionError("grading started")

    monkeypatch.setattr(cli, "grade_files", never)
    before = {p: _fingerprint(p) for p in (cli_files["sub"], cli_files["bank"], cli_files["template"])}
    argv = [str(cli_files["sub"])] + [a.format(**cli_files) for a in CLI_ABUSE[case]]
    assert grade.main(argv) == 2
    assert "error:" in capsys.readouterr().err
    assert {p: _fingerprint(p) for p in before} == before
    assert not cli_files["link"].exists() and not cli_files["inside"].exists()
    assert not (Path.cwd() / "-").exists()


def test_out_dash_prints_the_csv_and_writes_no_file(tmp_path, template, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sub = fx.write(fx.full_marks(NB), tmp_path / "01_y.ipynb")
    assert grade.main([str(sub), "--template", str(template), "--out", "-", "--seed", "5"]) == 0
    assert capsys.readouterr().out.startswith("file,")
    assert not (tmp_path / "-").exists()


# ------------------------------------------------------------------------- a private bank (item 6)
PRIVATE = {"questions": [{
    "id": "01.private_q", "kind": "single", "points": 3,
    "prompt": "A question only the instructor's bank has.",
    "choices": [{"id": "a", "text": "one", "correct": False, "explain": "no"},
                {"id": "b", "text": "two", "correct": True, "explain": "yes"}]}]}


def test_a_private_bank_marks_with_its_own_ids_and_key(tmp_path):
    bank = tmp_path / "private"
    bank.mkdir()
    (bank / "01_actor_critic_basics.yaml").write_text(yaml.safe_dump(PRIVATE))
    template = fx.write(fx.course_notebook(NB, quiz_dir=str(bank)), tmp_path / "tpl" / "01_actor_critic_basics.ipynb")
    right = fx.write(fx.full_marks(NB, quiz_dir=str(bank)), tmp_path / "01_right.ipynb")
    wrong = fx.course_notebook(NB, {e.id: e.reference for e in exercises.list_exercises(NB)}, {"01.private_q": "a"},
                               quiz_dir=str(bank))
    public = fx.full_marks(NB)  # answers the shipped questions, which this bank does not have
    paths = [right, fx.write(wrong, tmp_path / "01_wrong.ipynb"), fx.write(public, tmp_path / "01_public.ipynb")]
    out = tmp_path / "g.csv"
    assert grade.main([*map(str, paths), "--quiz-dir", str(bank), "--template", str(template), "--out", str(out),
                       "--seed", "1"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["quiz:01.private_q"] for r in rows] == ["3", "0", "0"]
    assert all(not k.startswith("quiz:") or k == "quiz:01.private_q" for k in rows[0])
    assert "missing" in rows[2]["reasons"] and "not a known quiz id" in rows[2]["reasons"]
    # a malformed private bank is refused (same schema as the shipped one), before any grading
    broken = {"questions": [dict(PRIVATE["questions"][0], kind="essay")]}
    (bank / "01_actor_critic_basics.yaml").write_text(yaml.safe_dump(broken))
    assert grade.main([str(right), "--quiz-dir", str(bank), "--out", str(tmp_path / "h.csv")]) == 2
