"""No silent bad input: each mistake below raises a one-line ValueError naming the argument, the value and what
is expected (instead of a foreign error deep inside torch/gymnasium, or a silently wrong number)."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from course_lib import quiz
from course_lib.advantages import gae, td_errors
from course_lib.agent import ActorCriticAgent
from course_lib.algos import a2c, dqn, ppo, reinforce, trpo
from course_lib.envs import make_env, make_vec_env
from course_lib.evaluation import evaluate
from course_lib.losses import policy_gradient_loss, ppo_clip_loss, value_loss
from course_lib.normalisation import ObsNormaliser, RunningMeanStd
from course_lib.quiz_bank import check_answer


def raises_one_line(pattern: str):
    """pytest.raises(ValueError) whose message matches ``pattern`` and fits on one line."""

    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(ValueError, match=pattern)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            out = self.ctx.__exit__(*exc)
            assert "\n" not in str(self.info.value), str(self.info.value)
            return out

    return _Check()


T4 = torch.ones(4)


# ---- losses: numpy arrays and lists have no gradient ---------------------------------------------------------
@pytest.mark.parametrize("bad", [np.ones(4), [1.0, 1.0, 1.0, 1.0]], ids=["numpy", "list"])
def test_a_loss_refuses_numpy_and_lists(bad):
    with raises_one_line(r"^adv must be a torch\.Tensor; got (ndarray|list) \(convert with torch\.as_tensor\)$"):
        policy_gradient_loss(T4.clone().requires_grad_(), bad)
    with raises_one_line(r"^logp_old must be a torch\.Tensor; got"):
        ppo_clip_loss(T4.clone().requires_grad_(), bad, T4, 0.2)
    with raises_one_line(r"^values must be a torch\.Tensor; got"):
        value_loss(bad, T4)


# ---- NaN / inf in rewards, values, advantages ----------------------------------------------------------------
@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_inputs_are_named_not_propagated(bad_value):
    bad = torch.tensor([1.0, bad_value, 1.0, 1.0])
    z = torch.zeros(4)
    msg = r"must be finite; got 1 of 4 entries non-finite \(first: (nan|inf)\)$"
    with raises_one_line("^rewards " + msg):
        gae(bad, z, z, z, z, 0.9, 0.9)
    with raises_one_line("^values " + msg):
        gae(T4, bad, z, z, z, 0.9, 0.9)
    with raises_one_line("^next_values " + msg):
        td_errors(T4, z, bad, z, 0.9)
    with raises_one_line("^adv " + msg):
        policy_gradient_loss(T4.clone().requires_grad_(), bad)
    with raises_one_line("^adv " + msg):
        ppo_clip_loss(T4.clone().requires_grad_(), T4, bad, 0.2)
    with raises_one_line("^returns " + msg):
        value_loss(T4.clone().requires_grad_(), bad)


# ---- done flags that are not 0/1 ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["terminated", "truncated"])
def test_flags_must_be_zero_or_one(name):
    z = torch.zeros(3)
    flags = {"terminated": z, "truncated": z, name: torch.tensor([0.0, 2.0, 0.0])}
    with raises_one_line(rf"^{name} must hold only 0/1 flags \(or bools\); got the value 2\.0$"):
        gae(torch.ones(3), z, z, flags["terminated"], flags["truncated"], 0.9, 0.9)
    if name == "terminated":
        with raises_one_line(r"^terminated must hold only 0/1 flags"):
            td_errors(torch.ones(3), z, z, flags["terminated"], 0.9)
    # bools are fine
    gae(torch.ones(3), z, z, torch.tensor([False, True, False]), z, 0.9, 0.9)


# ---- seeds ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed, shown", [(-1, "-1"), (2**40, str(2**40)), (1.5, "1.5 of type float"),
                                         ("0", "'0' of type str"), (True, "True of type bool")])
def test_seed_must_be_an_integer_in_range(seed, shown):
    pattern = rf"^seed must be an integer in \[0, 4294967295\]; got {re.escape(shown)}$"
    for train in (ppo.train, a2c.train, reinforce.train, trpo.train, dqn.train):
        with raises_one_line(pattern):
            train(None, seed=seed, total_steps=8, progress=False)
    with raises_one_line(pattern):
        make_vec_env("CartPole-v1", 2, seed)
    with raises_one_line(pattern):
        make_env("CartPole-v1", seed)
    with raises_one_line(pattern):
        evaluate(None, "CartPole-v1", seed=seed)


# ---- env ids --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", [3, None, ""])
def test_env_id_must_be_a_string(env_id):
    pattern = r"^env_id must be a registered Gymnasium id \(a non-empty string such as 'CartPole-v1'\); got "
    with raises_one_line(pattern):
        ppo.PPOConfig(env_id=env_id)
    with raises_one_line(pattern):
        dqn.DQNConfig(env_id=env_id)
    with raises_one_line(pattern):
        make_env(env_id)
    with raises_one_line(pattern):
        make_vec_env(env_id, 2, 0)
    with raises_one_line(pattern):
        evaluate(None, env_id)


# ---- switches -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, name", [
    (ppo.PPOConfig, "norm_adv"), (ppo.PPOConfig, "anneal_lr"), (ppo.PPOConfig, "scale_reward"),
    (ppo.PPOConfig, "norm_obs"), (ppo.PPOConfig, "shared_network"), (ppo.PPOConfig, "ortho_init"),
    (ppo.PPOConfig, "use_gae"), (ppo.PPOConfig, "shuffle"), (ppo.PPOConfig, "anneal_clip"),
    (ppo.PPOConfig, "clip_vloss"), (a2c.A2CConfig, "use_gae"), (reinforce.ReinforceConfig, "baseline"),
    (dqn.DQNConfig, "double_dqn"),
])
@pytest.mark.parametrize("value, shown", [("no", "'no' of type str"), (1, "1 of type int")])
def test_switches_must_be_bools(make, name, value, shown):
    with raises_one_line(rf"^{name} must be True or False; got {shown}$"):
        make(**{name: value})
    make(**{name: np.bool_(False)})  # numpy bools are bools


# ---- minibatches and autoreset steps --------------------------------------------------------------------------
def test_more_minibatches_than_valid_samples_is_reported_clearly():
    # 2 envs x 2 steps = 4 samples, 4 minibatches: fine at config time, but CartPole's autoreset steps leave fewer
    config = ppo.PPOConfig(num_envs=2, num_steps=2, num_minibatches=4)
    with raises_one_line(r"^num_minibatches must be <= the \d valid samples of this batch \(autoreset steps are "
                         r"left out\); got num_minibatches=4$"):
        ppo.train(config, seed=0, total_steps=400, progress=False)


# ---- normaliser sizes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, pattern", [
    (0, r"^shape\[0\] must be an integer >= 1; got 0$"),
    (-3, r"^shape\[0\] must be an integer >= 1; got -3$"),
    ((4, -1), r"^shape\[1\] must be an integer >= 1; got -1$"),
    (2.5, r"^shape must be an integer >= 1 or a tuple of them; got 2\.5 of type float$"),
])
def test_normaliser_sizes_must_be_positive(shape, pattern):
    with raises_one_line(pattern):
        ObsNormaliser(shape)
    with raises_one_line(pattern):
        RunningMeanStd(shape)


# ---- quiz -----------------------------------------------------------------------------------------------------
def test_quiz_score_of_a_notebook_without_questions():
    with raises_one_line(r"^notebook must be the number of a notebook with questions, one of \['01', .*'07'\]; "
                         r"got '99'$"):
        quiz.score("99")


def test_quiz_check_with_a_huge_integer(capsys):
    huge = 10**400
    with raises_one_line(r"^answer for numeric question '01\.td_error_terminal' must be a finite number; got "
                         r"1000000000000000000000000000000000000000$"):
        check_answer("01.td_error_terminal", huge)
    quiz.check("01.td_error_terminal", huge)
    out = capsys.readouterr().out
    # one short message (wrapped to lines of <= 100 characters by quiz.check), not a traceback
    assert out.startswith("Cannot check this answer: answer for numeric question")
    assert all(len(line) <= 100 for line in out.splitlines()) and "Traceback" not in out
    assert "must be a finite number; got 1000000000000000000000000000000000000000" in " ".join(out.split())


# ---- evaluation and saved agents ------------------------------------------------------------------------------
def test_evaluate_needs_a_whole_number_of_episodes():
    with raises_one_line(r"^n_episodes must be an integer >= 1; got 2\.5 of type float$"):
        evaluate(None, "CartPole-v1", n_episodes=2.5)


def test_loading_a_file_that_is_not_a_saved_agent(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an agent")
    with raises_one_line(r"^path must be a file written by ActorCriticAgent\.save; '.*notes\.txt' could not be "
                         r"read as one \(\w+\)$"):
        ActorCriticAgent.load(text)
    other = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with raises_one_line(r"^path must be a file written by ActorCriticAgent\.save; '.*weights\.pt' holds a dict "
                         r"without the keys 'spec', 'state_dict', 'obs_normaliser'$"):
        ActorCriticAgent.load(other)
