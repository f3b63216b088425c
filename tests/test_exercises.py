"""The debug-the-bug exercises: every checker accepts its reference (and other valid fixes), rejects the shipped
starter and every stored wrong fix, and explains failures in one line. Plus the notebook-facing API."""
from __future__ import annotations

import dataclasses
import math
import re
import time

import numpy as np
import pytest
import torch

from course_lib import exercises
from course_lib.exercises import core, nb05, nb06, nb07
from course_lib.exercises.cells import describe_exception, exec_cell

pytestmark = pytest.mark.filterwarnings("ignore:std\\(\\). degrees of freedom:UserWarning")

ALL = exercises.list_exercises()
IDS = [ex.id for ex in ALL]
SEEDS = (0, 1, 12345)


def _compile(ex, source):
    return exec_cell(source, ex.func_name, filename=f"<test {ex.id}>")


# ------------------------------------------------------------------------------------------------ the registry
def test_at_least_two_exercises_per_notebook_and_fourteen_in_all():
    assert len(ALL) >= 14
    for number in core.NOTEBOOKS:
        assert len(exercises.list_exercises(number)) >= 2, number


@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_exercise_definition_is_complete(ex):
    assert re.fullmatch(r"\d\d\.[a-z0-9_]+", ex.id)
    assert ex.notebook.startswith(ex.id[:2] + "_")
    assert f"def {ex.func_name}(" in ex.starter and f"def {ex.func_name}(" in ex.reference
    assert '"""' in ex.starter, "the starter's function documents its shapes"
    assert ex.explanation.strip() and ex.title.strip()
    assert len(ex.wrong_fixes) >= 2
    for wrong in ex.wrong_fixes:
        # a replace() that silently matched nothing would make the test below vacuous
        assert wrong.source not in (ex.starter, ex.reference), wrong.why
        assert wrong.why.strip()


@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_cases_are_rebuilt_identically_from_the_seed(ex):
    """The grader rebuilds the cases in two processes; they must match exactly."""
    def flat(obj):
        if isinstance(obj, torch.Tensor):
            return [obj.tolist()]
        if dataclasses.is_dataclass(obj):
            return [x for f in dataclasses.fields(obj) for x in flat(getattr(obj, f.name))]
        if isinstance(obj, (tuple, list)):
            return [x for item in obj for x in flat(item)]
        return [obj]

    first, second = ex.make_cases(7), ex.make_cases(7)
    assert [c.name for c in first] == [c.name for c in second]
    assert flat([c.data for c in first]) == flat([c.data for c in second])
    assert flat([c.data for c in ex.make_cases(8)]) != flat([c.data for c in first])


# ------------------------------------------------------------------------- each checker, data-driven over all
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_reference_passes(ex, seed):
    result = core.check_function(ex, _compile(ex, ex.reference), seed)
    assert result.passed, result.message
    assert result.points == result.max_points == ex.points


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_alternative_correct_fixes_pass(ex, seed):
    for source in ex.alternatives:
        result = core.check_function(ex, _compile(ex, source), seed)
        assert result.passed, result.message


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_starter_fails_with_a_one_line_hint(ex, seed):
    result = core.check_function(ex, _compile(ex, ex.starter), seed)
    assert not result.passed
    assert result.points == 0 and result.max_points == ex.points
    assert "\n" not in result.message and "Traceback" not in result.message
    assert result.message.startswith(ex.id + ": case '")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_every_wrong_fix_fails(ex, seed):
    for wrong in ex.wrong_fixes:
        result = core.check_function(ex, _compile(ex, wrong.source), seed)
        assert not result.passed, f"{ex.id} accepted a wrong fix ({wrong.why})"
        assert "\n" not in result.message


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_every_printed_verdict_has_lines_of_at_most_100_characters(ex, seed, monkeypatch, capsys):
    """What ``exercises.check`` prints for the bug, the fix and each stored wrong fix: "PASS/FAIL — <id>: ..."
    on a first line, indented continuation lines, and after a FAIL the pointer to ``exercises.hint`` on a
    last line of its own; every line <= 100 characters and nothing of the message lost in the wrapping."""
    monkeypatch.setattr(exercises, "_attempted", set())
    sources = [("the starter", ex.starter), ("the reference", ex.reference)]
    sources += [(f"wrong fix ({wrong.why})", wrong.source) for wrong in ex.wrong_fixes]
    for label, source in sources:
        result = exercises.check(ex.id, _compile(ex, source), seed=seed)
        printed = capsys.readouterr().out
        assert printed == str(result) + "\n", label
        lines = printed.rstrip("\n").split("\n")
        too_long = [line for line in lines if len(line) > 100]
        assert not too_long, f"{ex.id}, {label}: lines over 100 characters {too_long}"
        verdict = "PASS" if result.passed else "FAIL"
        assert lines[0].startswith(f"{verdict} — {ex.id}: "), (label, lines)
        assert all(line.startswith("    ") and line.strip() for line in lines[1:]), (label, lines)
        pointer = f'(stuck? exercises.hint("{ex.id}"))'
        assert (lines[-1] == "    " + pointer) is (not result.passed), (label, lines)
        whole = f"{verdict} — {result.message} {result.next_step}"
        assert " ".join(printed.split()) == " ".join(whole.split()), label
        if label == "the starter":
            assert not result.passed and len(lines) >= 3, "a FAIL symptom long enough to wrap, then the pointer"


# Alternatives that are right and are not stored with the exercise (kept here, where they document the checker's
# tolerance): k1 instead of k3; rsample instead of sample; detach() instead of no_grad().
EXTRA_CORRECT = {
    "05.kl_estimator": nb05.KL_STARTER.replace(
        "    return (logp_old.exp() * (logp_old - logp_new)).mean()\n", "    return (logp_old - logp_new).mean()\n"),
    "02.continuous_sampling": exercises.get_exercise("02.continuous_sampling").reference.replace(".sample()",
                                                                                                 ".rsample()"),
    "01.detach_critic": exercises.get_exercise("01.detach_critic").starter.replace(
        "    value = critic(obs)\n    return -(logp * value).mean()\n",
        "    delta = reward + gamma * critic(next_obs) * (1 - terminated) - critic(obs)\n"
        "    return -(delta.detach() * logp).mean()\n"),
}


@pytest.mark.parametrize("exercise_id", sorted(EXTRA_CORRECT))
def test_other_valid_fixes_pass(exercise_id):
    ex = exercises.get_exercise(exercise_id)
    assert EXTRA_CORRECT[exercise_id] != ex.starter
    for seed in SEEDS:
        result = core.check_function(ex, _compile(ex, EXTRA_CORRECT[exercise_id]), seed)
        assert result.passed, result.message


@pytest.mark.parametrize("exercise_id", ["02.continuous_sampling", "05.kl_estimator", "07.store_unclipped"])
def test_sampled_checks_do_not_fail_a_correct_answer_by_chance(exercise_id):
    """Statistical checks use 6-standard-error bands; across many seeds the reference never fails."""
    ex = exercises.get_exercise(exercise_id)
    func = _compile(ex, ex.reference)
    for seed in range(100, 115):
        result = core.check_function(ex, func, seed)
        assert result.passed, (seed, result.message)


# ------------------------------------------------------------------------------- the maths inside the checkers
def test_tanh_jacobian_checker_fails_the_starter_by_its_symptom_and_its_case_is_a_density():
    """The starter's FAIL is the symptom (the density of a does not integrate to 1), and the integral the probe
    computes is 1 for the reference, so the symptom is measured, not assumed."""
    ex = exercises.get_exercise("07.tanh_jacobian")
    for seed in SEEDS:
        message = core.check_function(ex, _compile(ex, ex.starter), seed).message
        assert "integrates to" in message and "not 1" in message, message
        grid = ex.make_cases(seed)[0]
        assert abs(ex.probe(ex.reference_function, grid)["integral"] - 1.0) < 2e-4
        assert abs(ex.probe(_compile(ex, ex.starter), grid)["integral"] - 1.0) > 0.02


def test_mean_categorical_kl_matches_a_hand_computed_value():
    p = torch.tensor([[0.0, 0.0, -6.0]])
    q = torch.tensor([[0.0, 0.0, 0.0]])
    probs = torch.softmax(p.double(), dim=-1)[0]
    by_hand = float(sum(pi * math.log(pi / (1 / 3)) for pi in probs))
    assert nb05.mean_categorical_kl(p, q).item() == pytest.approx(by_hand, rel=1e-12)
    assert nb05.mean_categorical_kl(p, p).item() == pytest.approx(0.0, abs=1e-12)


def test_kl_estimators_are_unbiased_on_the_checker_samples():
    """k1 and k3 computed by hand on the checker's own samples agree with the exact KL within 6 standard errors."""
    for case in nb05.KL_ESTIMATOR.make_cases(3):
        d = case.data
        log_r = d.logp_new.double() - d.logp_old.double()
        k1, k3 = float((-log_r).mean()), float((log_r.exp() - 1 - log_r).mean())
        tol = 6 * d.standard_error()
        assert abs(k1 - d.exact_kl) < tol and abs(k3 - d.exact_kl) < tol
        assert d.exact_kl > 0


def test_running_stats_merge_equals_batch_statistics():
    torch.manual_seed(0)
    data = torch.randn(50, 3) * 2 + 1
    rms = nb06.RunningStats(data[:10].mean(0), data[:10].var(0, correction=0), 10)
    rms.update(data[10:27])
    rms.update(data[27:])
    assert torch.allclose(rms.mean, data.mean(0), atol=1e-5)
    assert torch.allclose(rms.var, data.var(0, correction=0), atol=1e-4)
    assert rms.count == 50


def test_fake_env_follows_the_gymnasium_1x_api_and_is_strict():
    env = nb07.FakeEnv(time_limit=5)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    obs, info = env.reset(seed=3)
    assert isinstance(obs, np.ndarray) and obs.shape == (3,) and isinstance(info, dict)
    lengths, ends = [], []
    for _ in range(30):
        t, done = 0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(1)
            t += 1
            done = terminated or truncated
            assert not (terminated and truncated)
            assert obs[1] == t and isinstance(reward, float)
        lengths.append(t)
        ends.append("terminated" if terminated else "truncated")
        with pytest.raises(RuntimeError, match="after the episode ended"):
            env.step(0)
        env.reset()
    assert max(lengths) == 5 and min(lengths) >= 2
    assert {"terminated", "truncated"} == set(ends)
    assert all(e == "truncated" for n, e in zip(lengths, ends) if e == "truncated" and n == 5)
    # the same seed replays the same first observation; continuing does not
    a, _ = nb07.FakeEnv().reset(seed=11)
    b, _ = nb07.FakeEnv().reset(seed=11)
    assert np.array_equal(a, b)


def test_constant_reward_case_has_the_closed_form_value_as_a_td_fixed_point():
    """With reward 1 and V = 1/(1 - gamma), the correct TD target equals V at every step, truncated ones too."""
    d = nb07._constant_reward(0.9)
    ref = _compile(nb07.TRUNCATION_BOOTSTRAP, nb07.TD_REFERENCE)
    y = ref(d.reward, d.next_value, d.terminated, d.truncated, d.gamma)
    assert torch.allclose(y, torch.full_like(y, 10.0), atol=1e-5)


# ------------------------------------------------------------------------------------ errors become one line
def test_a_learner_exception_names_type_text_and_the_line_of_the_cell():
    source = "import torch\n\ndef f(x):\n    y = x * 2\n    return y.no_such_method()\n"
    func = exec_cell(source, "f", filename="<cell demo>")
    try:
        func(torch.ones(2))
    except AttributeError as err:
        message = describe_exception(err, func)
    assert message.startswith("AttributeError: ")
    assert "line 5 of your cell: `return y.no_such_method()`" in message
    assert "\n" not in message


def test_check_reports_an_exception_inside_the_learners_function(capsys):
    ex = exercises.get_exercise("04.ratio_direction")
    source = ex.starter.replace("    return torch.exp(logp_old - logp)\n", "    return undefined_name\n")
    result = exercises.check(ex.id, _compile(ex, source), seed=0)
    printed = capsys.readouterr().out
    assert not result.passed
    assert "NameError: name 'undefined_name' is not defined" in result.message
    assert "of your cell: `return undefined_name`" in result.message
    assert printed.strip() == str(result) and printed.startswith("FAIL")
    assert "Traceback" not in printed


def test_check_stops_an_endless_loop_at_the_time_limit():
    ex = exercises.get_exercise("02.terminal_bootstrap")
    source = ex.starter.replace("    return reward", "    while True:\n        pass\n    return reward")
    start = time.perf_counter()
    result = exercises.check(ex.id, _compile(ex, source), time_limit_s=0.5, quiet=True)
    assert time.perf_counter() - start < 5
    assert not result.passed and "longer than 0.5 s" in result.message


def test_check_reports_sys_exit_instead_of_leaving():
    ex = exercises.get_exercise("02.terminal_bootstrap")
    source = ex.starter.replace("    return reward", "    import sys\n    sys.exit(3)\n    return reward")
    result = exercises.check(ex.id, _compile(ex, source), quiet=True)
    assert not result.passed and "sys.exit(3)" in result.message


def test_check_does_not_disturb_the_learners_random_state():
    ex = exercises.get_exercise("02.continuous_sampling")
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    exercises.check(ex.id, _compile(ex, ex.reference), quiet=True)
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------------------------------- the notebook API
def test_check_prints_pass_and_returns_full_points(capsys):
    ex = exercises.get_exercise("01.detach_critic")
    result = exercises.check(ex.id, _compile(ex, ex.reference))
    assert isinstance(result, exercises.CheckResult)
    assert result.passed and result.points == result.max_points == 1.0
    assert capsys.readouterr().out.startswith("PASS — 01.detach_critic")


def test_check_refuses_a_non_function_politely(capsys):
    result = exercises.check("01.detach_critic", "actor_loss")
    assert not result.passed and "pass the function itself" in result.message
    with pytest.raises(ValueError, match="time_limit_s must be > 0"):
        exercises.check("01.detach_critic", print, time_limit_s=0)


def test_solution_only_after_an_attempt(monkeypatch, capsys):
    monkeypatch.setattr(exercises, "_attempted", set())
    ex = exercises.get_exercise("03.baseline")
    assert exercises.solution(ex.id) is None
    assert "Try it first" in capsys.readouterr().out
    exercises.check(ex.id, _compile(ex, ex.starter), quiet=True)
    assert exercises.solution(ex.id) is None  # shown once; nothing for a notebook to echo a second time
    text = capsys.readouterr().out
    assert ex.title in text and ex.reference in text and ex.explanation in text


def test_starter_is_the_exercise_cell_source():
    for ex in ALL:
        source = exercises.starter(ex.id)
        assert source.splitlines()[0] == f"# EXERCISE: {ex.id}"
        assert _compile(ex, source)  # compiles and defines the function


def test_list_exercises_by_number_or_name_and_unknown_values_are_rejected():
    assert exercises.list_exercises("06") == exercises.list_exercises("06_normalisation")
    assert all(ex.id.startswith("06.") for ex in exercises.list_exercises("06"))
    with pytest.raises(ValueError, match="notebook must be one of"):
        exercises.list_exercises("08")
    with pytest.raises(ValueError, match="exercise_id must be one of: 01.detach_critic"):
        exercises.get_exercise("01.nope")


def test_check_result_displays_as_one_short_line_in_ipython():
    from IPython.lib.pretty import pretty

    from course_lib.exercises import CheckResult

    assert pretty(CheckResult(False, "long hint " * 20, 0, 2)) == "<CheckResult FAIL: 0/2 points>"
    assert pretty(CheckResult(True, "ok", 2, 2)) == "<CheckResult PASS: 2/2 points>"
