"""Maths tests for the value-based algorithms: tabular Q-learning / SARSA and DQN (fast; learning tests live in
test_learning_value_based.py)."""
from __future__ import annotations


import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from course_lib.algos import dqn, qlearning
from course_lib.algos.dqn import DQNAgent, DQNConfig, ReplayBatch, ReplayBuffer
from course_lib.advantages import td_target
from course_lib.algos.qlearning import (Discretiser, QLearningConfig, TabularAgent, cartpole_discretiser,
                                        greedy_path, td_update)
from course_lib.envs import CountingEnv


# ============================================================================================== tabular
class TestTDTarget:
    def test_bootstraps_unless_terminated(self):
        # y = r + gamma * (1 - terminated) * V(s')
        assert td_target(-1.0, 0.9, 10.0, 0.0) == pytest.approx(-1.0 + 0.9 * 10.0)
        assert td_target(-1.0, 0.9, 10.0, 1.0) == -1.0
        assert td_target(-1.0, 0.9, 10.0, True) == -1.0

    def test_same_formula_on_numpy_and_torch(self):
        r = np.array([1.0, 2.0, 3.0])
        v = np.array([5.0, 6.0, 7.0])
        term = np.array([0.0, 1.0, 0.0])
        expected = np.array([1.0 + 0.5 * 5.0, 2.0, 3.0 + 0.5 * 7.0])
        np.testing.assert_allclose(td_target(r, 0.5, v, term), expected)
        out = td_target(torch.tensor(r), 0.5, torch.tensor(v), torch.tensor(term))
        np.testing.assert_allclose(out.numpy(), expected)


class TestTDUpdate:
    def setup_method(self):
        self.q = np.random.default_rng(0).normal(size=(5, 3))

    def test_q_learning_closed_form(self):
        q, q0 = self.q.copy(), self.q.copy()
        s, a, r, s2, alpha, gamma = 2, 1, -1.5, 3, 0.3, 0.9
        delta = td_update(q, s, a, r, s2, False, alpha, gamma)
        # Q(s,a) + alpha * (r + gamma * max_a' Q(s',a') - Q(s,a))
        expected_delta = r + gamma * q0[s2].max() - q0[s, a]
        assert delta == pytest.approx(expected_delta)
        assert q[s, a] == pytest.approx(q0[s, a] + alpha * expected_delta)
        changed = q != q0
        assert changed.sum() == 1 and changed[s, a]

    def test_sarsa_bootstraps_from_the_next_action_not_the_max(self):
        q, q0 = self.q.copy(), self.q.copy()
        s, a, r, s2, alpha, gamma = 0, 2, 0.5, 4, 0.5, 0.8
        a_next = int(np.argmin(q0[s2]))  # a non-greedy next action, so SARSA and Q-learning differ
        assert q0[s2, a_next] < q0[s2].max()
        td_update(q, s, a, r, s2, False, alpha, gamma, a_next=a_next)
        assert q[s, a] == pytest.approx(q0[s, a] + alpha * (r + gamma * q0[s2, a_next] - q0[s, a]))

    def test_terminal_transition_does_not_bootstrap(self):
        q = self.q.copy()
        q[3] = 100.0  # a huge next-state value that must be ignored
        td_update(q, 2, 1, -1.0, 3, True, 1.0, 0.9)  # alpha = 1: Q(s,a) becomes the target
        assert q[2, 1] == -1.0
        td_update(q, 2, 0, -1.0, 3, True, 1.0, 0.9, a_next=1)
        assert q[2, 0] == -1.0

    def test_nonterminal_transition_bootstraps(self):
        q = self.q.copy()
        q[3] = 100.0
        td_update(q, 2, 1, -1.0, 3, False, 1.0, 0.9)
        assert q[2, 1] == pytest.approx(-1.0 + 90.0)


class TestTimeLimitsInTraining:
    """Counting env (reward 1 per step) seen through a 1-bin discretiser: a single state that loops.

    Truncation is bootstrapped, so every update moves Q towards 1 + gamma Q and Q converges to 1 / (1 - gamma)
    exactly. Had truncation been treated as termination, one update in `time_limit` would pull towards 1 and Q
    would settle near 1 / (1 - gamma (time_limit - 1) / time_limit) instead (about 1.67 for gamma = 0.5, limit 5).
    """

    def _train(self, terminate_at):
        env = CountingEnv(time_limit=5, terminate_at=terminate_at)
        config = QLearningConfig(alpha=0.1, gamma=0.5, epsilon_start=1.0, epsilon_end=1.0, episodes=200)
        agent, _ = qlearning.train(config, env, seed=0, discretiser=Discretiser([0.0], [1.0], 1))
        assert agent.q.shape == (1, 2)
        return agent.q

    def test_truncation_is_bootstrapped(self):
        q = self._train(terminate_at=None)
        # epsilon = 1: both actions are tried, and both converge to 1 / (1 - 0.5) = 2
        np.testing.assert_allclose(q, 2.0, atol=1e-6)

    def test_termination_is_not_bootstrapped(self):
        q = self._train(terminate_at=5)
        assert np.all(q < 1.85) and np.all(q > 1.4)

    def test_config_time_limit_truncates_and_bootstraps(self):
        # a 1-step time limit from the config: every step is truncated, Q still converges to 1 / (1 - gamma)
        config = QLearningConfig(alpha=0.2, gamma=0.5, epsilon_start=1.0, epsilon_end=1.0, episodes=600,
                                 max_episode_steps=1)
        agent, history = qlearning.train(config, CountingEnv(time_limit=5), seed=0,
                                         discretiser=Discretiser([0.0], [1.0], 1))
        assert all(e.length == 1 for e in history.episodes)
        np.testing.assert_allclose(agent.q, 2.0, atol=1e-6)


class TestEpsilon:
    def test_linear_schedule(self):
        assert qlearning.linear_schedule(1.0, 0.1, 10, 0) == 1.0
        assert qlearning.linear_schedule(1.0, 0.1, 10, 5) == pytest.approx(0.55)
        assert qlearning.linear_schedule(1.0, 0.1, 10, 10) == pytest.approx(0.1)
        assert qlearning.linear_schedule(1.0, 0.1, 10, 1000) == pytest.approx(0.1)
        assert qlearning.linear_schedule(1.0, 0.1, 0, 0) == pytest.approx(0.1)
        config = QLearningConfig(epsilon_start=0.5, epsilon_end=0.0, epsilon_decay_episodes=4)
        assert [config.epsilon(k) for k in range(6)] == pytest.approx([0.5, 0.375, 0.25, 0.125, 0.0, 0.0])

    def test_epsilon_greedy_frequencies(self):
        # P(greedy) = 1 - eps + eps / n_actions, P(other) = eps / n_actions
        rng = np.random.default_rng(0)
        q_row = np.array([0.0, 3.0, 1.0, 2.0])
        n, eps = 40_000, 0.3
        counts = np.bincount([qlearning.epsilon_greedy(q_row, eps, rng) for _ in range(n)], minlength=4)
        expected = np.array([0.075, 0.775, 0.075, 0.075])
        # 5 binomial standard deviations
        tol = 5 * np.sqrt(expected * (1 - expected) / n)
        assert np.all(np.abs(counts / n - expected) < tol)

    def test_greedy_ties_broken_at_random(self):
        rng = np.random.default_rng(1)
        q_row = np.array([1.0, 0.0, 1.0, 1.0])
        picks = {qlearning.epsilon_greedy(q_row, 0.0, rng) for _ in range(200)}
        assert picks == {0, 2, 3}


class TestDiscretiser:
    def test_known_cells(self):
        d = Discretiser(low=[0.0, -1.0], high=[1.0, 1.0], bins=[2, 4])
        assert d.n_states == 8
        # row-major index: cell_0 * 4 + cell_1
        assert d([0.25, -0.9]) == 0 * 4 + 0
        assert d([0.75, 0.9]) == 1 * 4 + 3
        assert d([0.25, 0.1]) == 0 * 4 + 2  # (0.1 + 1) / 2 * 4 = 2.2 -> cell 2
        assert d([5.0, -5.0]) == 1 * 4 + 0  # clipped to the ranges
        assert d([1.0, 1.0]) == 7  # the upper edge belongs to the last cell
        assert d([0.0, -1.0]) == 0

    def test_batch_matches_single_and_covers_all_cells(self):
        d = Discretiser(low=[-1.0, 0.0, 2.0], high=[1.0, 3.0, 4.0], bins=3)
        obs = np.random.default_rng(0).uniform([-1.5, -0.5, 1.5], [1.5, 3.5, 4.5], size=(2000, 3))
        idx = d.indices(obs)
        assert idx.shape == (2000,)
        assert idx.tolist() == [d(o) for o in obs]
        assert set(idx.tolist()) == set(range(27))
        assert d.indices(obs.reshape(40, 50, 3)).shape == (40, 50)

    @pytest.mark.parametrize("kwargs, word", [
        (dict(low=[0.0], high=[0.0], bins=2), "high must be greater"),
        (dict(low=[0.0], high=[np.inf], bins=2), "finite"),
        (dict(low=[0.0, 0.0], high=[1.0], bins=2), "same length"),
        (dict(low=[0.0], high=[1.0], bins=0), "bins"),
        (dict(low=[0.0], high=[1.0], bins=1.5), "bins"),
        (dict(low=[0.0, 0.0], high=[1.0, 1.0], bins=[2, 2, 2]), "bins"),
    ])
    def test_bad_input(self, kwargs, word):
        with pytest.raises(ValueError, match=word):
            Discretiser(**kwargs)

    def test_wrong_obs_shape(self):
        d = Discretiser([0.0, 0.0], [1.0, 1.0], 2)
        with pytest.raises(ValueError, match="last dimension 2"):
            d.indices(np.zeros((4, 3)))
        with pytest.raises(ValueError, match="one observation"):
            d(np.zeros((4, 2)))

    def test_cartpole_discretiser_with_agent(self):
        d = cartpole_discretiser(bins=5)
        assert d.n_states == 5 ** 4
        q = np.zeros((d.n_states, 2))
        q[:, 1] = 1.0
        agent = TabularAgent(q=q, discretiser=d)
        actions = agent.act(np.zeros((7, 4), dtype=np.float32))
        assert actions.shape == (7,) and np.all(actions == 1)


class TestConfigValidation:
    @pytest.mark.parametrize("field, value", [
        ("alpha", 0.0), ("alpha", 1.5), ("gamma", -0.1), ("gamma", 1.01), ("epsilon_start", 2.0),
        ("epsilon_end", -0.5), ("epsilon_decay_episodes", -1), ("epsilon_decay_episodes", 2.5), ("episodes", 0),
        ("max_episode_steps", 0), ("q_init", float("nan")),
    ])
    def test_bad_values_raise_naming_the_field(self, field, value):
        with pytest.raises(ValueError, match=field):
            QLearningConfig(**{field: value})

    def test_box_observation_needs_a_discretiser(self):
        with pytest.raises(ValueError, match="Discrete observation space"):
            qlearning.train(QLearningConfig(episodes=1), "CartPole-v1")

    def test_continuous_actions_refused(self):
        with pytest.raises(ValueError, match="Discrete action space"):
            qlearning.train(QLearningConfig(episodes=1), "Pendulum-v1", discretiser=Discretiser([-1] * 3, [1] * 3, 2))


class TestTabularTraining:
    def test_same_seed_same_result_other_seed_differs(self):
        config = QLearningConfig(episodes=30)
        a1, h1 = qlearning.train(config, "CliffWalking-v1", seed=4)
        a2, h2 = qlearning.train(config, "CliffWalking-v1", seed=4)
        a3, h3 = qlearning.train(config, "CliffWalking-v1", seed=5)
        assert h1 == h2 and np.array_equal(a1.q, a2.q)
        assert h1 != h3

    def test_history_rows(self):
        config = QLearningConfig(episodes=25, epsilon_start=1.0, epsilon_end=0.0, epsilon_decay_episodes=10)
        _, h = qlearning.train(config, "CliffWalking-v1", seed=0)
        assert len(h) == 25 and len(h.episodes) == 25
        np.testing.assert_allclose(h.column("epsilon"), [config.epsilon(k) for k in range(25)])
        assert h.column("env_steps")[-1] == sum(e.length for e in h.episodes)
        rets = h.episode_returns()
        np.testing.assert_allclose(h.column("episode_return_mean")[-1], rets[-20:].mean())
        np.testing.assert_allclose(h.column("episode_return_mean")[3], rets[:4].mean())

    def test_greedy_path_on_a_hand_made_table(self):
        # CliffWalking: start (3, 0) = state 36, goal (3, 11) = 47; actions 0 up, 1 right, 2 down, 3 left.
        # A table whose greedy policy is: up from the start, right along row 2, down at column 11.
        q = np.zeros((48, 4))
        q[36, 0] = 1.0
        q[24:35, 1] = 1.0
        q[35, 2] = 1.0
        path = greedy_path(TabularAgent(q=q), gym.make("CliffWalking-v1"))
        assert path.states == [36] + list(range(24, 36)) + [47]
        assert path.actions == [0] + [1] * 11 + [2]
        assert path.total_return == -13.0 and path.terminated

    def test_greedy_path_of_a_looping_policy_is_cut(self):
        path = greedy_path(TabularAgent(q=np.zeros((48, 4))), gym.make("CliffWalking-v1"), max_steps=7)
        # "up" from the start forever: (3,0) -> (2,0) -> (1,0) -> (0,0) -> (0,0) ...
        assert path.states == [36, 24, 12, 0, 0, 0, 0, 0] and not path.terminated
        assert path.total_return == -7.0

    def test_act_batch_and_exploration(self):
        q = np.array([[0.0, 1.0], [2.0, 0.0]])
        agent = TabularAgent(q=q, epsilon=1.0, rng=np.random.default_rng(0))
        np.testing.assert_array_equal(agent.act(np.array([0, 1, 1, 0])), [1, 0, 0, 1])
        assert int(agent.act(1)) == 0
        random_actions = agent.act(np.zeros(4000, dtype=np.int64), deterministic=False)
        assert random_actions.shape == (4000,)
        assert abs(random_actions.mean() - 0.5) < 0.05  # epsilon = 1: uniform

    def test_frozen_lake_deterministic_is_solved(self):
        config = QLearningConfig(alpha=0.5, gamma=0.95, epsilon_start=1.0, epsilon_end=0.1,
                                 epsilon_decay_episodes=200, episodes=400)
        env = gym.make("FrozenLake-v1", is_slippery=False)
        agent, _ = qlearning.train(config, env, seed=0)
        assert agent.q.shape == (16, 4)
        path = greedy_path(agent, env, max_steps=50)
        assert path.total_return == 1.0 and path.terminated and len(path.actions) == 6  # shortest path


def _cliff_edge_visits(path) -> int:
    """Visits to the cells right above the cliff, (2, 1) .. (2, 10)."""
    return sum(1 for s in path.states if s // 12 == 2 and 1 <= s % 12 <= 10)


def test_sarsa_learns_the_safer_path_than_q_learning():
    """Sutton & Barto example 6.6: with epsilon = 0.1 exploration, Q-learning's greedy policy walks along the cliff
    edge (optimal, return -13) but its online returns suffer from exploratory falls; SARSA accounts for its own
    exploration and learns a path away from the edge, with better online returns."""
    env = gym.make("CliffWalking-v1")
    online = {False: [], True: []}
    for seed in (1, 2, 3):
        paths = {}
        for on_policy in (False, True):
            agent, h = qlearning.train(QLearningConfig(on_policy=on_policy, episodes=500), env, seed=seed)
            paths[on_policy] = greedy_path(agent, env)
            online[on_policy].append(h.episode_returns()[-200:].mean())
        assert paths[False].total_return == -13.0 and _cliff_edge_visits(paths[False]) == 10
        assert paths[True].terminated and paths[True].total_return < -13.0
        # at most the last step or two before descending to the goal run along the edge
        assert _cliff_edge_visits(paths[True]) <= 2
    assert np.mean(online[True]) > np.mean(online[False]) + 10.0


# ============================================================================================== DQN
class TestReplayBuffer:
    def _filled(self, capacity, n):
        buf = ReplayBuffer(capacity, obs_dim=2)
        for i in range(n):
            buf.add(np.array([i, -i]), i % 3, float(i), np.array([i + 1, -i - 1]), i % 4 == 0)
        return buf

    def test_wraps_around_overwriting_the_oldest(self):
        buf = self._filled(capacity=5, n=8)
        assert len(buf) == 5 and buf.pos == 3
        # slots 0..2 were overwritten by transitions 5, 6, 7; slots 3, 4 still hold 3, 4
        np.testing.assert_array_equal(buf.obs[:, 0], [5, 6, 7, 3, 4])
        np.testing.assert_array_equal(buf.next_obs[:, 0], [6, 7, 8, 4, 5])
        np.testing.assert_array_equal(buf.rewards, [5, 6, 7, 3, 4])
        np.testing.assert_array_equal(buf.actions, [5 % 3, 6 % 3, 7 % 3, 0, 1])
        np.testing.assert_array_equal(buf.terminated, [0, 0, 0, 0, 1])

    def test_partially_filled_samples_only_filled_slots(self):
        buf = self._filled(capacity=10, n=4)
        idx = buf.sample_indices(1000, np.random.default_rng(0))
        assert idx.min() == 0 and idx.max() == 3

    def test_empty_buffer_refuses_to_sample(self):
        with pytest.raises(ValueError, match="empty"):
            ReplayBuffer(3, 1).sample(2, np.random.default_rng(0))

    def test_samples_uniformly(self):
        # chi-square goodness of fit against uniform over 10 slots: df = 9, 99.9% quantile = 27.88
        buf = self._filled(capacity=10, n=23)
        n = 50_000
        counts = np.bincount(buf.sample_indices(n, np.random.default_rng(1)), minlength=10)
        chi2 = float(((counts - n / 10) ** 2 / (n / 10)).sum())
        assert chi2 < 27.88
        # a buffer that ignored part of its slots would fail this: sanity-check the statistic itself
        skewed = np.bincount(np.random.default_rng(1).integers(0, 9, n), minlength=10)
        assert float(((skewed - n / 10) ** 2 / (n / 10)).sum()) > 27.88

    def test_sampled_batch_holds_whole_transitions(self):
        buf = self._filled(capacity=5, n=8)
        batch = buf.sample(64, np.random.default_rng(2))
        assert batch.obs.shape == (64, 2) and batch.obs.dtype == torch.float32
        assert batch.actions.dtype == torch.int64 and batch.terminated.dtype == torch.float32
        i = batch.obs[:, 0]  # the transition number
        torch.testing.assert_close(batch.next_obs[:, 0], i + 1)
        torch.testing.assert_close(batch.rewards, i)
        torch.testing.assert_close(batch.actions, (i % 3).long())
        torch.testing.assert_close(batch.terminated, (i % 4 == 0).float())


def _linear_net(weight):
    """A bias-free linear Q network with the given (n_actions, obs_dim) weight: Q(s) = W s."""
    net = nn.Linear(len(weight[0]), len(weight), bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor(weight, dtype=torch.float32))
    return net


class TestDQNTargets:
    def test_next_state_values_plain_and_double(self):
        next_q_target = torch.tensor([[1.0, 5.0], [3.0, 2.0], [4.0, 4.5]])
        next_q_online = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 0.0]])
        torch.testing.assert_close(dqn.next_state_values(next_q_target), torch.tensor([5.0, 3.0, 4.5]))
        # double: the online net picks actions [0, 1, 0], the target net rates them
        torch.testing.assert_close(dqn.next_state_values(next_q_target, next_q_online),
                                   torch.tensor([1.0, 2.0, 4.0]))
        with pytest.raises(ValueError, match="next_q_online has shape"):
            dqn.next_state_values(next_q_target, next_q_online[:2])

    def setup_method(self):
        # target net Q_target(s) = [s0 + s1, 2 s0 - s1]; online net Q(s) = [s1, s0]
        self.target = _linear_net([[1.0, 1.0], [2.0, -1.0]])
        self.online = _linear_net([[0.0, 1.0], [1.0, 0.0]])
        self.batch = ReplayBatch(
            obs=torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]),
            actions=torch.tensor([0, 1, 1]),
            rewards=torch.tensor([1.0, -1.0, 0.5]),
            next_obs=torch.tensor([[1.0, 2.0], [3.0, 1.0], [2.0, 2.0]]),
            terminated=torch.tensor([0.0, 0.0, 1.0]),
        )

    def test_targets_by_hand(self):
        gamma = 0.9
        # Q_target(s') = [s0 + s1, 2 s0 - s1] at s' = [1, 2], [3, 1], [2, 2]: rows [3, 0], [4, 5], [4, 2]
        # plain: max -> 3, 5; the third transition is terminal -> y = r only
        expected = torch.tensor([1.0 + 0.9 * 3.0, -1.0 + 0.9 * 5.0, 0.5])
        torch.testing.assert_close(dqn.dqn_targets(self.batch, self.target, gamma), expected)
        # double: online Q(s') = [s1, s0]: rows [2, 1], [1, 3] -> a* = 0, 1 -> Q_target = 3, 5 (same here)
        torch.testing.assert_close(dqn.dqn_targets(self.batch, self.target, gamma, online_net=self.online), expected)
        # a huge next-state value behind a terminal flag is ignored
        big = self.batch._replace(next_obs=self.batch.next_obs * 1e6)
        assert dqn.dqn_targets(big, self.target, gamma)[2].item() == 0.5

    def test_double_dqn_differs_from_plain_when_the_nets_disagree(self):
        # an online net Q(s) = [-s0, s0] that prefers action 1 wherever s0 > 0
        online = _linear_net([[-1.0, 0.0], [1.0, 0.0]])
        batch = self.batch._replace(next_obs=torch.tensor([[2.0, 3.0], [4.0, 1.0], [1.0, 1.0]]),
                                    terminated=torch.zeros(3))
        gamma = 0.5
        # Q_target(s'): [5, 1], [5, 7], [2, 1]; plain max: 5, 7, 2
        plain = dqn.dqn_targets(batch, self.target, gamma)
        torch.testing.assert_close(plain, batch.rewards + gamma * torch.tensor([5.0, 7.0, 2.0]))
        # online Q(s') = [-s0, s0]: [-2, 2], [-4, 4], [-1, 1] -> a* = 1, 1, 1 -> Q_target = 1, 7, 1
        double = dqn.dqn_targets(batch, self.target, gamma, online_net=online)
        torch.testing.assert_close(double, batch.rewards + gamma * torch.tensor([1.0, 7.0, 1.0]))

    @pytest.mark.parametrize("loss", ["huber", "mse"])
    def test_loss_by_hand_and_gradient_only_to_the_online_net(self, loss):
        gamma = 0.9
        y = torch.tensor([1.0 + 0.9 * 3.0, -1.0 + 0.9 * 5.0, 0.5])
        # online Q(s) = [s1, s0] at obs [1, 0], [0, 2], [1, 1], actions 0, 1, 1 -> 0, 0, 1
        x = torch.tensor([0.0, 0.0, 1.0]) - y  # = [-3.7, -3.5, 0.5]
        if loss == "huber":
            # 0.5 x^2 if |x| <= 1 else |x| - 0.5
            expected = torch.where(x.abs() <= 1, 0.5 * x ** 2, x.abs() - 0.5).mean()
            assert expected.item() == pytest.approx(((3.7 - 0.5) + (3.5 - 0.5) + 0.125) / 3)
        else:
            expected = (x ** 2).mean()
        value = dqn.dqn_loss(self.online, self.target, self.batch, gamma, loss=loss)
        torch.testing.assert_close(value, expected)
        value.backward()
        assert self.online.weight.grad is not None and self.target.weight.grad is None

    def test_unknown_loss(self):
        with pytest.raises(ValueError, match="loss must be"):
            dqn.dqn_loss(self.online, self.target, self.batch, 0.9, loss="l1")


class TestDQNConfig:
    @pytest.mark.parametrize("field, value", [
        ("learning_rate", 0.0), ("buffer_size", 0), ("batch_size", -1), ("gamma", 1.5), ("learning_starts", -1),
        ("train_freq", 0), ("gradient_steps", 0), ("target_update_interval", 0), ("epsilon_start", 1.2),
        ("epsilon_end", -0.1), ("epsilon_decay_steps", -5), ("epsilon_decay_steps", 10.5), ("loss", "l1"),
        ("learning_rate_end", -1e-4), ("hidden", (64, 0)), ("max_grad_norm", 0.0), ("log_interval", 0),
        ("env_id", ""), ("init", "xavier"),
    ])
    def test_bad_values_raise_naming_the_field(self, field, value):
        with pytest.raises(ValueError, match=field):
            DQNConfig(**{field: value})

    def test_epsilon_schedule(self):
        config = DQNConfig(epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=100)
        assert [config.epsilon(t) for t in (0, 50, 100, 10_000)] == pytest.approx([1.0, 0.55, 0.1, 0.1])

    def test_learning_rate_schedule(self):
        assert DQNConfig(learning_rate=1e-3, learning_rate_end=None).lr(500, 1000) == 1e-3
        config = DQNConfig(learning_rate=1e-3, learning_rate_end=1e-4)
        assert [config.lr(t, 1000) for t in (0, 500, 1000)] == pytest.approx([1e-3, 5.5e-4, 1e-4])

    def test_needs_discrete_actions_and_vector_observations(self):
        with pytest.raises(ValueError, match="Discrete action space"):
            dqn.train(DQNConfig(env_id="Pendulum-v1"), total_steps=10, progress=False)
        with pytest.raises(ValueError, match="1-D Box observation"):
            dqn.train(DQNConfig(env_id="FrozenLake-v1"), total_steps=10, progress=False)


def _small_config(**overrides):
    base = dict(env_id="CartPole-v1", hidden=(16,), batch_size=16, learning_starts=100, train_freq=4,
                gradient_steps=2, target_update_interval=50, epsilon_decay_steps=300, log_interval=100)
    base.update(overrides)
    return DQNConfig(**base)


class TestDQNTraining:
    def test_same_seed_same_history_and_network(self):
        config = _small_config(double_dqn=True)
        a1, h1 = dqn.train(config, seed=3, total_steps=600, progress=False)
        a2, h2 = dqn.train(config, seed=3, total_steps=600, progress=False)
        a3, h3 = dqn.train(config, seed=4, total_steps=600, progress=False)
        assert h1 == h2  # steps_per_second is left out of the comparison
        for p1, p2 in zip(a1.q_net.parameters(), a2.q_net.parameters()):
            assert torch.equal(p1, p2)
        assert h1 != h3

    def test_history_rows(self):
        config = _small_config(learning_rate=1e-3, learning_rate_end=0.0)
        _, h = dqn.train(config, seed=0, total_steps=550, progress=False)
        ends = [100, 200, 300, 400, 500, 550]
        np.testing.assert_array_equal(h.column("env_steps"), ends)
        # a row's epsilon and learning rate are those of its last step (0-based step env_steps - 1)
        np.testing.assert_allclose(h.column("epsilon"), [config.epsilon(s - 1) for s in ends])
        np.testing.assert_allclose(h.column("learning_rate"), [1e-3 * (1 - (s - 1) / 550) for s in ends])
        q_loss = h.column("q_loss")
        assert np.isnan(q_loss[0]) and np.all(np.isfinite(q_loss[1:])) and np.all(q_loss[1:] > 0)
        assert sum(e.length for e in h.episodes) <= 550
        assert all(r.steps_per_second > 0 for r in h.rows)

    def test_target_synced_every_interval_and_only_then(self, monkeypatch):
        synced_at = []
        real_sync = dqn.sync_target

        def recording_sync(target_net, q_net):
            real_sync(target_net, q_net)
            synced_at.append(len(calls))

        calls = []  # one entry per dqn_loss call = gradient step
        real_loss = dqn.dqn_loss

        def recording_loss(q_net, target_net, *args, **kwargs):
            # between two syncs the target net is frozen: it equals the state copied at the last sync
            calls.append([p.detach().clone() for p in target_net.parameters()])
            return real_loss(q_net, target_net, *args, **kwargs)

        monkeypatch.setattr(dqn, "sync_target", recording_sync)
        monkeypatch.setattr(dqn, "dqn_loss", recording_loss)
        config = _small_config(learning_starts=0, train_freq=10, gradient_steps=3, target_update_interval=40)
        dqn.train(config, seed=0, total_steps=200, progress=False)
        # syncs after env steps 40, 80, ..., 200, i.e. after 4, 8, ..., 20 training phases of 3 gradient steps
        assert synced_at == [12, 24, 36, 48, 60]
        assert len(calls) == 60
        for start in (0, 12, 24, 36, 48):
            block = calls[start:start + 12]
            assert all(torch.equal(a, b) for params in block for a, b in zip(block[0], params))
        # and it does change at a sync (the online net has learned in between)
        assert not all(torch.equal(a, b) for a, b in zip(calls[11], calls[12]))

    @pytest.mark.filterwarnings("ignore:.*reward is a NaN")
    def test_nan_guard(self):
        gym.register(id="test_value_based/NanReward-v0", entry_point=f"{__name__}:_NanRewardEnv")
        try:
            with pytest.raises(FloatingPointError, match="q_loss"):
                dqn.train(_small_config(env_id="test_value_based/NanReward-v0"), total_steps=300, progress=False)
        finally:
            del gym.registry["test_value_based/NanReward-v0"]

    def test_agent_act(self):
        agent = DQNAgent(_linear_net([[1.0, 0.0], [0.0, 1.0]]), n_actions=2, epsilon=1.0, seed=0)
        obs = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 4.0]], dtype=np.float32)
        np.testing.assert_array_equal(agent.act(obs), [0, 1, 0])
        np.testing.assert_allclose(agent.q_values(obs), obs)
        random_actions = agent.act(np.zeros((4000, 2), dtype=np.float32), deterministic=False)
        assert random_actions.dtype == np.int64 and abs(random_actions.mean() - 0.5) < 0.05
        with pytest.raises(ValueError, match="shape"):
            agent.act(np.zeros(2, dtype=np.float32))


class _NanRewardEnv(gym.Env):
    """One-dimensional observation, reward NaN: DQN's loss becomes NaN as soon as it learns."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), float("nan"), False, False, {}


@pytest.mark.parametrize("terminate_at, expected", [
    # truncation at t = 5 is bootstrapped: every state is worth 1 / (1 - gamma) = 2
    (None, [2.0, 2.0, 2.0, 2.0, 2.0]),
    # termination at t = 5: (1 - gamma^H) / (1 - gamma) with H = 5 - t steps left
    (5, [1.9375, 1.875, 1.75, 1.5, 1.0]),
])
def test_dqn_bootstraps_truncation_but_not_termination(terminate_at, expected):
    """The counting env's observation is the time t / 5, so a net could represent either value function: which one
    DQN learns shows whether the buffer stored `terminated` (right) or `terminated or truncated` (wrong)."""
    config = DQNConfig(env_id="course_lib/Counting-v0", env_kwargs=dict(time_limit=5, terminate_at=terminate_at),
                       gamma=0.5, hidden=(32,), learning_rate=3e-3, batch_size=64, learning_starts=200,
                       train_freq=1, gradient_steps=1, target_update_interval=100, epsilon_decay_steps=0,
                       epsilon_end=1.0, log_interval=500)
    agent, _ = dqn.train(config, seed=0, total_steps=2000, progress=False)
    obs = (np.arange(5, dtype=np.float32) / 5)[:, None]
    np.testing.assert_allclose(agent.q_values(obs), np.repeat(np.array(expected)[:, None], 2, axis=1), atol=0.08)
