"""Learning tests for the value-based algorithms (slow: they train agents; CI runs them too).

- Tabular Q-learning on CliffWalking-v1 finds the optimal path (return -13) within 500 episodes, seeds 1, 2, 3.
- DQN on CartPole-v1: the greedy policy after at most 100k env steps averages >= 475 over 20 evaluation episodes
  on at least 2 of the seeds 1, 2, 3 (the test stops as soon as two have passed).
"""
from __future__ import annotations

import time

import gymnasium as gym
import pytest

from course_lib.algos import dqn, qlearning
from course_lib.training import evaluate

pytestmark = pytest.mark.slow

DQN_TOTAL_STEPS = 100_000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tabular_q_learning_finds_the_optimal_cliff_path(seed):
    agent, history = qlearning.train(qlearning.QLearningConfig(episodes=500), "CliffWalking-v1", seed=seed)
    path = qlearning.greedy_path(agent, gym.make("CliffWalking-v1"))
    assert path.terminated and path.total_return == -13.0, f"greedy path {path.states}"
    assert len(history.episodes) == 500


@pytest.mark.timeout(1800)
def test_dqn_solves_cartpole_on_two_of_three_seeds():
    config = dqn.DQNConfig()
    report = []
    passed = 0
    for seed in (1, 2, 3):
        start = time.perf_counter()
        agent, history = dqn.train(config, seed=seed, total_steps=DQN_TOTAL_STEPS, progress=False)
        result = evaluate(agent, "CartPole-v1", n_episodes=20, seed=10_000)
        report.append(f"seed {seed}: eval mean {result.mean:.1f} (min {result.returns.min():.0f}), "
                      f"train {time.perf_counter() - start:.0f} s")
        passed += result.mean >= 475.0
        if passed == 2:
            break
    print("\n".join(report))
    assert passed >= 2, "; ".join(report)
