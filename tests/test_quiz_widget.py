"""The quiz widget, driven from Python: submit, feedback, retries, running score, no answer key in the widget
state before a submit, and the readable text version where widgets cannot render (also in a real kernel)."""
from __future__ import annotations

import json
from pathlib import Path

import ipywidgets as widgets
import pytest
import yaml

from course_lib import progress, quiz, quiz_bank
from course_lib.quiz_bank import ENV_VAR, load_bank

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh(monkeypatch, tmp_path):
    """Each test starts with no recorded answers (its own progress file) and the repository's bank."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(tmp_path / "progress" / "progress.json"))
    quiz.reset_scores()
    yield
    quiz.reset_scores()


def _choices(correct: str, n: int = 4):
    return [{"id": cid, "text": f"option {cid.upper()} with $x_{cid}$", "correct": cid == correct,
             "explain": f"EXPLAIN-{cid.upper()}: why {cid} is what it is"} for cid in "abcd"[:n]]


def _write_bank(directory: Path, correct_single: str = "b") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    questions = [
        {"id": "01.pick", "kind": "single", "points": 1, "prompt": "Pick the **right** one: $a < b$?",
         "choices": _choices(correct_single)},
        {"id": "01.many", "kind": "multiple", "points": 2, "prompt": "Pick all right ones.",
         "choices": [{**c, "correct": c["id"] in "ac"} for c in _choices("a")]},
        {"id": "01.number", "kind": "numeric", "points": 3, "prompt": "What is $1/4$?", "answer": 0.25,
         "tolerance": 0.01, "explain_correct": "EXPLAIN-RIGHT: a quarter", "explain_wrong": "EXPLAIN-WRONG: 1/4"},
    ]
    (directory / "01_demo.yaml").write_text(yaml.safe_dump({"questions": questions}), encoding="utf-8")
    return directory


@pytest.fixture
def bank_dir(tmp_path):
    return _write_bank(tmp_path / "bank")


def _reachable(w: widgets.Widget):
    """Every widget reachable from ``w`` through its synced traits (children, layout, style, ...)."""
    seen, todo = {}, [w]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen[id(cur)] = cur
        for key in cur.keys:
            val = getattr(cur, key)
            vals = val if isinstance(val, (list, tuple)) else [val]
            todo += [v for v in vals if isinstance(v, widgets.Widget)]
    return list(seen.values())


def _normalised_state(w: widgets.Widget):
    """The widget tree's synced state with model-id references replaced by the referenced state."""
    def resolve(v):
        if isinstance(v, widgets.Widget):
            return _normalised_state(v)
        if isinstance(v, (list, tuple)):
            return [resolve(x) for x in v]
        return v
    state = w.get_state()
    return {k: (resolve(getattr(w, k)) if isinstance(state[k], (str, list)) and "IPY_MODEL_" in json.dumps(state[k])
                else state[k]) for k in sorted(state)}


def _state_json(w: quiz.QuizWidget) -> str:
    return json.dumps([x.get_state() for x in _reachable(w.box)], default=str)


# --------------------------------------------------------------------------------------------- driving it

def test_wrong_then_right_single_choice_feedback_retries_and_score(bank_dir):
    w = quiz.QuizWidget("01.pick", bank_dir)
    assert w.feedback.value == "" and w.current_answer() is None
    line_before = w.board.line.value
    w.choice_boxes["c"].value = True
    w.submit.click()
    assert "Not quite" in w.feedback.value and "EXPLAIN-C" in w.feedback.value and "Attempt 1" in w.feedback.value
    assert "EXPLAIN-B" not in w.feedback.value                       # the right one is not given away
    s = quiz.score()
    assert (s.points, s.max_points, s.tried, s.solved, s.total, s.attempts) == (0, 6, 1, 0, 3, {"01.pick": 1})
    w.choice_boxes["b"].value = True                              # ticking b unticks c (one choice)
    assert w.current_answer() == "b" and not w.choice_boxes["c"].value
    w.submit.click()
    assert "Correct" in w.feedback.value and "EXPLAIN-B" in w.feedback.value and "Attempt 2" in w.feedback.value
    assert w.last_result.correct and w.last_result.points == 1
    s = quiz.score("01", bank_dir)
    assert (s.points, s.solved, s.attempts) == (0, 1, {"01.pick": 2})  # first attempt was wrong: still 0 points
    assert w.board.line.value != line_before and "1 solved" in w.board.line.value
    # another question right first time: the score goes up by its points
    n = quiz.QuizWidget("01.number", bank_dir)
    n.selector.value = 0.249
    n.submit.click()
    assert "EXPLAIN-RIGHT" in n.feedback.value
    assert quiz.score().points == 3 and "3 / 6 points" in w.board.line.value
    assert n.board is w.board and n.board.line is w.board.line    # one shared score line per notebook


def test_one_control_per_choice_labelled_with_its_text(bank_dir):
    for qid in ("01.pick", "01.many"):
        w = quiz.QuizWidget(qid, bank_dir)
        assert len(w.checkboxes) == 4 and w.selector is None
        for c, cb in zip(w.question.choices, w.checkboxes):
            assert isinstance(cb, widgets.Checkbox) and cb.description_allow_html
            assert cb.description.startswith(f"<b>{c.id})</b> option {c.id.upper()} with $x_{c.id}$")
        assert "course-quiz" in w.box._dom_classes and "Space" in w.keys.value and "Tab" in w.keys.value
        assert ":focus" in w.prompt.value and "outline" in w.prompt.value        # visible focus ring on Submit


def test_multiple_choice_first_wrong_try_marks_no_box(bank_dir):
    w = quiz.QuizWidget("01.many", bank_dir)
    w.select("a", "b")                                    # a is right, b is wrong
    w.submit.click()
    assert "Not quite" in w.feedback.value and "not exactly the set" in w.feedback.value
    assert "EXPLAIN" not in w.feedback.value               # no box marked right or wrong on the first try
    w.select("a")                                          # second wrong try: each tick explained
    w.submit.click()
    assert "EXPLAIN-A" in w.feedback.value and "at least one more" in w.feedback.value
    w.select("a", "c")
    w.submit.click()
    assert "Correct" in w.feedback.value and "EXPLAIN-A" in w.feedback.value and "EXPLAIN-C" in w.feedback.value
    assert quiz.score().attempts == {"01.many": 3} and quiz.score().points == 0


def test_numeric_nudge_first_then_worked_answer(bank_dir):
    w = quiz.QuizWidget("01.number", bank_dir)
    assert isinstance(w.selector, widgets.FloatText)
    w.selector.value = 0.5
    w.submit.click()
    first = w.feedback.value
    assert "Not quite" in first and "too high" in first and "EXPLAIN" not in first and "0.25" not in first
    w.selector.value = 0.1
    w.submit.click()
    assert "EXPLAIN-WRONG" in w.feedback.value and "Worked answer" in w.feedback.value
    assert "EXPLAIN-RIGHT" in w.feedback.value
    assert quiz.score().points == 0


def test_numeric_correct_shows_the_worked_answer_and_a_later_miss_explains(bank_dir):
    w = quiz.QuizWidget("01.number", bank_dir)
    w.selector.value = 0.25
    w.submit.click()
    assert "Correct" in w.feedback.value and "EXPLAIN-RIGHT" in w.feedback.value
    w.selector.value = 0.1                                   # solved already: no more holding back
    w.submit.click()
    assert "EXPLAIN-WRONG" in w.feedback.value and "too low" not in w.feedback.value


def test_numeric_nudge_from_the_bank(tmp_path):
    bank = _write_bank(tmp_path / "bank")
    path = bank / "01_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["questions"][2]["nudge"] = "NUDGE: think of quarters."
    path.write_text(yaml.safe_dump(data))
    assert quiz.check_answer("01.number", 3, bank).feedback.count("NUDGE: think of quarters.") == 1


def test_submit_without_a_choice_asks_for_one_and_counts_nothing(bank_dir):
    for qid in ("01.pick", "01.many"):
        w = quiz.QuizWidget(qid, bank_dir)
        w.submit.click()
        assert "Tick a choice first" in w.feedback.value
    assert quiz.score().attempts == {}


# --------------------------------------------------------------------------------------------- no answer key

def test_no_explanation_in_any_widget_state_before_submit():
    """For every question of the shipped bank, no child widget's state contains an explanation."""
    for q in load_bank().values():
        w = quiz.QuizWidget(q.id)
        blob = _state_json(w)
        secrets = [c.explain for c in q.choices] + [q.explain_correct or "\0", q.explain_wrong or "\0"]
        # look for each explanation both as written and as the widget would render it (HTML)
        forms = [json.dumps(f)[1:-1] for s in secrets for f in (s, quiz.markdown_to_html(s)[3:-4])]
        assert not [f for f in forms if f in blob], q.id
        assert "Correct" not in blob and "Not quite" not in blob
        assert quiz.markdown_to_html(q.prompt) in w.prompt.value         # the widget does show the question


def test_widget_state_does_not_depend_on_which_choice_is_correct(tmp_path):
    """Two banks that differ only in which choice is correct give identical widget trees before a submit."""
    w_b = quiz.QuizWidget("01.pick", _write_bank(tmp_path / "b", correct_single="b"))
    w_d = quiz.QuizWidget("01.pick", _write_bank(tmp_path / "d", correct_single="d"))
    assert w_b.board is not w_d.board
    assert _normalised_state(w_b.box) == _normalised_state(w_d.box)
    # after a wrong submit only the chosen explanation appears
    w_b.select("a")
    w_b.submit.click()
    blob = _state_json(w_b)
    assert "EXPLAIN-A" in blob and not any(f"EXPLAIN-{x}" in blob for x in "BCD")


# --------------------------------------------------------------------------------------------- text versions

def test_text_fallback_is_readable_and_reveals_nothing(bank_dir):
    for qid in ("01.pick", "01.many", "01.number"):
        w = quiz.QuizWidget(qid, bank_dir)
        bundle = w._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        text, md = bundle["text/plain"], bundle["text/markdown"]
        assert repr(w) == text and "VBox" not in text and "EXPLAIN" not in text + md
        assert text.startswith(f"Question {qid} (") and f'quiz.check("{qid}", answer)' in text
        assert "Run the cell to answer" in text and "Run the cell to answer" in md
        q = w.question
        assert q.prompt in text and q.prompt in md
        for c in q.choices:
            assert f"  {c.id}) {c.text}" in text and f"- **{c.id})** {c.text}" in md
    assert "one of a, b, c, d" in quiz.question_text(load_bank(bank_dir)["01.pick"])


def test_text_version_of_every_bank_question_fits_100_columns_and_keeps_every_word():
    for q in load_bank().values():
        text = quiz.question_text(q)
        assert max(len(line) for line in text.splitlines()) <= 100, q.id
        flat = " ".join(text.split())
        assert " ".join(q.prompt.split()) in flat, q.id
        for c in q.choices:
            assert f"{c.id}) {' '.join(c.text.split())}" in flat, (q.id, c.id)


def test_show_outside_ipython_prints_the_text_version(bank_dir, capsys):
    quiz.show("01.pick", bank_dir)
    out = capsys.readouterr().out
    assert out.startswith("Question 01.pick (single choice, 1 point)") and "  a) option A" in out
    assert "VBox" not in out


def test_show_unknown_id_names_the_valid_ids(bank_dir):
    with pytest.raises(KeyError, match="01.pick"):
        quiz.show("01.pik", bank_dir)


def test_in_a_kernel_outputs_are_readable_and_saved_widget_state_has_no_answers(tmp_path):
    """Execute a small notebook (as nbval/nbconvert do): text fallback in the outputs, no answer key in the
    widget state nbclient stores in the notebook, and answer-cell feedback printed."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    bank = _write_bank(tmp_path / "bank")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        f"import os\nos.environ['{ENV_VAR}'] = {str(bank)!r}\nfrom course_lib import quiz",
        'quiz.show("01.pick")\nquiz.show("01.many")\nquiz.show("01.number")',
        '# QUIZ: 01.pick\nanswer = "c"\nquiz.check("01.pick", answer)',
        "quiz.score()",
    )]
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    shown = nb.cells[1].outputs
    assert len(shown) == 3 and all(o.output_type == "display_data" for o in shown)
    assert [o.data["text/plain"].split(" (")[0] for o in shown] == ["Question 01.pick", "Question 01.many",
                                                                   "Question 01.number"]
    assert all("application/vnd.jupyter.widget-view+json" in o.data for o in shown)
    state = json.dumps(nb.metadata["widgets"])
    assert "option A" in state and "EXPLAIN" not in state
    printed = nb.cells[2].outputs[0].text
    assert printed.startswith("01.pick, attempt 1: Not quite.") and "EXPLAIN-C" in printed
    assert "Notebook 01: 0 / 6 points on first attempts; 1 of 3 questions tried" in \
        nb.cells[3].outputs[0].data["text/plain"]


# --------------------------------------------------------------------------------------------- check / score

def test_check_prints_feedback_and_counts(bank_dir, capsys):
    quiz.check("01.pick", "a", bank_dir)
    quiz.check("01.pick", "B", bank_dir)
    out = capsys.readouterr().out
    assert "01.pick, attempt 1: Not quite." in out and "EXPLAIN-A" in out
    assert "01.pick, attempt 2: Correct." in out and "EXPLAIN-B" in out and "**" not in out
    assert quiz.score().attempts == {"01.pick": 2}


@pytest.mark.parametrize("qid, answer, fragment", [
    ("01.pick", "z", "'z' is not a choice of question '01.pick'; valid choice ids: a, b, c, d"),
    ("01.pik", "a", "no question with id '01.pik'; valid ids in notebook 01: 01.pick"),
    ("01.number", "a quarter", "must be a finite number"),
])
def test_check_reports_a_bad_answer_in_one_message_and_counts_nothing(bank_dir, capsys, qid, answer, fragment):
    quiz.check(qid, answer, bank_dir)
    out = capsys.readouterr().out
    assert out.startswith("Cannot check this answer: ") and fragment in " ".join(out.split())
    assert "Traceback" not in out
    assert quiz.scoreboard("01", bank_dir).attempts == {}


def test_problem_messages_are_wrapped_to_100_characters(capsys):
    """The repository's bank: an unknown id lists every id of the notebook (07 has the most), a bad choice
    lists the choice ids; every printed line is <= 100 characters and continuation lines are indented."""
    quiz.check("07.no_such_question", "a")
    quiz.check("01.critic_role", "z")
    quiz.check("01.critic_role", ["a", "b"])
    out = capsys.readouterr().out
    assert out.count("Cannot check this answer: ") == 3
    lines = out.splitlines()
    assert max(map(len, lines)) <= 100, [line for line in lines if len(line) > 100]
    assert any(len(line) > 90 for line in lines), "the messages are long enough to need wrapping"
    assert all(line.startswith(("Cannot check this answer: ", "    ")) for line in lines), lines
    for qid in (q for q in load_bank() if q.startswith("07.")):
        assert qid in out, "the list of valid ids is printed whole"
    assert quiz.score("01").attempts == {} and quiz.score("07").attempts == {}


def test_score_before_any_question_says_what_to_do():
    with pytest.raises(ValueError, match=r"pass the notebook number, e.g. quiz.score\('01'\)"):
        quiz.score()
    empty = quiz.score("02")                                      # shipped bank, nothing answered yet
    assert empty.points == 0 and empty.tried == 0 and empty.total == len(
        [q for q in load_bank().values() if q.number == "02"])


def test_score_text_and_reset(bank_dir):
    quiz.check("01.number", 0.25, bank_dir)
    s = quiz.score()
    assert str(s) == ("Notebook 01: 3 / 6 points on first attempts; 1 of 3 questions tried, 1 solved, "
                      "1 attempt in all.")
    quiz.reset_scores()                                   # forgets this kernel's boards, not the saved answers
    assert quiz.score("01", bank_dir).attempts == {"01.number": 1}
    progress.reset("01", confirm=True)
    assert quiz.score("01", bank_dir).attempts == {} and quiz.score("01", bank_dir).points == 0


def test_check_answer_is_no_free_oracle(bank_dir):
    """quiz.check_answer counts like Submit: probing first makes the probe the first attempt."""
    probe = quiz.check_answer("01.pick", "a", bank_dir)
    assert not probe.correct and "EXPLAIN-A" in probe.feedback
    assert quiz.check_answer("01.number", 0.5, bank_dir).feedback.count("EXPLAIN") == 0   # a nudge only
    w = quiz.QuizWidget("01.pick", bank_dir)
    w.select("b")
    w.submit.click()
    s = quiz.score()
    assert s.attempts == {"01.pick": 2, "01.number": 1} and s.points == 0 and s.solved == 1
    assert quiz.check_answer is not quiz_bank.check_answer


def test_answers_are_saved_and_survive_a_new_kernel(bank_dir):
    quiz.check("01.number", 0.25, bank_dir)
    quiz.reset_scores()                                   # what a restart leaves: only the saved file
    saved = progress.load()["quizzes"]["01.number"]
    assert saved == {"attempts": 1, "wrong": 0, "first_points": 3.0, "max_points": 3.0, "solved": True}
    assert quiz.score("01", bank_dir).points == 3


# --------------------------------------------------------------------------------------------- Markdown subset

def test_markdown_to_html_keeps_maths_intact_and_escapes_html():
    out = quiz.markdown_to_html("**Bold** and *it* with `a*b*c` and $x_1 * y_2 * z < 3$ <script>\n\n- one\n- two")
    assert "<strong>Bold</strong>" in out and "<em>it</em>" in out and "<code>a*b*c</code>" in out
    assert "$x_1 * y_2 * z &lt; 3$" in out                      # no <em> inside the formula
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert out.endswith("<ul><li>one</li><li>two</li></ul>")
    assert quiz.markdown_to_html("line one\nline two") == "<p>line one line two</p>"
    assert quiz.markdown_to_html("$$\\sum_i a_i$$") == "<p>$$\\sum_i a_i$$</p>"
    assert quiz.markdown_to_html("2 * 3 * 4 and a ** b") == "<p>2 * 3 * 4 and a ** b</p>"


def test_one_scoreboard_per_notebook_and_bank_folder(bank_dir):
    assert quiz.scoreboard("01") is quiz.scoreboard("01", REPO / "quizzes")
    assert quiz.scoreboard("01", bank_dir) is quiz.scoreboard("01", str(bank_dir / ".." / "bank"))
    assert quiz.scoreboard("01", bank_dir) is not quiz.scoreboard("01")
