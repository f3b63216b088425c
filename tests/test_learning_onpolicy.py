"""Learning tests: the on-policy algorithms solve their tasks within a step budget, on every seed (slow).

"steps-to-475" = env steps at which the mean return of the last 20 finished training episodes first reaches 475
(``course_lib.record.steps_to_threshold``). Each (algorithm, seed) trains once per session; the tests read
its History and evaluate the trained agent. Run with ``pytest -m slow tests/test_learning_onpolicy.py``.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

from course_lib.algos import a2c, ppo, trpo
from course_lib.evaluation import evaluate
from course_lib.record import steps_to_threshold

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SEEDS = (1, 2, 3)


@functools.cache
def _ppo_cartpole(seed: int):
    return ppo.train(ppo.PPOConfig(), seed=seed, total_steps=100_000, progress=False)


@functools.cache
def _ppo_pendulum(seed: int):
    agent, history = ppo.train(ppo.pendulum_config(), seed=seed, total_steps=100_000, progress=False)
    return agent, history, evaluate(agent, "Pendulum-v1", n_episodes=10, deterministic=True, seed=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_ppo_cartpole_reaches_475_within_60k_steps(seed):
    _, history = _ppo_cartpole(seed)
    steps = steps_to_threshold(history, 475.0, window=20)
    assert steps is not None and steps <= 60_000, f"seed {seed}: steps-to-475 = {steps}"


@pytest.mark.parametrize("seed", SEEDS)
def test_ppo_cartpole_deterministic_evaluation_after_100k_steps(seed):
    agent, _ = _ppo_cartpole(seed)
    result = evaluate(agent, "CartPole-v1", n_episodes=20, deterministic=True, seed=0)
    assert result.mean >= 475.0, f"seed {seed}: evaluation returns {result.returns}"


@pytest.mark.parametrize("seed", SEEDS)
def test_ppo_pendulum_evaluation_after_100k_steps(seed):
    _, _, result = _ppo_pendulum(seed)
    assert result.mean >= -300.0, f"seed {seed}: evaluation returns {np.round(result.returns, 1)}"


def test_ppo_pendulum_mean_evaluation_over_seeds():
    means = [_ppo_pendulum(seed)[2].mean for seed in SEEDS]
    assert np.mean(means) >= -211.0, f"per-seed evaluation means {np.round(means, 1)}"


@pytest.mark.parametrize("seed", SEEDS)
def test_a2c_cartpole_reaches_475_within_150k_steps(seed):
    _, history = a2c.train(a2c.A2CConfig(), seed=seed, total_steps=150_000, progress=False)
    steps = steps_to_threshold(history, 475.0, window=20)
    assert steps is not None and steps <= 150_000, f"seed {seed}: steps-to-475 = {steps}"


@pytest.mark.parametrize("seed", SEEDS)
def test_trpo_cartpole_reaches_475_within_150k_steps(seed):
    _, history = trpo.train(trpo.TRPOConfig(), seed=seed, total_steps=150_000, progress=False)
    steps = steps_to_threshold(history, 475.0, window=20)
    assert steps is not None and steps <= 150_000, f"seed {seed}: steps-to-475 = {steps}"
