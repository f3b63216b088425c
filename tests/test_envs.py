"""Tests for course_lib.envs: constructors, the autoreset check, the space check and the two tiny MDPs."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from course_lib.envs import (
    COUNTING_ENV_ID,
    TWO_STATE_CHAIN_ID,
    CountingEnv,
    SpaceInfo,
    TwoStateChain,
    check_next_step_autoreset,
    check_spaces,
    make_env,
    make_vec_env,
)


# ------------------------------------------------------------------ CountingEnv
def test_counting_env_follows_gymnasium_api():
    # the official checker: reset(seed=, options=) -> (obs, info), 5-tuple steps, obs in the declared spaces
    check_env(gym.make(COUNTING_ENV_ID, time_limit=50).unwrapped, skip_render_check=True)


def test_counting_env_episode_is_exact():
    env = CountingEnv(time_limit=3)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (1,) and obs[0] == 0.0 and info == {}
    steps = [env.step(0) for _ in range(3)]
    np.testing.assert_allclose([s[0][0] for s in steps], [1 / 3, 2 / 3, 1.0], rtol=1e-6)
    assert [s[1] for s in steps] == [1.0, 1.0, 1.0]
    assert [s[2] for s in steps] == [False, False, False]
    assert [s[3] for s in steps] == [False, False, True]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_counting_env_terminate_at():
    env = CountingEnv(time_limit=5, terminate_at=2)
    env.reset()
    flags = [env.step(1)[2:4] for _ in range(2)]
    assert flags == [(False, False), (True, False)]
    # both flags on the same step when the two limits coincide
    env = CountingEnv(time_limit=2, terminate_at=2)
    env.reset()
    env.step(0)
    assert env.step(0)[2:4] == (True, True)


def test_counting_env_registered_and_kwargs_pass_through():
    env = gym.make(COUNTING_ENV_ID, time_limit=2)
    assert env.unwrapped.time_limit == 2
    env.reset(seed=1)
    env.step(0)
    assert env.step(0)[3] is True


@pytest.mark.parametrize("kwargs, name", [({"time_limit": 0}, "time_limit"), ({"terminate_at": 1.5}, "terminate_at")])
def test_counting_env_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CountingEnv(**kwargs)


def test_counting_env_vectorises_with_next_step_autoreset():
    envs = make_vec_env(COUNTING_ENV_ID, 2, seed=0, vectorization_mode="sync", time_limit=2)
    assert isinstance(envs, gym.vector.SyncVectorEnv)
    obs = [envs.step(np.zeros(2, dtype=np.int64)) for _ in range(4)]
    # t=1, t=2 (truncated), fake reset step (reward 0, no flags), t=1 again
    np.testing.assert_allclose([o[0][0, 0] for o in obs], [0.5, 1.0, 0.0, 0.5])
    np.testing.assert_array_equal([o[1][0] for o in obs], [1.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal([o[3][0] for o in obs], [False, True, False, False])


# ------------------------------------------------------------------ TwoStateChain
def test_two_state_chain_follows_gymnasium_api():
    check_env(gym.make(TWO_STATE_CHAIN_ID).unwrapped, skip_render_check=True)


def test_two_state_chain_dynamics_and_time_limit():
    env = TwoStateChain(rewards=(2.0, -1.0), time_limit=3)
    s, _ = env.reset(options={"state": 1})
    assert s == 1
    assert env.step(0)[:4] == (1, -1.0, False, False)  # stay, paid r1
    assert env.step(1)[:4] == (0, -1.0, False, False)  # move, still paid r1 (the state we left)
    assert env.step(1)[:4] == (1, 2.0, False, True)  # truncated at the time limit
    assert env.reset()[0] == 0  # default start state
    with pytest.raises(ValueError, match="action"):
        env.step(2)
    with pytest.raises(ValueError, match="state"):
        env.reset(options={"state": 2})
    with pytest.raises(ValueError, match="rewards"):
        TwoStateChain(rewards=(1.0,))
    with pytest.raises(ValueError, match="start_state"):
        TwoStateChain(start_state=True)
    never = TwoStateChain(time_limit=None)
    never.reset()
    assert not any(never.step(1)[3] for _ in range(500))


def _model_from_env(env: TwoStateChain) -> tuple[np.ndarray, np.ndarray]:
    """Read next state and reward for every (s, a) by stepping the env itself: shapes (2, 2) each."""
    next_state = np.zeros((2, 2), dtype=int)
    reward = np.zeros((2, 2))
    for s in (0, 1):
        for a in (0, 1):
            env.reset(options={"state": s})
            s_next, r, *_ = env.step(a)
            next_state[s, a], reward[s, a] = s_next, r
    return next_state, reward


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("move_probs", [(0.5, 0.5), (0.1, 0.8), (0.0, 0.0), (1.0, 1.0), (0.3, 0.0)])
def test_two_state_chain_closed_form_matches_iterative_policy_evaluation(gamma, move_probs):
    env = TwoStateChain(rewards=(1.5, -0.5))
    next_state, reward = _model_from_env(env)
    pi = np.array([[1 - move_probs[0], move_probs[0]], [1 - move_probs[1], move_probs[1]]])  # pi[s, a]
    v = np.zeros(2)
    # iterative policy evaluation: V(s) <- sum_a pi(a|s) [r(s, a) + gamma V(s'(s, a))]
    for _ in range(5000):
        v_new = (pi * (reward + gamma * v[next_state])).sum(axis=1)
        if np.max(np.abs(v_new - v)) < 1e-12:
            break
        v = v_new
    np.testing.assert_allclose(env.true_values(gamma, move_probs), v, rtol=1e-9, atol=1e-9)
    # the transition matrix agrees with the dynamics too
    p = np.zeros((2, 2))
    for s in (0, 1):
        for a in (0, 1):
            p[s, next_state[s, a]] += pi[s, a]
    np.testing.assert_allclose(env.transition_matrix(move_probs), p)


def test_two_state_chain_values_by_monte_carlo():
    # sampled discounted returns under the policy approach the closed form (independent of the algebra)
    gamma, move_probs = 0.8, (0.3, 0.6)
    env = TwoStateChain(rewards=(1.0, 3.0), time_limit=None)
    rng = np.random.default_rng(0)
    horizon = 60  # gamma^60 ~ 1.5e-6: the tail is negligible
    returns = []
    for _ in range(3000):
        s, _ = env.reset(options={"state": 0})
        g, discount = 0.0, 1.0
        for _ in range(horizon):
            a = int(rng.random() < move_probs[s])
            s, r, *_ = env.step(a)
            g += discount * r
            discount *= gamma
        returns.append(g)
    returns = np.array(returns)
    se = returns.std() / np.sqrt(len(returns))
    assert abs(returns.mean() - env.true_values(gamma, move_probs)[0]) < 4 * se + 1e-5


def test_two_state_chain_rejects_bad_gamma_and_probs():
    env = TwoStateChain()
    with pytest.raises(ValueError, match="gamma"):
        env.true_values(1.0)
    with pytest.raises(ValueError, match="gamma"):
        env.true_values(-0.1)
    with pytest.raises(ValueError, match=r"move_probs\[1\]"):
        env.true_values(0.5, (0.5, 1.5))
    with pytest.raises(ValueError, match=r"move_probs\[0\]"):
        env.transition_matrix((-0.5, 0.5))


# ------------------------------------------------------------------ constructors and checks
def test_make_env_is_seeded():
    def first_obs_and_samples(seed):
        env = make_env("CartPole-v1", seed=seed)
        obs, _ = env.reset()  # continues the seeded stream
        return obs, [env.action_space.sample() for _ in range(10)]

    a, b, c = first_obs_and_samples(3), first_obs_and_samples(3), first_obs_and_samples(4)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert not np.array_equal(a[0], c[0])


def test_make_env_allows_discrete_observations():
    env = make_env(TWO_STATE_CHAIN_ID, seed=0, rewards=(0.0, 2.0))
    assert isinstance(env.observation_space, spaces.Discrete)
    assert env.unwrapped.rewards == (0.0, 2.0)


def test_make_vec_env_defaults_to_native_cartpole_and_seeds():
    envs = make_vec_env("CartPole-v1", 3, seed=7)
    assert type(envs).__name__ == "CartPoleVectorEnv"
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    again = make_vec_env("CartPole-v1", 3, seed=7)
    for _ in range(20):
        acts = envs.action_space.sample()
        np.testing.assert_array_equal(acts, again.action_space.sample())
        np.testing.assert_array_equal(envs.step(acts)[0], again.step(acts)[0])


def test_make_vec_env_sync_seeds_copy_i_with_seed_plus_i():
    envs = make_vec_env("CartPole-v1", 3, seed=10, vectorization_mode="sync")
    obs, _ = envs.reset(seed=10)
    for i in range(3):
        single = gym.make("CartPole-v1")
        np.testing.assert_array_equal(obs[i], single.reset(seed=10 + i)[0])


def test_make_vec_env_with_wrappers_uses_sync():
    envs = make_vec_env(
        "CartPole-v1", 2, seed=0, wrappers=[lambda e: gym.wrappers.TransformReward(e, lambda r: 2 * r)]
    )
    assert isinstance(envs, gym.vector.SyncVectorEnv)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    np.testing.assert_array_equal(envs.step(np.zeros(2, dtype=np.int64))[1], [2.0, 2.0])


def test_make_vec_env_rejects_bad_num_envs():
    with pytest.raises(ValueError, match="num_envs"):
        make_vec_env("CartPole-v1", 0, seed=0)


def test_autoreset_check_names_the_mode():
    same_step = gym.vector.SyncVectorEnv(
        [lambda: CountingEnv()], autoreset_mode=AutoresetMode.SAME_STEP
    )
    with pytest.raises(ValueError, match="autoreset_mode.*NEXT_STEP.*SAME_STEP"):
        check_next_step_autoreset(same_step)
    check_next_step_autoreset(gym.vector.SyncVectorEnv([lambda: CountingEnv()]))  # no error


def test_make_vec_env_closes_and_raises_for_other_autoreset_modes(monkeypatch):
    # make_vec_env must refuse a vector env in another mode; simulate one coming out of gym.make_vec
    def fake_make_vec(*args, **kwargs):
        return gym.vector.SyncVectorEnv([lambda: CountingEnv()], autoreset_mode=AutoresetMode.DISABLED)

    monkeypatch.setattr(gym, "make_vec", fake_make_vec)
    with pytest.raises(ValueError, match="DISABLED"):
        make_vec_env(COUNTING_ENV_ID, 1, seed=0)


@pytest.mark.parametrize(
    "obs_space, act_space, expected",
    [
        (spaces.Box(-1, 1, (4,)), spaces.Discrete(2), SpaceInfo(4, 2, True)),
        (spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (1,)), SpaceInfo(3, 1, False)),
        (spaces.Box(-1, 1, (5,)), spaces.Box(-1, 1, (6,)), SpaceInfo(5, 6, False)),
    ],
)
def test_check_spaces_accepts_and_reports_sizes(obs_space, act_space, expected):
    assert check_spaces(obs_space, act_space) == expected


@pytest.mark.parametrize(
    "obs_space, act_space, named",
    [
        (spaces.Box(-1, 1, (4, 4)), spaces.Discrete(2), "observation_space Box"),
        (spaces.Discrete(3), spaces.Discrete(2), "observation_space Discrete"),
        (spaces.Dict({"x": spaces.Box(-1, 1, (2,))}), spaces.Discrete(2), "observation_space Dict"),
        (spaces.Box(-1, 1, (4,)), spaces.MultiDiscrete([2, 3]), "action_space MultiDiscrete"),
        (spaces.Box(-1, 1, (4,)), spaces.Dict({"a": spaces.Discrete(2)}), "action_space Dict"),
        (spaces.Box(-1, 1, (4,)), spaces.Box(-1, 1, (2, 2)), "action_space Box"),
        (spaces.Box(-1, 1, (4,)), spaces.Discrete(3, start=1), "action_space Discrete"),
    ],
)
def test_check_spaces_rejects_with_a_message_naming_the_space(obs_space, act_space, named):
    with pytest.raises(ValueError, match=named) as err:
        check_spaces(obs_space, act_space)
    assert "supported:" in str(err.value)
