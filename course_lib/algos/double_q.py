"""Maximisation bias and double Q-learning (van Hasselt 2010; Sutton & Barto 2nd ed., sec. 6.7).

Q-learning's target uses ``max_a' Q(s', a')``. When the entries of ``Q(s', .)`` are noisy estimates, the max of
the estimates is, on average, *larger* than the max of the true values (``E[max_i X_i] >= max_i E[X_i]``), so
the target is biased upwards: the **maximisation bias**. Double Q-learning keeps two tables and lets one pick
the action while the other rates it:

    update table A (chosen by a fair coin each step, otherwise the same with A and B swapped):
    a*     = argmax_a' Q_A(s', a')
    target = r + gamma * (1 - terminated) * Q_B(s', a*)
    Q_A(s, a) <- Q_A(s, a) + alpha * [ target - Q_A(s, a) ]

Because ``Q_B`` is learned from other samples than ``Q_A``, its value at ``Q_A``'s pick is not inflated by the
pick. The agent acts epsilon-greedily on ``Q_A + Q_B``. Double DQN (van Hasselt, Guez & Silver 2016) carries the
same split to networks: the online net picks, the target net rates (``course_lib.algos.dqn.next_state_values``).

This module has the two estimators on their own (``single_estimate``, ``double_estimate``,
``expected_max_gaussian``), one tabular double-Q update (``double_q_update``), and Sutton & Barto's example 6.7
run for many independent agents at once with numpy (``run_maximisation_bias``):

    state A --right--> terminal, reward 0
    state A --left---> state B, reward 0
    state B --any of n_b_actions--> terminal, reward ~ N(reward_mean, reward_std^2)   (mean -0.1 < 0)

Going left is worse on average (-0.1 < 0), so the best epsilon-greedy agent takes left only when it explores:
``epsilon / 2`` of the time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from course_lib.advantages import td_target
from course_lib.validation import check_all_finite, check_positive, check_positive_int, check_unit_interval

RIGHT, LEFT = 0, 1  # the two actions in state A


# --------------------------------------------------------------------------------------------- the estimators
def single_estimate(means: np.ndarray) -> np.ndarray:
    """The estimate Q-learning's target uses: the max of the estimated values. ``(..., K) -> (...)``."""
    return np.max(means, axis=-1)


def double_estimate(means_a: np.ndarray, means_b: np.ndarray) -> np.ndarray:
    """Double estimate: ``means_b`` at the argmax of ``means_a`` (independent samples). ``(..., K) -> (...)``."""
    means_a, means_b = np.asarray(means_a), np.asarray(means_b)
    if means_a.shape != means_b.shape:
        raise ValueError(f"means_a and means_b must have the same shape; got {means_a.shape} and {means_b.shape}")
    # a* = argmax_i mean_A[i];  estimate = mean_B[a*]
    a_star = np.argmax(means_a, axis=-1)[..., None]
    return np.take_along_axis(means_b, a_star, axis=-1)[..., 0]


def expected_max_gaussian(mu: float, sigma: float, n: int, grid: int = 20_001) -> float:
    """``E[max of n independent N(mu, sigma^2)]``, by numerical integration (accurate to about 1e-9).

    The max ``M`` has density ``n phi(z) Phi(z)^(n-1)`` in standard units ``z = (M - mu) / sigma``, so
    ``E[M] = mu + sigma * integral z n phi(z) Phi(z)^(n-1) dz``. For ``n = 2`` this is ``mu + sigma / sqrt(pi)``.
    """
    n = check_positive_int("n", n)
    if not sigma >= 0.0:
        raise ValueError(f"sigma must be >= 0; got {sigma!r}")
    z = np.linspace(-12.0, 12.0, grid)
    phi = np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    # E[Z_max] = int z * n phi(z) Phi(z)^(n-1) dz   (trapezoid rule)
    integrand = z * n * phi * cdf ** (n - 1)
    dz = z[1] - z[0]
    e_zmax = float(dz * (integrand.sum() - 0.5 * (integrand[0] + integrand[-1])))
    return float(mu + sigma * e_zmax)


# --------------------------------------------------------------------------------------------- one update
def double_q_update(q_a: np.ndarray, q_b: np.ndarray, s: int, a: int, r: float, s_next: int, terminated: bool,
                    alpha: float, gamma: float) -> float:
    """One tabular double Q-learning update of ``q_a`` in place (``q_b`` is only read); returns the TD error.

    To update the other table, call it with the two tables swapped (a fair coin decides, each step).

    Args:
        q_a: the table being updated, shape ``(n_states, n_actions)``; it picks the next action.
        q_b: the other table, same shape; it rates ``q_a``'s pick.
        s, a, r, s_next: the transition.
        terminated: True only if the task ended at ``s_next``.
        alpha: step size in (0, 1]; gamma: discount in [0, 1].
    """
    # a* = argmax_a' Q_A(s', a')
    a_star = int(np.argmax(q_a[s_next]))
    # y = r + gamma * (1 - terminated) * Q_B(s', a*)
    target = td_target(r, gamma, q_b[s_next, a_star], float(terminated))
    delta = float(target - q_a[s, a])
    # Q_A(s, a) <- Q_A(s, a) + alpha * delta
    q_a[s, a] += alpha * delta
    return delta


# --------------------------------------------------------------------------------------------- example 6.7
@dataclass
class MaxBiasConfig:
    """Sutton & Barto's example 6.7 and the learner's settings (the book's: epsilon = alpha = 0.1, gamma = 1)."""

    n_b_actions: int = 10
    """Actions in state B, each ending the episode with a N(reward_mean, reward_std^2) reward."""
    reward_mean: float = -0.1
    """Mean reward of every action in B (below 0, so going left from A is the worse choice)."""
    reward_std: float = 1.0
    """Standard deviation of the rewards in B."""
    alpha: float = 0.1
    """Step size in (0, 1]."""
    epsilon: float = 0.1
    """Exploration rate of the epsilon-greedy behaviour, in [0, 1]."""
    gamma: float = 1.0
    """Discount factor in [0, 1]."""
    episodes: int = 300
    """Episodes per run (>= 1)."""

    def __post_init__(self) -> None:
        check_positive_int("n_b_actions", self.n_b_actions)
        check_positive("reward_std", self.reward_std)
        check_positive("alpha", self.alpha)
        check_unit_interval("alpha", self.alpha)
        check_unit_interval("epsilon", self.epsilon)
        check_unit_interval("gamma", self.gamma)
        check_positive_int("episodes", self.episodes)
        check_all_finite("reward_mean", float(self.reward_mean))

    @property
    def optimal_left_fraction(self) -> float:
        """Share of left actions in A of the best epsilon-greedy policy (left only when exploring)."""
        return self.epsilon / 2.0 if self.reward_mean < 0 else 1.0 - self.epsilon / 2.0


class MaxBiasRuns(NamedTuple):
    """What ``run_maximisation_bias`` records, one row per run, one column per episode.

    Attributes:
        left: ``(n_runs, episodes)`` bool, True where the agent went left from A.
        q_left: ``(n_runs, episodes)`` the estimate of ``Q(A, left)`` after the episode (for double
            Q-learning the mean of the two tables); its true value is ``gamma * reward_mean``.
    """

    left: np.ndarray
    q_left: np.ndarray


def _epsilon_greedy(values: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Epsilon-greedy actions for a batch of value rows, ties broken at random. ``(n, k) -> (n,)`` int."""
    n, k = values.shape
    is_max = values == values.max(axis=1, keepdims=True)
    # a uniformly random action among the maxima: the largest random key among them
    greedy = np.argmax(np.where(is_max, rng.random((n, k)), -1.0), axis=1)
    explore = rng.random(n) < epsilon
    return np.where(explore, rng.integers(k, size=n), greedy)


def run_maximisation_bias(config: MaxBiasConfig, n_runs: int, double: bool, seed: int = 0) -> MaxBiasRuns:
    """Run ``n_runs`` independent tabular agents on example 6.7 at once (numpy, vectorised over runs).

    Every run starts from zero tables. Per episode: act in A (epsilon-greedy on ``Q`` or on ``Q_1 + Q_2``),
    update ``Q(A, a)``; if the agent went left, act in B, draw the reward and update ``Q(B, b)``. Q-learning
    bootstraps ``Q(A, left)`` from ``max_b Q(B, b)``; double Q-learning flips a coin for the table to update at
    each step and bootstraps from the other table's value at the updated table's greedy action in B.

    Args:
        config: the MDP and learner settings.
        n_runs: independent agents (>= 1), each with its own tables (one seeded generator draws for all).
        double: False for Q-learning, True for double Q-learning.
        seed: seeds the whole batch of runs.

    Returns:
        ``MaxBiasRuns(left, q_left)``, each ``(n_runs, config.episodes)``.
    """
    n_runs = check_positive_int("n_runs", n_runs)
    rng = np.random.default_rng(seed)
    n_tables = 2 if double else 1
    rows = np.arange(n_runs)
    # q_a[k, i, a]: table k of run i in state A; q_b[k, i, b]: the same in state B
    q_a = np.zeros((n_tables, n_runs, 2))
    q_b = np.zeros((n_tables, n_runs, config.n_b_actions))
    left_log = np.zeros((n_runs, config.episodes), dtype=bool)
    q_left_log = np.zeros((n_runs, config.episodes))
    alpha, gamma = config.alpha, config.gamma
    for episode in range(config.episodes):
        # --- state A: act on the sum of the tables (one table for Q-learning)
        a = _epsilon_greedy(q_a.sum(axis=0), config.epsilon, rng)
        went_left = a == LEFT
        # the table each run updates at this step: always 0 for Q-learning, a fair coin for double Q
        k = rng.integers(n_tables, size=n_runs)
        if double:
            # a* = argmax_b Q_k(B, b);  V(B) = Q_{1-k}(B, a*)
            a_star = np.argmax(q_b[k, rows], axis=1)
            v_b = q_b[1 - k, rows, a_star]
        else:
            # V(B) = max_b Q(B, b)
            v_b = q_b[0].max(axis=1)
        # left: y = 0 + gamma * V(B);  right: the episode ends, y = 0
        y = td_target(0.0, gamma, v_b, (~went_left).astype(float))
        # Q_k(A, a) <- Q_k(A, a) + alpha * (y - Q_k(A, a))
        q_a[k, rows, a] += alpha * (y - q_a[k, rows, a])
        # --- state B (only the runs that went left): act, draw the reward, terminal update
        b = _epsilon_greedy(q_b.sum(axis=0), config.epsilon, rng)
        reward = rng.normal(config.reward_mean, config.reward_std, size=n_runs)
        k = rng.integers(n_tables, size=n_runs)
        r_b, k_b, b_b = rows[went_left], k[went_left], b[went_left]
        # terminal: y = r;  Q_k(B, b) <- Q_k(B, b) + alpha * (r - Q_k(B, b))
        q_b[k_b, r_b, b_b] += alpha * (reward[went_left] - q_b[k_b, r_b, b_b])
        left_log[:, episode] = went_left
        q_left_log[:, episode] = q_a[:, :, LEFT].mean(axis=0)
    return MaxBiasRuns(left=left_log, q_left=q_left_log)
