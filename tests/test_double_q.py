"""Maths tests for maximisation bias and double Q-learning (course_lib.algos.double_q): the two estimators
against exact and sampled expectations, one update on known numbers, and example 6.7 run vectorised against a
plain scalar loop built from the tabular updates."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.algos import double_q as dq
from course_lib.algos.qlearning import td_update


# ============================================================================================== estimators
class TestExpectedMax:
    def test_known_closed_forms(self):
        # one variable: its own mean; two: mu + sigma / sqrt(pi)
        assert dq.expected_max_gaussian(0.3, 2.0, 1) == pytest.approx(0.3, abs=1e-9)
        assert dq.expected_max_gaussian(-0.1, 1.5, 2) == pytest.approx(-0.1 + 1.5 / math.sqrt(math.pi), abs=1e-9)
        # three standard normals: 3 / (2 sqrt(pi))
        assert dq.expected_max_gaussian(0.0, 1.0, 3) == pytest.approx(1.5 / math.sqrt(math.pi), abs=1e-9)

    def test_matches_sampling_and_exceeds_the_max_of_the_means(self):
        rng = np.random.default_rng(0)
        mu, sigma, n = -0.1, 1.0, 10
        draws = rng.normal(mu, sigma, size=(200_000, n)).max(axis=1)
        exact = dq.expected_max_gaussian(mu, sigma, n)
        se = draws.std() / math.sqrt(draws.size)
        assert abs(draws.mean() - exact) < 6 * se
        # E[max_i X_i] > max_i E[X_i] = mu: the maximisation bias, here about 1.54 sigma
        assert exact - mu > 1.5 * sigma

    def test_rejects_bad_arguments(self):
        with pytest.raises(ValueError):
            dq.expected_max_gaussian(0.0, 1.0, 0)
        with pytest.raises(ValueError):
            dq.expected_max_gaussian(0.0, -1.0, 3)


class TestEstimators:
    def test_single_estimate_of_sample_means_is_biased_up_by_the_exact_amount(self):
        # K arms with equal true mean, m samples each: the max of the sample means has mean
        # E[max of K N(mu, sigma^2 / m)] > mu
        rng = np.random.default_rng(1)
        mu, sigma, k, m, trials = -0.1, 1.0, 8, 5, 40_000
        means = rng.normal(mu, sigma, size=(trials, k, m)).mean(axis=2)
        single = dq.single_estimate(means)
        exact = dq.expected_max_gaussian(mu, sigma / math.sqrt(m), k)
        se = single.std() / math.sqrt(trials)
        assert abs(single.mean() - exact) < 6 * se
        assert single.mean() - mu > 20 * se

    def test_double_estimate_is_unbiased_for_equal_means(self):
        rng = np.random.default_rng(2)
        mu, sigma, k, trials = -0.1, 1.0, 10, 100_000
        a = rng.normal(mu, sigma, size=(trials, k))
        b = rng.normal(mu, sigma, size=(trials, k))
        double = dq.double_estimate(a, b)
        se = double.std() / math.sqrt(trials)
        assert abs(double.mean() - mu) < 6 * se

    def test_double_estimate_does_not_overestimate_unequal_means(self):
        # E[double] <= max_i mu_i (van Hasselt 2010, lemma 2); the single estimate overshoots
        rng = np.random.default_rng(3)
        mu = np.array([0.0, -0.2, -0.5, 0.1, -1.0])
        a = rng.normal(mu, 1.0, size=(100_000, mu.size))
        b = rng.normal(mu, 1.0, size=(100_000, mu.size))
        double, single = dq.double_estimate(a, b), dq.single_estimate(a)
        se = double.std() / math.sqrt(double.size)
        assert double.mean() < mu.max() + 3 * se
        assert single.mean() > mu.max() + 0.5

    def test_double_estimate_picks_with_a_and_reads_b(self):
        a = np.array([[0.0, 2.0, 1.0], [5.0, -1.0, 0.0]])
        b = np.array([[10.0, 20.0, 30.0], [-3.0, 7.0, 9.0]])
        np.testing.assert_array_equal(dq.double_estimate(a, b), [20.0, -3.0])
        np.testing.assert_array_equal(dq.single_estimate(a), [2.0, 5.0])
        with pytest.raises(ValueError):
            dq.double_estimate(a, b[:, :2])


# ============================================================================================== one update
class TestDoubleQUpdate:
    def test_known_values(self):
        q_a = np.array([[0.5, -1.0], [0.0, 3.0]])   # state 1: Q_A picks action 1
        q_b = np.array([[0.0, 0.0], [4.0, -2.0]])   # ... and Q_B rates it -2 (Q_B's own max would be 4)
        q_a0, q_b0 = q_a.copy(), q_b.copy()
        delta = dq.double_q_update(q_a, q_b, s=0, a=0, r=1.0, s_next=1, terminated=False, alpha=0.5, gamma=0.9)
        # y = 1 + 0.9 * Q_B(1, argmax Q_A(1, .)) = 1 + 0.9 * (-2) = -0.8;  delta = -0.8 - 0.5 = -1.3
        assert delta == pytest.approx(-1.3)
        assert q_a[0, 0] == pytest.approx(0.5 + 0.5 * -1.3)
        changed = q_a != q_a0
        assert changed.sum() == 1 and changed[0, 0]
        np.testing.assert_array_equal(q_b, q_b0)
        # plain Q-learning on Q_A alone would bootstrap from max Q_A(1, .) = 3
        q_plain = q_a0.copy()
        assert td_update(q_plain, 0, 0, 1.0, 1, False, 0.5, 0.9) == pytest.approx(1.0 + 0.9 * 3.0 - 0.5)

    def test_terminal_transition_does_not_bootstrap(self):
        q_a = np.array([[0.5, -1.0], [0.0, 3.0]])
        q_b = np.array([[0.0, 0.0], [4.0, -2.0]])
        delta = dq.double_q_update(q_a, q_b, 0, 1, 2.0, 1, True, 0.1, 1.0)
        assert delta == pytest.approx(2.0 - (-1.0))
        assert q_a[0, 1] == pytest.approx(-1.0 + 0.1 * 3.0)


# ============================================================================================== example 6.7
def _scalar_runs(config: dq.MaxBiasConfig, n_runs: int, double: bool, seed: int) -> np.ndarray:
    """Example 6.7 with plain Python loops and the tabular updates: (n_runs, episodes) left flags.

    States: 0 = A, 1 = B, 2 = terminal (a row of zeros); A has actions RIGHT and LEFT, B has n_b_actions.
    """
    rng = np.random.default_rng(seed)
    width = max(2, config.n_b_actions)
    left = np.zeros((n_runs, config.episodes), dtype=bool)

    def act(row: np.ndarray) -> int:
        if rng.random() < config.epsilon:
            return int(rng.integers(row.size))
        return int(rng.choice(np.flatnonzero(row == row.max())))

    for run in range(n_runs):
        # unused entries (A's columns beyond 2) stay at -inf so they are never picked or maxed over
        tables = [np.full((3, width), -np.inf) for _ in range(2 if double else 1)]
        for q in tables:
            q[0, :2] = 0.0
            q[1, :config.n_b_actions] = 0.0
            q[2, :] = 0.0
        for episode in range(config.episodes):
            a = act(sum(q[0, :2] for q in tables))
            left[run, episode] = a == dq.LEFT
            s_next, r = (1, 0.0) if a == dq.LEFT else (2, 0.0)
            states = [(0, a, r, s_next, a != dq.LEFT)]
            if a == dq.LEFT:
                b = act(sum(q[1, :config.n_b_actions] for q in tables))
                states.append((1, b, rng.normal(config.reward_mean, config.reward_std), 2, True))
            for s, act_s, r_s, s2, term in states:
                if double:
                    i = int(rng.integers(2))
                    dq.double_q_update(tables[i], tables[1 - i], s, act_s, r_s, s2, term, config.alpha, config.gamma)
                else:
                    td_update(tables[0], s, act_s, r_s, s2, term, config.alpha, config.gamma)
    return left


class TestExample67:
    def test_config_validates_and_knows_the_optimum(self):
        assert dq.MaxBiasConfig().optimal_left_fraction == pytest.approx(0.05)
        for bad in ({"alpha": 0.0}, {"epsilon": 1.5}, {"n_b_actions": 0}, {"episodes": 0}, {"reward_std": 0.0},
                    {"gamma": -0.1}, {"reward_mean": float("nan")}):
            with pytest.raises(ValueError):
                dq.MaxBiasConfig(**bad)

    def test_shapes_seeding_and_a_fair_first_choice(self):
        config = dq.MaxBiasConfig(episodes=20)
        runs = dq.run_maximisation_bias(config, 3000, double=True, seed=5)
        assert runs.left.shape == runs.q_left.shape == (3000, 20) and runs.left.dtype == bool
        again = dq.run_maximisation_bias(config, 3000, double=True, seed=5)
        np.testing.assert_array_equal(runs.left, again.left)
        # zero tables: the first choice in A is a coin flip
        assert abs(runs.left[:, 0].mean() - 0.5) < 6 * math.sqrt(0.25 / 3000)
        # before any update Q(A, left) is 0; it only moves on runs that went left
        np.testing.assert_array_equal(runs.q_left[~runs.left[:, 0], 0], 0.0)

    @pytest.mark.parametrize("double", [False, True], ids=["q_learning", "double_q"])
    def test_vectorised_runs_agree_with_a_scalar_loop_of_the_tabular_updates(self, double):
        config = dq.MaxBiasConfig(episodes=25, n_b_actions=6)
        fast = dq.run_maximisation_bias(config, 4000, double=double, seed=0).left.mean(axis=0)
        slow = _scalar_runs(config, 500, double=double, seed=1).mean(axis=0)
        # per-episode share of left, averaged over the episodes: 6 standard errors of the difference
        se = math.sqrt(0.25 / 4000 + 0.25 / 500) / math.sqrt(config.episodes) * 2.0
        assert abs(fast.mean() - slow.mean()) < 6 * se, (fast.mean(), slow.mean())
        # and in the second half, where Q-learning and double Q-learning differ most
        half = slice(config.episodes // 2, None)
        se_half = math.sqrt(0.25 / 4000 + 0.25 / 500) * 2.0 / math.sqrt(config.episodes / 2)
        assert abs(fast[half].mean() - slow[half].mean()) < 6 * se_half

    def test_q_learning_prefers_left_and_double_q_does_not(self):
        config = dq.MaxBiasConfig()
        plain = dq.run_maximisation_bias(config, 1000, double=False, seed=0)
        double = dq.run_maximisation_bias(config, 1000, double=True, seed=0)
        early = slice(5, 50)
        assert plain.left[:, early].mean() > 0.8
        assert double.left[:, early].mean() < 0.5
        # double Q-learning ends near the optimum epsilon / 2; its value of left is not inflated
        assert abs(double.left[:, -100:].mean() - config.optimal_left_fraction) < 0.03
        assert plain.q_left[:, early].mean() > 0.0 > config.reward_mean
        assert double.q_left[:, early].mean() < plain.q_left[:, early].mean()
