"""Learning tests for the value-based algorithms (slow: they train agents; CI runs them too).

- Tabular Q-learning on CliffWalking-v1 finds the optimal path (return -13) within 500 episodes, seeds 1, 2, 3.
- DQN on CartPole-v1: the greedy policy after 100k env steps clearly learns: it averages >= 100 over 20 evaluation
  episodes (a random policy averages about 22) on at least 2 of the seeds 1, 2, 3.

  Not yet met: the course's target (issue 3) is >= 475 on 2 of 3 seeds. Measured with the settings below:
  seed 1: 474.5, seed 2: 125.5, seed 3: 164.7. DQN on CartPole is notoriously unstable (the greedy policy
  oscillates between good and poor as the Q-function is refitted); tuning continues, and this test will be
  raised to 475 when a setting reaches it. The settings are pinned here so changing the defaults cannot
  silently change what this test measures.
"""
from __future__ import annotations

import time

import gymnasium as gym
import pytest

from course_lib.algos import dqn, qlearning
from course_lib.training import evaluate

pytestmark = pytest.mark.slow

DQN_TOTAL_STEPS = 100_000
DQN_LEARNS = 100.0  # evaluation mean that counts as "learned" (random policy: about 22)
DQN_SETTINGS = dict(
    learning_rate=2.5e-4, buffer_size=100_000, batch_size=128, gamma=0.99, learning_starts=1_000, train_freq=16,
    gradient_steps=4, target_update_interval=2_000, epsilon_start=1.0, epsilon_end=0.05,
    epsilon_decay_steps=10_000, loss="huber", double_dqn=False, hidden=(256, 256), init="default",
    max_grad_norm=10.0,
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tabular_q_learning_finds_the_optimal_cliff_path(seed):
    agent, history = qlearning.train(qlearning.QLearningConfig(episodes=500), "CliffWalking-v1", seed=seed)
    path = qlearning.greedy_path(agent, gym.make("CliffWalking-v1"))
    assert path.terminated and path.total_return == -13.0, f"greedy path {path.states}"
    assert len(history.episodes) == 500


@pytest.mark.timeout(1800)
def test_dqn_learns_cartpole_on_two_of_three_seeds():
    config = dqn.DQNConfig(**DQN_SETTINGS)
    report = []
    passed = 0
    for seed in (1, 2, 3):
        start = time.perf_counter()
        agent, history = dqn.train(config, seed=seed, total_steps=DQN_TOTAL_STEPS, progress=False)
        result = evaluate(agent, "CartPole-v1", n_episodes=20, seed=10_000)
        report.append(f"seed {seed}: eval mean {result.mean:.1f} (min {result.returns.min():.0f}), "
                      f"train {time.perf_counter() - start:.0f} s")
        passed += result.mean >= DQN_LEARNS
        if passed == 2:
            break
    print("\n".join(report))
    assert passed >= 2, "; ".join(report)
