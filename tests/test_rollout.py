"""Tests for course_lib.rollout: next-step autoreset bookkeeping, stored values, clipping, statistics, seeding."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from course_lib.advantages import gae
from course_lib.envs import COUNTING_ENV_ID, CountingEnv, TwoStateChain, make_vec_env
from course_lib.networks import CategoricalActor, Critic, GaussianActor, make_actor
from course_lib.rollout import FlatBatch, Rollout, RolloutCollector, actor_critic_step


# ------------------------------------------------------------------ helpers
def counting_reference(time_limit: int, terminate_at: int | None, steps: int) -> dict[str, np.ndarray]:
    """Hand-tracked next-step autoreset for one CountingEnv: what the collector must store, step by step.

    Written from the gymnasium 1.x rule, independently of the collector: after an episode ends, the next
    step is an autoreset step (obs stored = the final obs, reward 0, no flags, invalid).
    """
    rows = []
    t, obs, prev_done = 0, 0.0, False
    for _ in range(steps):
        if prev_done:
            rows.append((obs, False, 0.0, False, False))
            t, obs, prev_done = 0, 0.0, False
        else:
            t += 1
            term = terminate_at is not None and t == terminate_at
            trunc = t == time_limit
            rows.append((obs, True, 1.0, term, trunc))
            obs, prev_done = t / time_limit, term or trunc
    obs_, valid, rew, term, trunc = map(np.array, zip(*rows))
    return {"obs": obs_, "valid": valid, "rewards": rew, "terminated": term, "truncated": trunc}


class ObsCritic(torch.nn.Module):
    """A fixed, non-constant critic of a 1-D observation: V(s) = 3 s^2 + 1 (makes V(final obs) recognisable)."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return 3 * obs[:, 0] ** 2 + 1


def _concat(rollouts: list[Rollout], name: str) -> np.ndarray:
    return torch.cat([getattr(r, name) for r in rollouts]).numpy()


# ------------------------------------------------------------------ autoreset bookkeeping
def test_counting_sync_literal_expectation_across_rollouts():
    # time limit 4, T = 4: the autoreset step of the first episode is t = 0 of the second rollout
    envs = make_vec_env(COUNTING_ENV_ID, 2, seed=0, vectorization_mode="sync", time_limit=4)
    assert isinstance(envs, SyncVectorEnv)
    collector = RolloutCollector(envs, actor_critic_step(CategoricalActor(1, 2), ObsCritic()), num_steps=4)
    r1, r2, r3 = collector.collect(), collector.collect(), collector.collect()
    expected = {
        "obs": [[0, 0.25, 0.5, 0.75], [1.0, 0, 0.25, 0.5], [0.75, 1.0, 0, 0.25]],
        "valid": [[1, 1, 1, 1], [0, 1, 1, 1], [1, 0, 1, 1]],
        "truncated": [[0, 0, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]],
        "rewards": [[1, 1, 1, 1], [0, 1, 1, 1], [1, 0, 1, 1]],
    }
    for r, k in zip((r1, r2, r3), range(3)):
        for i in range(2):  # both envs are identical here
            np.testing.assert_allclose(r.obs[:, i, 0].numpy(), expected["obs"][k])
            np.testing.assert_array_equal(r.valid[:, i].numpy(), np.array(expected["valid"][k], dtype=bool))
            np.testing.assert_array_equal(r.truncated[:, i].numpy(), expected["truncated"][k])
            np.testing.assert_array_equal(r.rewards[:, i].numpy(), expected["rewards"][k])
        assert r.terminated.sum() == 0
    # episodes: one per env ends in rollout 1, none in rollout 2, the one spanning rollouts 2-3 ends in 3
    assert (r1.episode_returns, r1.episode_lengths) == ([4.0, 4.0], [4, 4])
    assert (r2.episode_returns, r2.episode_lengths) == ([], [])
    assert (r3.episode_returns, r3.episode_lengths) == ([4.0, 4.0], [4, 4])
    assert r1.episode_env_steps == [8, 8] and r3.episode_env_steps == [18, 18]  # 9th vector step, 2 envs
    assert collector.total_steps == 24 and collector.total_valid_steps == 20


@pytest.mark.parametrize("num_steps", [3, 7])
def test_counting_mixed_limits_match_hand_tracked_reference(num_steps):
    # different time limits and a termination per copy; several rollouts back to back
    specs = [(2, None), (5, 3), (3, 3), (4, None)]
    envs = SyncVectorEnv([lambda k=k, e=e: CountingEnv(time_limit=k, terminate_at=e) for k, e in specs])
    collector = RolloutCollector(envs, actor_critic_step(CategoricalActor(1, 2), ObsCritic()), num_steps=num_steps)
    rollouts = [collector.collect() for _ in range(5)]
    total = 5 * num_steps
    for i, (k, e) in enumerate(specs):
        ref = counting_reference(k, e, total)
        np.testing.assert_allclose(_concat(rollouts, "obs")[:, i, 0], ref["obs"], rtol=1e-6)
        np.testing.assert_array_equal(_concat(rollouts, "valid")[:, i], ref["valid"])
        np.testing.assert_array_equal(_concat(rollouts, "rewards")[:, i], ref["rewards"])
        np.testing.assert_array_equal(_concat(rollouts, "terminated")[:, i], ref["terminated"])
        np.testing.assert_array_equal(_concat(rollouts, "truncated")[:, i], ref["truncated"])
    # every finished episode of env i has return = length = min(limit, terminate_at)
    lengths = sorted(length for r in rollouts for length in r.episode_lengths)
    expected_lengths = []
    for k, e in specs:
        ref = counting_reference(k, e, total)
        n_done = int((ref["terminated"] | ref["truncated"]).sum())
        expected_lengths += [min(k, e or k)] * n_done
    assert lengths == sorted(expected_lengths)
    assert [float(x) for x in lengths] == sorted(ret for r in rollouts for ret in r.episode_returns)
    assert collector.total_valid_steps == sum(int(counting_reference(k, e, total)["valid"].sum()) for k, e in specs)


def test_fake_step_stores_value_of_final_obs_and_bootstraps_truncation():
    critic = ObsCritic()
    envs = make_vec_env(COUNTING_ENV_ID, 1, seed=0, vectorization_mode="sync", time_limit=3)
    collector = RolloutCollector(envs, actor_critic_step(CategoricalActor(1, 2), critic), num_steps=5)
    r = collector.collect()  # obs 0, 1/3, 2/3, [1.0 invalid], 0
    v_final = float(critic(torch.tensor([[1.0]])))  # = 4.0
    assert not r.valid[3, 0]
    assert float(r.values[3, 0]) == pytest.approx(v_final)
    # V(s_{t+1}) of the truncated step t = 2 is V(final obs)
    assert r.truncated[2, 0] == 1.0
    assert float(r.next_values()[2, 0]) == pytest.approx(v_final)
    gamma = 0.9
    adv = gae(r.rewards, r.values, r.next_values(), r.terminated, r.truncated, gamma, 0.95).advantages
    # done at t = 2, so A_2 = delta_2 = 1 + gamma V(final) - V(2/3)
    assert float(adv[2, 0]) == pytest.approx(1 + gamma * v_final - float(critic(torch.tensor([[2 / 3]]))))
    # the same when the autoreset step is t = 0 of the next rollout: it is last_values of this one
    envs = make_vec_env(COUNTING_ENV_ID, 1, seed=0, vectorization_mode="sync", time_limit=3)
    collector = RolloutCollector(envs, actor_critic_step(CategoricalActor(1, 2), critic), num_steps=3)
    first, second = collector.collect(), collector.collect()
    assert first.truncated[-1, 0] == 1.0
    assert float(first.last_values[0]) == pytest.approx(v_final)
    torch.testing.assert_close(first.last_obs, torch.tensor([[1.0]]))
    assert not second.valid[0, 0] and float(second.values[0, 0]) == pytest.approx(v_final)


def _native_cartpole(num_envs: int, seed: int, **kwargs) -> gym.vector.VectorEnv:
    envs = gym.make_vec("CartPole-v1", num_envs=num_envs, **kwargs)
    envs.reset(seed=seed)
    return envs


def _always(action: int):
    """A PolicyFn that always takes ``action`` and reports logp 0 and value = sum of the obs."""

    def step(obs: torch.Tensor):
        n = obs.shape[0]
        return torch.full((n,), action, dtype=torch.int64), torch.zeros(n), obs.sum(1)

    return step


def test_native_cartpole_vector_env_autoreset_steps_are_invalid():
    envs = _native_cartpole(3, seed=1)
    assert type(envs).__name__ == "CartPoleVectorEnv"
    collector = RolloutCollector(envs, _always(0), num_steps=40)  # pushing left: the pole falls fast
    rollouts = [collector.collect() for _ in range(2)]
    obs, valid = _concat(rollouts, "obs"), _concat(rollouts, "valid")
    term, trunc, rew = _concat(rollouts, "terminated"), _concat(rollouts, "truncated"), _concat(rollouts, "rewards")
    values = _concat(rollouts, "values")
    done = np.maximum(term, trunc).astype(bool)
    assert done.sum() >= 6  # several episodes per env, so the checks below bite
    # hand-tracked: valid[t] = not done[t - 1]; the first step ever is valid
    expected_valid = np.ones_like(valid)
    expected_valid[1:] = ~done[:-1]
    np.testing.assert_array_equal(valid, expected_valid)
    # autoreset steps: reward 0 and no flags; the stored obs is the final obs (outside the allowed angle),
    # its value is V(final obs), and the next obs is a fresh reset state (every entry in [-0.05, 0.05])
    np.testing.assert_array_equal(rew[~valid], 0.0)
    assert not done[~valid].any()
    theta_limit = 12 * 2 * np.pi / 360
    for t, i in zip(*np.nonzero(~valid)):
        assert abs(obs[t, i, 2]) > theta_limit or abs(obs[t, i, 0]) > 2.4
        assert values[t, i] == pytest.approx(obs[t, i].sum(), rel=1e-6)
        if t + 1 < len(valid):
            assert np.all(np.abs(obs[t + 1, i]) <= 0.05)
    # valid steps are real: reward 1 each, and every episode's length equals its return
    np.testing.assert_array_equal(rew[valid], 1.0)
    rets = [x for r in rollouts for x in r.episode_returns]
    lens = [x for r in rollouts for x in r.episode_lengths]
    assert rets == [float(n) for n in lens] and len(rets) == done.sum()


def test_native_cartpole_truncation_pattern():
    # alternating actions keep the pole up for 5 steps, so every episode is cut by max_episode_steps=5
    envs = _native_cartpole(2, seed=0, max_episode_steps=5)
    flip = {"a": 0}

    def alternate(obs):
        flip["a"] ^= 1
        n = obs.shape[0]
        return torch.full((n,), flip["a"], dtype=torch.int64), torch.zeros(n), torch.zeros(n)

    collector = RolloutCollector(envs, alternate, num_steps=8)
    rollouts = [collector.collect() for _ in range(3)]
    # period 6: five real steps (the 5th truncated), then one autoreset step
    pattern_valid = np.array([1, 1, 1, 1, 1, 0] * 4, dtype=bool)
    pattern_trunc = np.array([0, 0, 0, 0, 1, 0] * 4, dtype=np.float32)
    for i in range(2):
        np.testing.assert_array_equal(_concat(rollouts, "valid")[:, i], pattern_valid)
        np.testing.assert_array_equal(_concat(rollouts, "truncated")[:, i], pattern_trunc)
    assert [x for r in rollouts for x in r.episode_lengths] == [5] * 8
    assert [x for r in rollouts for x in r.episode_returns] == [5.0] * 8


# ------------------------------------------------------------------ continuous actions
class RecordingBoxEnv(gym.Env):
    """Box(-1, 1, (2,)) actions; remembers every action it receives. Observation: the step count."""

    def __init__(self):
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.received: list[np.ndarray] = []
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.received.append(np.array(action, copy=True))
        self.t += 1
        return np.array([self.t], np.float32), 0.0, False, self.t >= 50, {}


def test_stored_actions_are_unclipped_but_env_receives_clipped():
    torch.manual_seed(0)
    envs = SyncVectorEnv([RecordingBoxEnv, RecordingBoxEnv])
    actor = GaussianActor(1, 2, hidden=(8,), log_std_init=1.0)  # sigma = e: most samples leave [-1, 1]
    critic = Critic(1, hidden=(8,))
    rollout = RolloutCollector(envs, actor_critic_step(actor, critic), num_steps=30).collect()
    assert rollout.actions.shape == (30, 2, 2)
    stored = rollout.actions.numpy()
    assert (np.abs(stored) > 1).mean() > 0.3  # the test is only meaningful if clipping happened
    for i in range(2):
        received = np.stack(envs.envs[i].received)
        np.testing.assert_allclose(received, np.clip(stored[:, i], -1, 1))
    # logp is the density of the stored (unclipped) sample
    dist = actor.distribution(rollout.obs.reshape(-1, 1))
    logp = actor.log_prob(dist, rollout.actions.reshape(-1, 2)).reshape(30, 2)
    torch.testing.assert_close(rollout.logp, logp.detach(), atol=1e-5, rtol=1e-5)


def test_pendulum_rollout_shapes_and_truncation_only():
    envs = make_vec_env("Pendulum-v1", 2, seed=0)
    actor = make_actor(envs.single_observation_space, envs.single_action_space, hidden=(16,))
    collector = RolloutCollector(envs, actor_critic_step(actor, Critic(3, hidden=(16,))), num_steps=201)
    r = collector.collect()
    assert r.obs.shape == (201, 2, 3) and r.actions.shape == (201, 2, 1) and r.logp.shape == (201, 2)
    assert r.last_obs.shape == (2, 3) and r.last_values.shape == (2,)
    # Pendulum only ends by its 200-step time limit
    assert r.terminated.sum() == 0
    np.testing.assert_array_equal(r.truncated[199].numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(r.valid[200].numpy(), [False, False])
    assert r.episode_lengths == [200, 200]
    assert all(x < 0 for x in r.episode_returns)
    np.testing.assert_allclose(r.episode_returns, r.rewards[:200].sum(0).double().numpy(), rtol=1e-5)


# ------------------------------------------------------------------ reproducibility
def _collect_twice(env_id: str, seed: int, **kwargs) -> list[Rollout]:
    torch.manual_seed(seed)
    envs = make_vec_env(env_id, 3, seed=seed, **kwargs)
    actor = make_actor(envs.single_observation_space, envs.single_action_space, hidden=(16,))
    collector = RolloutCollector(envs, actor_critic_step(actor, Critic(envs.single_observation_space.shape[0], (16,))), 64)
    return [collector.collect(), collector.collect()]


@pytest.mark.parametrize("env_id, kwargs", [("CartPole-v1", {}), ("Pendulum-v1", {}), ("CartPole-v1", {"vectorization_mode": "sync"})])
def test_same_seed_same_rollouts(env_id, kwargs):
    a, b, c = _collect_twice(env_id, 3, **kwargs), _collect_twice(env_id, 3, **kwargs), _collect_twice(env_id, 4, **kwargs)
    for ra, rb in zip(a, b):
        for name in ["obs", "actions", "logp", "values", "rewards", "terminated", "truncated", "valid", "last_obs"]:
            assert torch.equal(getattr(ra, name), getattr(rb, name)), name
        assert ra.episode_returns == rb.episode_returns
    assert not torch.equal(a[0].obs, c[0].obs)


# ------------------------------------------------------------------ Rollout helpers
def _counting_rollout(num_steps=6, time_limit=2, num_envs=2) -> Rollout:
    envs = make_vec_env(COUNTING_ENV_ID, num_envs, seed=0, vectorization_mode="sync", time_limit=time_limit)
    return RolloutCollector(envs, actor_critic_step(CategoricalActor(1, 2), ObsCritic()), num_steps).collect()


def test_flat_keeps_exactly_the_valid_steps():
    r = _counting_rollout()
    assert r.num_steps == 6 and r.num_envs == 2
    # per env: valid, valid(trunc), invalid, valid, valid(trunc), invalid
    assert r.num_valid == 8
    est = gae(r.rewards, r.values, r.next_values(), r.terminated, r.truncated, 0.9, 0.95)
    batch = r.flat(est.advantages, est.returns)
    assert isinstance(batch, FlatBatch) and len(batch) == 8
    assert batch.obs.shape == (8, 1) and batch.actions.shape == (8,) and batch.ret.shape == (8,)
    # no autoreset step inside: their stored obs is the final obs 1.0
    assert torch.all(batch.obs < 1.0)
    torch.testing.assert_close(batch.values, ObsCritic()(batch.obs))
    torch.testing.assert_close(batch.ret, batch.adv + batch.values)
    torch.testing.assert_close(r.flatten_valid(r.rewards), torch.ones(8))
    mini = batch.select(torch.tensor([0, 3]))
    assert len(mini) == 2 and torch.equal(mini.obs, batch.obs[[0, 3]]) and torch.equal(mini.adv, batch.adv[[0, 3]])
    plain = r.flat()
    assert plain.adv is None and plain.ret is None and plain.select(torch.tensor([1])).adv is None
    with pytest.raises(ValueError, match="adv"):
        r.flat(est.advantages[:3])
    with pytest.raises(ValueError, match=r"\(T, N\)"):
        r.flatten_valid(torch.zeros(3, 2))


def test_next_values_are_the_values_shifted_and_dones_the_max_of_the_flags():
    r = _counting_rollout(num_steps=7, time_limit=3)
    torch.testing.assert_close(r.next_values(), torch.cat([r.values[1:], r.last_values[None]]))
    torch.testing.assert_close(r.dones, torch.maximum(r.terminated, r.truncated))


# ------------------------------------------------------------------ policy forms, normalisers, errors
def test_actor_critic_step_gives_the_actors_actions_and_the_critics_values():
    actor, critic = CategoricalActor(1, 2, hidden=(8,)), Critic(1, hidden=(8,))
    envs = make_vec_env(COUNTING_ENV_ID, 2, seed=0, vectorization_mode="sync", time_limit=3)
    torch.manual_seed(0)
    r = RolloutCollector(envs, actor_critic_step(actor, critic), 5).collect()
    with torch.no_grad():
        logp = actor.log_prob(actor.distribution(r.obs.reshape(-1, 1)), r.actions.reshape(-1)).reshape(5, 2)
        torch.testing.assert_close(r.values, critic(r.obs.reshape(-1, 1)).reshape(5, 2))
    torch.testing.assert_close(r.logp, logp)
    # last_values from the PolicyFn's value output
    torch.testing.assert_close(r.last_values, critic(r.last_obs).detach())


def test_obs_normaliser_and_reward_scaler_hooks():
    seen = []

    def normalise(obs):
        assert isinstance(obs, np.ndarray) and obs.shape == (1, 1)
        return 2 * obs - 1

    def scale(rewards, terminated, truncated, valid):
        assert isinstance(rewards, np.ndarray) and rewards.dtype == np.float32
        seen.append((np.maximum(terminated, truncated).copy(), valid.copy()))
        return 0.5 * rewards

    envs = make_vec_env(COUNTING_ENV_ID, 1, seed=0, vectorization_mode="sync", time_limit=2)
    collector = RolloutCollector(envs, actor_critic_step(CategoricalActor(1, 2), ObsCritic()), 6, obs_normaliser=normalise, reward_scaler=scale)
    r = collector.collect()
    np.testing.assert_allclose(r.obs[:, 0, 0].numpy(), 2 * np.array([0, 0.5, 1.0, 0, 0.5, 1.0]) - 1)
    np.testing.assert_allclose(r.rewards[:, 0].numpy(), [0.5, 0.5, 0, 0.5, 0.5, 0])
    assert r.episode_returns == [2.0, 2.0]  # raw
    np.testing.assert_array_equal([d[0] for d, _ in seen], [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal([v[0] for _, v in seen], [1, 1, 0, 1, 1, 0])  # the collector's own mask
    torch.testing.assert_close(r.last_obs, torch.tensor([[-1.0]]))


def test_real_normalisers_see_the_raw_stream_and_skip_autoreset_steps():
    # a policy that ignores its input makes the raw trajectory the same with and without normalisation, so
    # replaying the raw rollout through fresh normalisers must reproduce what the collector stored
    from course_lib.normalisation import ObsNormaliser, RewardScaler

    def run(obs_norm=None, reward_scaler=None):
        envs = _native_cartpole(2, seed=3)
        collector = RolloutCollector(envs, _always(1), 30, obs_normaliser=obs_norm, reward_scaler=reward_scaler)
        return collector.collect()

    raw = run()
    assert (~raw.valid).any()
    obs_norm, scaler = ObsNormaliser((4,)), RewardScaler(gamma=0.9, num_envs=2)
    scaled = run(ObsNormaliser((4,)), RewardScaler(gamma=0.9, num_envs=2))
    assert scaled.episode_returns == raw.episode_returns
    for t in range(30):
        torch.testing.assert_close(scaled.obs[t], torch.as_tensor(obs_norm(raw.obs[t].numpy()), dtype=torch.float32))
        expected = scaler(raw.rewards[t].numpy(), raw.terminated[t].numpy(), raw.truncated[t].numpy(), raw.valid[t].numpy())
        torch.testing.assert_close(scaled.rewards[t], torch.as_tensor(expected, dtype=torch.float32))
    assert not torch.allclose(scaled.rewards, raw.rewards)


def test_collector_rejects_bad_arguments():
    envs = make_vec_env(COUNTING_ENV_ID, 1, seed=0, vectorization_mode="sync")
    actor, critic = CategoricalActor(1, 2), Critic(1)
    with pytest.raises(ValueError, match=r"^policy must be a function obs -> \(actions, logp, values\).*; got "
                                         r"CategoricalActor$"):
        RolloutCollector(envs, actor, 4)
    with pytest.raises(ValueError, match="policy must be a function.*; got str"):
        RolloutCollector(envs, "policy", 4)
    with pytest.raises(ValueError, match="num_steps"):
        RolloutCollector(envs, actor_critic_step(actor, critic), 0)
    same_step = SyncVectorEnv([CountingEnv], autoreset_mode=AutoresetMode.SAME_STEP)
    with pytest.raises(ValueError, match="NEXT_STEP"):
        RolloutCollector(same_step, actor_critic_step(actor, critic), 4)
    tabular = SyncVectorEnv([TwoStateChain])
    with pytest.raises(ValueError, match="observation_space Discrete"):
        RolloutCollector(tabular, actor_critic_step(actor, critic), 4)
