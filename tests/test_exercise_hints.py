"""Hints that teach instead of telling: a FAIL states the symptom and never the fix; ``exercises.hint`` walks a
ladder (where to look, the idea, then the fix); ``exercises.solution`` stays gated and is displayed once; the hint
levels used are kept in memory for a progress store.

"The fix" is pinned two ways per exercise: the reference's key lines (its code lines that the starter lacks,
read from the sources) and a hand-written list of fix tokens (the words and expressions that give it away).
"""
from __future__ import annotations

import ast
import re
import warnings

import pytest

from course_lib import exercises, progress
from course_lib.exercises import core
from course_lib.exercises import hints as hints_mod
from course_lib.exercises.cells import exec_cell

# the shipped 06.one_sample_nan starter warns about std() of one sample when run directly (check() hides it)
pytestmark = pytest.mark.filterwarnings("ignore:std\\(\\). degrees of freedom:UserWarning")

ALL = exercises.list_exercises()
IDS = [ex.id for ex in ALL]
SEEDS = (0, 1, 12345)

# Words and expressions that name the fix of each exercise's shipped bug; a FAIL on the starter (and the first
# hint level, which only says where to look) must contain none of them. Compared case-insensitively.
FIX_TOKENS: dict[str, tuple[str, ...]] = {
    "01.detach_critic": ("detach", "no_grad", "1 - terminated", "1.0 - terminated", "td error", "delta",
                         "advantage"),
    "01.loss_sign": ("-j", "return -", "-(logp", "negat", "minus", "sign"),
    "02.continuous_sampling": ("normal(", "sample()", "log_std.exp()", "rsample", "distribution"),
    "02.terminal_bootstrap": ("1 - terminated", "1.0 - terminated", "multiply", "mask"),
    "03.baseline": ("values.detach()", "returns - values", "g_t - v(s_t)", "subtract", "baseline"),
    "03.scalar_loss": (".mean()", "mean(", ".sum()", "average"),
    "04.clip_surrogate": ("torch.min", "torch.clamp", "clamp(", "min(", "clip(r", "pessimistic"),
    "04.ratio_direction": ("logp - logp_old", "exp(logp", "upside down", "numerator", "swap"),
    "04.entropy_sign": ("- ent_coef", "-ent_coef", "minus", "subtract", "sign", "negat", "flip", "opposite"),
    "05.trust_region_step": ("backtrack", "beta", "shrink", "log_softmax", "kl <= max_kl", "line search"),
    "05.kl_estimator": ("k1", "k3", "log r", "(r - 1)", "logp_old - logp_new", "twice"),
    "06.normalise_advantages": ("adv[valid", "correction=0", "1e-8", "subtract", "divide", "real.mean"),
    "06.one_sample_nan": ("correction=0", "unbiased=false", "b - 1", "bessel", "population"),
    "06.frozen_obs_norm": ("if training", "only when training", "freeze", "update only", "guard"),
    "07.gymnasium_api": ("obs, info =", "terminated, truncated", "env.reset()", "five values", "5 values"),
    "07.truncation_bootstrap": ("1 - terminated", "1.0 - terminated", "only terminated", "bootstrap unless"),
    "07.store_unclipped": ("clamp(", "dist.sample()", "env_action =", "store the sample", "clip only"),
    "07.tanh_jacobian": ("jacobian", "softplus", "log_det", "1 - tanh", "change of variables", "subtract",
                         "f'(u)"),
    "07.kl_penalty": ("logp - logp_ref", "swap", "the other way round", "log pi - log pi_ref", "minus sign"),
}


def _flat(text: str) -> str:
    """Text with its line breaks and indents folded to single spaces (plain-text hints are wrapped)."""
    return " ".join(text.split())


def _compile(ex, source):
    return exec_cell(source, ex.func_name, filename=f"<test {ex.id}>")


def _squash(text: str) -> str:
    return " ".join(text.split())


def key_lines(ex) -> list[str]:
    """The reference's code lines that the starter does not have: no docstring, comments, imports or def line."""
    tree = ast.parse(ex.reference)
    doc_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) is not None:
            doc = node.body[0]
            doc_lines.update(range(doc.lineno, doc.end_lineno + 1))
    starter = {_squash(line.split("  #")[0]) for line in ex.starter.splitlines()}
    found = []
    for number, line in enumerate(ex.reference.splitlines(), start=1):
        code = _squash(line.split("  #")[0])
        if (number in doc_lines or not code or code.startswith(("#", "import ", "from ", "def ", "class "))
                or code in starter):
            continue
        found.append(code)
    return found


def _fail_message(ex, source, seed) -> str:
    """The FAIL message after the exercise id (whose words are not a hint), without the quote of the learner's
    own line that an error message carries."""
    result = core.check_function(ex, _compile(ex, source), seed)
    assert not result.passed
    assert result.message.startswith(f"{ex.id}: ")
    return re.sub(r"\(line \d+ of your cell: `.*?`\)", "", result.message[len(ex.id) + 2:])


@pytest.fixture
def fresh_state(monkeypatch, tmp_path):
    """No attempts, hint levels or shown solutions from other tests, and an empty progress store."""
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(tmp_path / "progress.json"))
    monkeypatch.setattr(exercises, "_attempted", set())
    monkeypatch.setattr(hints_mod, "HINT_LEVELS", {})
    monkeypatch.setattr(hints_mod, "SOLUTIONS_SHOWN", set())


# ------------------------------------------------------------------------------------ the FAIL is a symptom
def test_every_exercise_has_fix_tokens():
    assert sorted(FIX_TOKENS) == sorted(IDS)


@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_the_reference_has_key_lines_to_look_for(ex):
    assert key_lines(ex), f"{ex.id}: no reference line differs from the starter"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_starter_fail_states_the_symptom_not_the_fix(ex, seed):
    message = _fail_message(ex, ex.starter, seed)
    assert message.startswith("case '")
    lowered = message.lower()
    named = [token for token in FIX_TOKENS[ex.id] if token.lower() in lowered]
    assert not named, f"{ex.id}: the starter's FAIL names the fix {named}: {message}"
    shown = [line for line in key_lines(ex) if line in _squash(message)]
    assert not shown, f"{ex.id}: the starter's FAIL quotes the reference {shown}: {message}"
    # a symptom, not a bare verdict: it says what came out or what went wrong in some detail
    assert len(message) > 60, message


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_wrong_fixes_fail_without_quoting_the_reference(ex, seed):
    for wrong in ex.wrong_fixes:
        message = _fail_message(ex, wrong.source, seed)
        shown = [line for line in key_lines(ex) if line in _squash(message)]
        assert not shown, f"{ex.id} ({wrong.why}): the FAIL quotes the reference {shown}: {message}"


# ---------------------------------------------------------------------------------------------- the ladder
@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_ladder_goes_from_where_to_look_to_the_fix(ex):
    assert len(ex.hints) >= 2, f"{ex.id}: at least two hint levels after the FAIL"
    assert all(isinstance(h, str) and h.strip() for h in ex.hints)
    assert len(set(ex.hints)) == len(ex.hints), "every level says something new"
    lines = key_lines(ex)
    last = _squash(ex.hints[-1])
    assert any(line in last for line in lines), f"{ex.id}: the last level does not name the fix {lines}"
    for level, text in enumerate(ex.hints[:-1], start=1):
        early = [line for line in lines if line in _squash(text)]
        assert not early, f"{ex.id}: level {level} already gives the fix {early}"
    first = ex.hints[0].lower()
    named = [token for token in FIX_TOKENS[ex.id] if token.lower() in first]
    assert not named, f"{ex.id}: the first level (where to look) names the fix {named}"


@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_hints_and_fail_messages_carry_no_source_jargon(ex):
    for text in (*ex.hints, _fail_message(ex, ex.starter, 0)):
        lowered = text.lower()
        assert not any(word in lowered for word in ("erratum", "errata", "the notes")), text


def test_plain_text_hints_and_recaps_fit_100_columns(fresh_state):
    for ex in exercises.list_exercises():
        texts = [hints_mod.hint_text(ex, level, repeated)[1]
                 for level in range(1, len(ex.hints) + 1) for repeated in (False, True)]
        texts.append(hints_mod.recap_text(ex, len(ex.hints))[1])
        for text in texts:
            assert max(len(line) for line in text.splitlines()) <= 100, (ex.id, text)
        for level, body in enumerate(ex.hints, start=1):
            assert _flat(body) in _flat(hints_mod.hint_text(ex, level, False)[1])


def test_hint_advances_then_stays_at_the_last_level(fresh_state, capsys):
    ex = exercises.get_exercise("02.terminal_bootstrap")
    n = len(ex.hints)
    assert exercises.hints_used() == {}
    for level in range(1, n + 1):
        assert exercises.hint(ex.id) is None
        out = _flat(capsys.readouterr().out)
        assert f"Hint {level} of {n} for {ex.id}" in out and ex.hints[level - 1] in out
        assert exercises.hints_used() == {ex.id: level}
        if level < n:
            assert f'exercises.hint("{ex.id}")` again for hint {level + 1}' in out and ex.hints[level] not in out
        else:
            assert "last hint" in out and f'exercises.solution("{ex.id}")' in out
    exercises.hint(ex.id)  # past the end: the last level again, and the count stays
    out = _flat(capsys.readouterr().out)
    assert f"Hint {n} of {n}" in out and ex.hints[-1] in out and "no more hints" in out
    assert exercises.hints_used() == {ex.id: n}
    # levels are per exercise
    exercises.hint("01.loss_sign")
    assert exercises.hints_used() == {ex.id: n, "01.loss_sign": 1}


def test_after_a_kernel_restart_hint_carries_on_from_the_saved_level(fresh_state, monkeypatch, capsys):
    """The levels opened are saved in the progress store; a new kernel (empty HINT_LEVELS) asking for a hint
    gets the next level, with the levels opened before repeated above it, not hint 1 again."""
    ex = next(e for e in exercises.list_exercises() if len(e.hints) >= 3)
    exercises.hint(ex.id)
    exercises.hint(ex.id)
    capsys.readouterr()
    assert progress.load()["hints"] == {ex.id: 2}

    monkeypatch.setattr(hints_mod, "HINT_LEVELS", {})  # a restarted kernel: nothing in memory
    exercises.hint(ex.id)
    out = _flat(capsys.readouterr().out)
    assert f"Hint 3 of {len(ex.hints)} for {ex.id}" in out and ex.hints[2] in out
    assert "in an earlier session" in out and ex.hints[0] in out and ex.hints[1] in out
    assert out.index(ex.hints[1]) < out.index(f"Hint 3 of"), "the recap comes before the new level"
    assert exercises.hints_used() == {ex.id: 3} and progress.load()["hints"] == {ex.id: 3}

    # a level saved beyond the ladder (e.g. an older, longer ladder) is capped; the last level repeats
    monkeypatch.setattr(hints_mod, "HINT_LEVELS", {})
    progress.record_hint(ex.id, 99)
    exercises.hint(ex.id)
    out = _flat(capsys.readouterr().out)
    n = len(ex.hints)
    assert f"Hint {n} of {n}" in out and "no more hints" in out and exercises.hints_used() == {ex.id: n}

    # nothing saved: a new kernel starts at hint 1, without a recap
    monkeypatch.setattr(hints_mod, "HINT_LEVELS", {})
    exercises.hint("01.loss_sign")
    out = _flat(capsys.readouterr().out)
    assert "Hint 1 of" in out and "earlier session" not in out


def test_hints_used_is_a_copy_kept_in_one_named_place(fresh_state):
    exercises.hint("04.ratio_direction")
    used = exercises.hints_used()
    used["04.ratio_direction"] = 99
    assert exercises.hints_used() == {"04.ratio_direction": 1}
    assert hints_mod.HINT_LEVELS == {"04.ratio_direction": 1}


def test_restore_hints_used_caps_keeps_higher_and_validates(fresh_state):
    exercises.hint("03.baseline")
    exercises.hint("03.baseline")
    exercises.restore_hints_used({"03.baseline": 1, "06.one_sample_nan": 50, "01.loss_sign": 0})
    n = len(exercises.get_exercise("06.one_sample_nan").hints)
    assert exercises.hints_used() == {"03.baseline": 2, "06.one_sample_nan": n}
    before = exercises.hints_used()
    for bad in ({"03.baseline": -1}, {"03.baseline": 1.5}, {"03.baseline": True}, {"99.nope": 1}, [("x", 1)]):
        with pytest.raises(ValueError):
            exercises.restore_hints_used(bad)
    assert exercises.hints_used() == before, "a rejected restore changes nothing"


def test_unknown_id_is_refused_by_hint_and_solution():
    with pytest.raises(ValueError, match="exercise_id must be one of"):
        exercises.hint("01.nope")
    with pytest.raises(ValueError, match="exercise_id must be one of"):
        exercises.solution("01.nope")


# ---------------------------------------------------------------------------------------- check and solution
def test_a_failed_check_points_to_the_hint_without_giving_it(fresh_state, capsys):
    ex = exercises.get_exercise("06.one_sample_nan")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = exercises.check(ex.id, _compile(ex, ex.starter), seed=0)
    assert not caught, f"the check let warnings through: {[str(w.message) for w in caught]}"
    printed = capsys.readouterr().out
    assert printed == str(result) + "\n"
    lines = printed.rstrip("\n").split("\n")
    assert lines[0].startswith(f"FAIL — {ex.id}: case '") and max(map(len, lines)) <= 100, lines
    assert all(line.startswith("    ") for line in lines[1:]), "continuation lines are indented"
    assert lines[-1] == f'    (stuck? exercises.hint("{ex.id}"))', "the pointer to the hint comes last"
    assert result.message in " ".join(" ".join(lines[:-1]).split()), "the symptom is printed whole"
    squashed = " ".join(printed.split())
    assert not any(" ".join(h.split()) in squashed for h in ex.hints)
    assert exercises.hints_used() == {}, "checking does not reveal a hint level"
    passed = exercises.check(ex.id, _compile(ex, ex.reference), quiet=True)
    assert passed.passed and "exercises.hint" not in passed.message


def test_solution_refuses_before_an_attempt_then_shows_once_and_returns_none(fresh_state, capsys):
    ex = exercises.get_exercise("05.kl_estimator")
    exercises.hint(ex.id)  # a hint is not an attempt
    capsys.readouterr()
    assert exercises.solution(ex.id) is None
    out = capsys.readouterr().out
    assert "Try it first" in out and ex.reference not in out
    assert max(map(len, out.splitlines())) <= 100, out
    assert exercises.solutions_shown() == set()
    exercises.check(ex.id, _compile(ex, ex.starter), quiet=True)
    assert exercises.solution(ex.id) is None
    out = capsys.readouterr().out
    assert out.count(ex.reference) == 1 and ex.explanation in out and ex.title in out
    assert exercises.solutions_shown() == {ex.id}


def test_in_a_notebook_hint_and_solution_display_markdown_once(fresh_state, monkeypatch, capsys):
    import IPython.display

    shown = []
    monkeypatch.setattr(hints_mod, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    ex = exercises.get_exercise("07.truncation_bootstrap")

    assert exercises.hint(ex.id) is None
    (bundle, raw), = shown
    assert raw and set(bundle) == {"text/markdown", "text/plain"}
    assert bundle["text/markdown"].startswith(f"**Hint 1 of {len(ex.hints)}** for `{ex.id}`")
    assert ex.hints[0] in bundle["text/markdown"] and _flat(ex.hints[0]) in _flat(bundle["text/plain"])

    shown.clear()
    exercises.check(ex.id, _compile(ex, ex.starter), quiet=True)
    assert exercises.solution(ex.id) is None
    (bundle, raw), = shown
    assert f"```python\n{ex.reference.rstrip()}\n```" in bundle["text/markdown"]
    assert ex.title in bundle["text/markdown"]
    assert capsys.readouterr().out == "", "in a notebook nothing is printed besides the display"
