"""The concept-check bank: the shipped questions (counts, maths behind the answers), marking, and the validator.

Malformed banks are written to temporary folders; each must be rejected with a message naming the file, the
question and the problem.
"""
from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pytest
import torch
import yaml
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

from course_lib import quiz_bank
from course_lib.quiz_bank import BankError, UnknownQuestionError, check_answer, load_bank, validate_bank_dir

NOTEBOOKS = ("01_actor_critic_basics", "02_beyond_q_learning", "03_baselines_and_advantage",
             "04_clipped_surrogate", "05_trust_regions", "06_normalisation", "07_ppo_end_to_end")
# The nine concept checks of the source notes, reworded, one id each.
SEED_CHECKS = ("01.critic_role", "02.continuous_actions", "03.baseline_purpose", "04.clip_purpose",
               "05.trust_region_benefit", "05.large_envs", "06.reward_scaling_why", "07.train_together",
               "07.why_clip_epochs")
REPO_QUIZZES = Path(__file__).resolve().parents[1] / "quizzes"


@pytest.fixture(autouse=True)
def _default_bank(monkeypatch):
    """Every test sees the repository's bank unless it sets COURSE_QUIZ_DIR itself."""
    monkeypatch.delenv(quiz_bank.ENV_VAR, raising=False)


# --------------------------------------------------------------------------------------------- shipped bank

def test_shipped_bank_validates_and_has_the_counts():
    bank = validate_bank_dir(REPO_QUIZZES)          # uncached, strict
    assert sorted(p.stem for p in REPO_QUIZZES.glob("*.yaml")) == list(NOTEBOOKS)
    assert len(bank) >= 28
    for nb in NOTEBOOKS:
        qs = [q for q in bank.values() if q.notebook == nb]
        assert len(qs) >= 4, nb
        assert all(q.number == nb[:2] for q in qs)
    assert set(SEED_CHECKS) <= set(bank)
    assert {q.kind for q in bank.values()} == {"single", "multiple", "numeric"}


def test_single_choice_answers_are_not_guessable_by_position():
    """No notebook puts every correct single-choice answer at the same letter, and every letter a-d is used."""
    bank = load_bank()
    letters = {nb[:2]: [] for nb in NOTEBOOKS}
    for q in bank.values():
        if q.kind == "single":
            letters[q.number].append(next(c.id for c in q.choices if c.correct))
    for nb, ids in letters.items():
        assert len(set(ids)) >= 2, (nb, ids)
    assert set(itertools.chain(*letters.values())) >= {"a", "b", "c", "d"}


def _texts(q):
    yield q.prompt
    for c in q.choices:
        yield c.text
        yield c.explain
    yield from (t for t in (q.explain_correct, q.explain_wrong) if t)


def test_maths_delimiters_and_braces_balance_in_every_text():
    """Each $...$ span closes and has balanced {} (an odd $ would garble the rest of the rendered text)."""
    for q in load_bank().values():
        for text in _texts(q):
            assert text.count("$") % 2 == 0, (q.id, text)
            for span in re.findall(r"\$([^$]+)\$", text):
                depth = 0
                for ch in span.replace(r"\{", "").replace(r"\}", ""):
                    depth += {"{": 1, "}": -1}.get(ch, 0)
                    assert depth >= 0, (q.id, span)
                assert depth == 0, (q.id, span)


def test_every_choice_marks_itself_and_shows_only_its_own_explanation():
    for q in load_bank().values():
        if q.kind != "single":
            continue
        for c in q.choices:
            res = check_answer(q.id, c.id)
            assert res.correct is c.correct
            assert res.points == (q.points if c.correct else 0.0) and res.max_points == q.points
            assert c.explain in res.feedback
            assert all(o.explain not in res.feedback for o in q.choices if o is not c)


def test_multiple_choice_needs_the_exact_set():
    for q in load_bank().values():
        if q.kind != "multiple":
            continue
        right = [c.id for c in q.choices if c.correct]
        assert check_answer(q.id, right).correct
        assert check_answer(q.id, [i.upper() for i in reversed(right)] + right[:1]).correct  # order, case, repeats
        for k in range(len(q.choice_ids) + 1):
            for pick in itertools.combinations(q.choice_ids, k):
                res = check_answer(q.id, list(pick))
                assert res.correct is (set(pick) == set(right))
                assert res.points == (q.points if res.correct else 0.0)   # no partial credit


def test_multiple_choice_feedback_hints_at_a_missing_choice_without_naming_it():
    q = load_bank()["04.zero_gradient"]
    right = [c.id for c in q.choices if c.correct]
    res = check_answer(q.id, right[:1])
    assert not res.correct and "at least one more choice is correct" in res.feedback
    missing = next(c for c in q.choices if c.id == right[1])
    assert missing.explain not in res.feedback
    assert "did not pick any choice" in check_answer(q.id, []).feedback


# The maths behind each numeric answer, computed independently of the bank.
def _gae(deltas, gamma, lam):
    adv, out = 0.0, []
    for d in reversed(deltas):
        # A_t = delta_t + gamma * lam * A_{t+1}
        adv = d + gamma * lam * adv
        out.append(adv)
    return out[::-1]


def _clipped(logp, logp_old, adv, clip_eps):
    ratio = torch.exp(torch.tensor(logp) - torch.tensor(logp_old))
    # min(r A, clip(r, 1 - eps, 1 + eps) A)
    return torch.minimum(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv).item()


def _kl(p, q):
    return torch.distributions.kl_divergence(torch.distributions.Categorical(probs=torch.tensor(p)),
                                             torch.distributions.Categorical(probs=torch.tensor(q))).item()


def _normalised_last(xs):
    x = torch.tensor(xs, dtype=torch.float64)
    return ((x - x.mean()) / x.std(unbiased=False))[-1].item()


NUMERIC = {  # id: (the right value, computed; wrong values the explanations warn about)
    "01.td_error_terminal": (1 + 0.9 * 5 * (1 - 1) - 2, [1 + 0.9 * 5 - 2]),
    "02.discretise_count": (len(list(itertools.product(range(11), repeat=4))), [4 * 11]),
    "03.gae_numeric": (_gae([1.0, 2.0], 0.9, 0.5)[0], [_gae([1.0, 2.0], 0.9, 1.0)[0], 3.0]),
    "04.clipped_value": (_clipped(-0.8, -1.0, 2.0, 0.2), [math.exp(0.2) * 2]),
    "05.kl_exact": (_kl([0.5, 0.5], [0.8, 0.2]), [_kl([0.8, 0.2], [0.5, 0.5]), _kl([0.5, 0.5], [0.8, 0.2]) / math.log(2)]),
    "06.advantage_normalisation_value": (_normalised_last([1, 2, 3, 6]), [3 / torch.tensor([1., 2, 3, 6]).std().item()]),
    "07.truncated_td_error": (1 + 0.99 * 50 * (1 - 0) - 49, [1 + 0.99 * 50 * (1 - 1) - 49]),
    # a = 2 tanh(u), u ~ N(0, 1), at u = 0: torch's own change of variables; wrong: no correction, correction added
    "07.squashed_log_density": (
        TransformedDistribution(Normal(0.0, 1.0), [TanhTransform(), AffineTransform(0.0, 2.0)]).log_prob(
            torch.tensor(0.0)).item(), [-0.5 * math.log(2 * math.pi), -0.5 * math.log(2 * math.pi) + math.log(2)]),
}


def test_every_numeric_question_is_covered_here():
    assert {q.id for q in load_bank().values() if q.kind == "numeric"} == set(NUMERIC)


@pytest.mark.parametrize("qid", sorted(NUMERIC))
def test_numeric_answer_matches_the_maths_and_rejects_the_classic_mistakes(qid):
    q = load_bank()[qid]
    value, mistakes = NUMERIC[qid]
    assert abs(q.answer - value) <= q.tolerance / 2, (q.answer, value)
    res = check_answer(qid, value)
    assert res.correct and res.points == q.points and q.explain_correct in res.feedback
    for wrong in mistakes:
        res = check_answer(qid, wrong)
        assert not res.correct and res.points == 0 and q.explain_wrong in res.feedback
    # tolerance is absolute and inclusive
    assert check_answer(qid, q.answer + 0.99 * q.tolerance).correct
    assert not check_answer(qid, q.answer - 1.01 * q.tolerance).correct


def test_zero_gradient_question_agrees_with_autograd():
    """04.zero_gradient: the choices marked correct are exactly those whose clipped-objective gradient is 0."""
    q = load_bank()["04.zero_gradient"]
    for c in q.choices:
        sign, r = re.search(r"\\hat A_t ([<>]) 0\$ and \$r_t = ([\d.]+)\$", c.text).groups()
        adv = 1.0 if sign == ">" else -1.0
        logp = torch.tensor(math.log(float(r)), requires_grad=True)   # logp_old = 0, so ratio = r
        ratio = logp.exp()
        torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv).backward()
        assert (logp.grad.item() == 0.0) is c.correct, c.text


def test_kl_estimator_question_agrees_with_sampling():
    """05.kl_estimators: the marked estimators are unbiased for KL(old || new); the others are not."""
    q = load_bank()["05.kl_estimators"]
    p_old, p_new = torch.tensor([0.6, 0.3, 0.1]), torch.tensor([0.3, 0.3, 0.4])
    exact = _kl(p_old.tolist(), p_new.tolist())
    a = torch.multinomial(p_old, 400_000, replacement=True, generator=torch.Generator().manual_seed(0))
    log_rho = p_new.log()[a] - p_old.log()[a]
    estimators = {  # choice id -> per-sample terms, as the choice texts describe them
        "a": -log_rho,                                  # k1
        "b": (log_rho.exp() - 1) - log_rho,             # k3
        "c": p_old[a] * (p_old.log()[a] - p_new.log()[a]),
        "d": log_rho,
    }
    for c in q.choices:
        terms = estimators[c.id]
        err = abs(terms.mean().item() - exact)
        se = terms.std().item() / math.sqrt(len(terms))
        assert (err < 5 * se) is c.correct, (c.id, err, se)
    assert (estimators["b"] >= 0).all() and (estimators["a"] < 0).any()   # the explanations' claims


def test_gae_question_endpoints():
    """03.gae_lambda: lambda = 0 gives delta_t and lambda = 1 gives G_t - V(s_t) (one episode, V after it = 0)."""
    g = torch.Generator().manual_seed(1)
    r, v = torch.randn(6, generator=g).tolist(), torch.randn(7, generator=g).tolist()
    v[-1] = 0.0
    gamma = 0.9
    deltas = [r[t] + gamma * v[t + 1] - v[t] for t in range(6)]
    assert _gae(deltas, gamma, 0.0) == pytest.approx(deltas)
    returns = [sum(gamma ** k * r[t + k] for k in range(6 - t)) for t in range(6)]
    assert _gae(deltas, gamma, 1.0) == pytest.approx([returns[t] - v[t] for t in range(6)])


# --------------------------------------------------------------------------------------------- marking API

def test_unknown_id_lists_the_notebook_ids_close_matches_first():
    with pytest.raises(UnknownQuestionError) as info:
        check_answer("01.critic_rol", "a")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    msg = str(info.value)
    listed = msg.split("valid ids in notebook 01: ")[1].split(", ")
    assert listed[0] == "01.critic_role"
    assert sorted(listed) == sorted(i for i in load_bank() if i.startswith("01."))
    # an unknown notebook number: every id, still close matches first
    msg = str(pytest.raises(KeyError, check_answer, "09.critic_role", "a").value)
    assert "the bank" in msg and msg.split(": ")[-1].split(", ")[0] == "01.critic_role"


@pytest.mark.parametrize("answer, pattern", [
    ("e", r"'e' is not a choice of question '01.critic_role'; valid choice ids: a, b, c, d"),
    (["a"], r"must be one choice id \(a string\), one of a, b, c, d"),
    (2, r"must be one choice id"),
])
def test_invalid_single_answers_list_the_valid_choices(answer, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_answer("01.critic_role", answer)


def test_invalid_multiple_and_numeric_answers():
    with pytest.raises(ValueError, match=r"'z' is not a choice .*valid choice ids: a, b, c, d, e"):
        check_answer("04.zero_gradient", ["a", "z"])
    with pytest.raises(ValueError, match="must be a list of choice ids"):
        check_answer("04.zero_gradient", 1)
    assert check_answer("04.zero_gradient", "a").correct is False          # a lone id = a one-element list
    for bad in ("1.5", True, float("nan"), None):
        with pytest.raises(ValueError, match=r"'07.truncated_td_error' must be a finite number"):
            check_answer("07.truncated_td_error", bad)
    assert check_answer("07.truncated_td_error", 3 // 2 + 0.5).correct     # ints and floats both fine


def test_load_bank_cache_refreshes_on_edit_and_honours_the_env_var(tmp_path, monkeypatch):
    _write(tmp_path, "01_demo", [_single("01.one")])
    first = load_bank(tmp_path)
    assert list(first) == ["01.one"]
    first.clear()                                                          # a copy: the cache is intact
    assert list(load_bank(tmp_path)) == ["01.one"]
    _write(tmp_path, "01_demo", [_single("01.one"), _single("01.two")])   # edit
    assert list(load_bank(tmp_path)) == ["01.one", "01.two"]
    monkeypatch.setenv(quiz_bank.ENV_VAR, str(tmp_path))
    assert quiz_bank.default_quiz_dir() == tmp_path
    assert list(load_bank()) == ["01.one", "01.two"]
    assert check_answer("01.two", "a").correct


def test_default_directory_is_the_repository_quizzes_folder():
    assert quiz_bank.default_quiz_dir() == REPO_QUIZZES


# --------------------------------------------------------------------------------------------- the validator

def _single(qid, **over):
    q = {"id": qid, "kind": "single", "points": 1, "prompt": "Which one?",
         "choices": [{"id": "a", "text": "this", "correct": True, "explain": "because"},
                     {"id": "b", "text": "that", "correct": False, "explain": "because not"}]}
    q.update(over)
    return q


def _numeric(qid, **over):
    q = {"id": qid, "kind": "numeric", "points": 2, "prompt": "How much?", "answer": 0.5, "tolerance": 0.01,
         "explain_correct": "yes", "explain_wrong": "no"}
    q.update(over)
    return q


def _write(directory: Path, stem: str, questions) -> Path:
    path = directory / f"{stem}.yaml"
    path.write_text(yaml.safe_dump({"questions": questions}, sort_keys=False), encoding="utf-8")
    return path


def _drop(d, key):
    d = dict(d)
    del d[key]
    return d


def _choice_without_explain():
    q = _single("01.x")
    q["choices"] = [dict(q["choices"][0]), _drop(q["choices"][1], "explain")]
    return q


MALFORMED = [  # (questions of 01_demo.yaml, expected fragment of the message after "01_demo.yaml: ")
    ([_single("01.x"), _single("01.x")], "question '01.x': duplicate id (already used in 01_demo.yaml)"),
    ([_single("01.x", choices=[{**c, "correct": False} for c in _single("0")["choices"]])],
     "question '01.x': a single-choice question needs exactly one correct choice; found 0"),
    ([_single("01.x", choices=[{**c, "correct": True} for c in _single("0")["choices"]])],
     "question '01.x': a single-choice question needs exactly one correct choice; found 2"),
    ([_single("01.x", kind="multiple", choices=[{**c, "correct": False} for c in _single("0")["choices"]])],
     "question '01.x': a multiple-choice question needs at least one correct choice"),
    ([_choice_without_explain()], "question '01.x': choice 'b' has no explanation"),
    ([_single("01.x", kind="truefalse")], "question '01.x': unknown kind 'truefalse'; allowed: single, multiple, numeric"),
    ([_drop(_numeric("01.x"), "tolerance")], "question '01.x': a numeric question needs 'tolerance'"),
    ([_numeric("01.x", tolerance=0)], "question '01.x': tolerance must be a positive number; got 0"),
    ([_drop(_single("01.x"), "prompt")], "question '01.x': missing prompt"),
    ([_single("01.x", prompt="  ")], "question '01.x': missing prompt"),
    ([_drop(_single("01.x"), "points")], "question '01.x': missing or invalid points"),
    ([_single("01.x", points=-1)], "question '01.x': missing or invalid points"),
    ([_single("02.x")], "question '02.x': id starts with '02' but the file belongs to notebook 01"),
    ([_single("1.x")], "question '1.x': id must look like '01.my_slug'"),
    ([_drop(_single("01.x"), "id")], "question #1: missing 'id'"),
    ([_single("01.x", explanation="typo")], "question '01.x': unknown key(s) ['explanation']"),
    ([_numeric("01.x", choices=[])], "question '01.x': unknown key(s) ['choices'] for a numeric question"),
    ([_single("01.x", choices=[{**c, "id": "b"} for c in _single("0")["choices"]])],
     "question '01.x': choice #1 must have id 'a'"),
    ([_single("01.x", choices=_single("0")["choices"][:1])], "question '01.x': a single question needs 'choices'"),
    ([_single("01.x", choices=[{**_single("0")["choices"][0], "correct": "yes"}, _single("0")["choices"][1]])],
     "question '01.x': choice 'a' needs 'correct: true' or 'correct: false'"),
    ([_numeric("01.x", answer="half")], "question '01.x': a numeric question needs 'answer'"),
    ([_numeric("01.x", explain_wrong="")], "question '01.x': a numeric question needs 'explain_wrong'"),
    ([_numeric("01.x", nudge=" ")], "question '01.x': 'nudge' must be a non-empty text"),
    ([_single("01.x", nudge="look again")], "question '01.x': unknown key(s) ['nudge'] for a single question"),
]


def test_numeric_nudge_is_optional(tmp_path):
    _write(tmp_path, "01_demo", [_numeric("01.x", nudge=" Check the sign. "), _numeric("01.y")])
    bank = load_bank(tmp_path)
    assert bank["01.x"].nudge == "Check the sign." and bank["01.y"].nudge is None


@pytest.mark.parametrize("questions, fragment", MALFORMED, ids=[m[1][:48] for m in MALFORMED])
def test_malformed_question_is_rejected_with_file_question_and_problem(tmp_path, questions, fragment):
    _write(tmp_path, "01_demo", questions)
    with pytest.raises(BankError) as info:
        load_bank(tmp_path)
    assert str(info.value).startswith("01_demo.yaml: "), str(info.value)
    assert fragment in str(info.value), str(info.value)


def test_duplicate_id_across_files_names_both_files(tmp_path):
    _write(tmp_path, "01_demo", [_single("01.x")])
    _write(tmp_path, "01_again", [_single("01.x")])   # sorted: 01_again.yaml is read first
    msg = str(pytest.raises(BankError, validate_bank_dir, tmp_path).value)
    assert msg == "01_demo.yaml: question '01.x': duplicate id (already used in 01_again.yaml)"


@pytest.mark.parametrize("stem, text, fragment", [
    ("01_demo", "questions: [unclosed", "01_demo.yaml: not valid YAML"),
    ("01_demo", "- id: 01.x\n", "01_demo.yaml: the file must be a mapping with one key 'questions'"),
    ("01_demo", "questions: []\nextra: 1\n", "01_demo.yaml: the file must be a mapping with one key 'questions'"),
    ("demo", "questions: []\n", "demo.yaml: file name must be '<two-digit notebook number>_<name>.yaml'"),
])
def test_malformed_file_is_rejected(tmp_path, stem, text, fragment):
    (tmp_path / f"{stem}.yaml").write_text(text, encoding="utf-8")
    assert fragment in str(pytest.raises(BankError, load_bank, tmp_path).value)


def test_empty_directory_is_rejected(tmp_path):
    with pytest.raises(BankError, match="no quiz files"):
        load_bank(tmp_path)


def test_bank_error_is_a_value_error():
    assert issubclass(BankError, ValueError)


@pytest.mark.parametrize("qid", sorted(NUMERIC))
def test_numeric_question_has_its_own_nudge_that_does_not_give_the_answer(qid):
    """A first wrong answer gets the question's own nudge (what to re-check), never the answer: no number in
    the nudge is within the tolerance of the answer (nor of a classic mistake's value), and the nudge does not
    repeat the worked answer."""
    q = load_bank()[qid]
    value, mistakes = NUMERIC[qid]
    assert q.nudge and len(q.nudge) >= 60, f"{qid}: no specific nudge"
    assert q.nudge not in (q.explain_correct, q.explain_wrong)
    numbers = [float(x) for x in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?", q.nudge.replace(r"\,", ""))]
    for x in numbers:
        assert abs(x - q.answer) > q.tolerance, f"{qid}: the nudge states the answer ({x})"
        assert all(abs(x - m) > q.tolerance for m in mistakes), f"{qid}: the nudge states a wrong value ({x})"
    assert "^" not in q.nudge and r"\times" not in q.nudge, f"{qid}: the nudge writes out the arithmetic"
    # the nudge reaches the learner on a first wrong answer
    from course_lib import quiz

    wrong = q.answer + 10 * q.tolerance + 1
    feedback = quiz.feedback_for(q, wrong, check_answer(qid, wrong), {"wrong": 1})
    assert " ".join(q.nudge.split()) in " ".join(feedback.split())
