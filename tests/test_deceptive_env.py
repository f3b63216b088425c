"""The deceptive corridor: dynamics and rewards by hand, exact returns of fixed policies against rollouts,
the Gymnasium 1.x API through the course's vector env, and the entropy helpers against closed forms."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from course_lib.deceptive_env import (
    DECEPTIVE_CORRIDOR_ID,
    GO,
    STOP,
    DeceptiveCorridor,
    categorical_entropy,
    expected_return,
    max_entropy,
    success_probability,
)
from course_lib.envs import check_spaces, make_vec_env


def run_episode(env, actions):
    """Step through `actions` from a reset; returns (rewards, positions seen, terminated flags)."""
    obs, _ = env.reset(seed=0)
    rewards, positions, flags = [], [int(np.argmax(obs))], []
    for a in actions:
        obs, r, terminated, truncated, _ = env.step(a)
        assert truncated is False
        rewards.append(r)
        positions.append(int(np.argmax(obs)))
        flags.append(terminated)
        if terminated:
            break
    return rewards, positions, flags


def test_observation_is_a_one_hot_of_the_position_and_spaces_are_supported():
    env = DeceptiveCorridor(length=4)
    obs, info = env.reset(seed=3)
    assert info == {} and obs.dtype == np.float32 and obs.shape == (4,)
    assert obs.tolist() == [1.0, 0.0, 0.0, 0.0]
    obs, *_ = env.step(GO)
    assert obs.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert env.observation_space.contains(obs)
    info = check_spaces(env.observation_space, env.action_space)
    assert (info.obs_dim, info.act_dim, info.discrete) == (4, 2, True)


def test_stopping_at_the_door_earns_the_coin_and_ends_the_episode():
    rewards, positions, flags = run_episode(DeceptiveCorridor(length=5, coin=0.3, treasure=1.0), [STOP])
    assert rewards == [0.3] and flags == [True] and positions == [0, 0]


def test_going_all_the_way_earns_the_treasure_after_length_steps():
    env = DeceptiveCorridor(length=5, coin=0.3, treasure=1.0)
    rewards, positions, flags = run_episode(env, [GO] * 10)
    assert rewards == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert flags == [False, False, False, False, True]
    assert positions == [0, 1, 2, 3, 4, 4]


@pytest.mark.parametrize("stop_at", [1, 2, 4])
def test_stopping_inside_the_corridor_earns_nothing(stop_at):
    rewards, positions, flags = run_episode(DeceptiveCorridor(length=5), [GO] * stop_at + [STOP])
    assert rewards == [0.0] * (stop_at + 1) and flags[-1] is True and positions[-1] == stop_at


def test_invalid_constructor_arguments_and_actions_are_refused():
    for kwargs in (dict(length=0), dict(length=2.5), dict(coin=-1.0), dict(treasure=float("nan")),
                   dict(coin=True)):
        with pytest.raises(ValueError):
            DeceptiveCorridor(**kwargs)
    env = DeceptiveCorridor()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(2)


def test_registered_id_works_with_gym_make_and_the_course_vector_env():
    env = gym.make(DECEPTIVE_CORRIDOR_ID)
    assert env.unwrapped.length == 6 and env.unwrapped.coin == 0.3 and env.unwrapped.treasure == 1.0
    env.close()
    envs = make_vec_env(DECEPTIVE_CORRIDOR_ID, 3, seed=0)
    try:
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (3, 6)
        obs, r, term, trunc, _ = envs.step(np.array([STOP, GO, GO]))
        assert r.tolist() == [0.3, 0.0, 0.0] and term.tolist() == [True, False, False]
        # next-step autoreset: the env that ended returns its reset observation with reward 0
        obs, r, term, trunc, _ = envs.step(np.array([GO, GO, STOP]))
        assert obs[0].tolist() == [1, 0, 0, 0, 0, 0] and r.tolist() == [0.0, 0.0, 0.0]
    finally:
        envs.close()


def test_returns_of_fixed_policies_computed_by_hand():
    # always stop: the coin; always go: the treasure; go at the door then stop: 0
    assert expected_return(np.zeros(6), coin=0.3, treasure=1.0) == pytest.approx(0.3)
    assert expected_return(np.ones(6), coin=0.3, treasure=1.0) == pytest.approx(1.0)
    assert expected_return(np.array([1, 0, 0, 0, 0, 0.0])) == pytest.approx(0.0)
    # uniform policy: 0.5 * 0.3 + 0.5^6 * 1 = 0.165625
    assert expected_return(np.full(6, 0.5)) == pytest.approx(0.15 + 1 / 64)
    # discounted: the treasure arrives on the 6th step, so it is worth gamma^5
    assert expected_return(np.ones(6), gamma=0.9) == pytest.approx(0.9**5)
    assert success_probability(np.full(6, 0.5)) == pytest.approx(1 / 64)
    with pytest.raises(ValueError):
        expected_return(np.array([0.5, 1.5]))


def test_the_corridor_is_deceptive_under_the_uniform_policy():
    """At the door, going is worth less than the coin while the policy is uniform, though going always is best."""
    length, coin, gamma = 6, 0.3, 0.98
    q_go_uniform = gamma ** (length - 1) * 0.5 ** (length - 1) * 1.0  # go now, then survive L-1 coin flips
    assert q_go_uniform < coin < expected_return(np.ones(length), coin=coin, gamma=gamma)


@pytest.mark.parametrize("p_go", [np.full(6, 0.5), np.array([0.9, 0.8, 0.95, 0.7, 0.9, 0.85]),
                                  np.array([0.2, 1.0, 1.0, 1.0, 1.0, 1.0])])
def test_exact_return_agrees_with_sampled_episodes(p_go):
    env = DeceptiveCorridor()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = 20_000
    returns = np.empty(n)
    for i in range(n):
        env.reset()
        total, done = 0.0, False
        while not done:
            action = GO if rng.random() < p_go[env.position] else STOP
            _, r, done, _, _ = env.step(action)
            total += r
        returns[i] = total
    standard_error = returns.std() / math.sqrt(n)
    assert abs(returns.mean() - expected_return(p_go)) < 5 * standard_error + 1e-12


@pytest.mark.parametrize("n_actions", [2, 3, 7])
def test_entropy_is_log_a_at_uniform_and_zero_when_deterministic(n_actions):
    uniform = torch.full((n_actions,), 1.0 / n_actions, dtype=torch.float64)
    assert categorical_entropy(uniform).item() == pytest.approx(math.log(n_actions))
    assert max_entropy(n_actions) == pytest.approx(math.log(n_actions))
    one_hot = torch.zeros(n_actions, dtype=torch.float64)
    one_hot[0] = 1.0
    assert categorical_entropy(one_hot).item() == 0.0


def test_entropy_matches_torch_and_a_hand_value_and_never_exceeds_log_a():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]], dtype=torch.float64)
    by_hand = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    h = categorical_entropy(probs)
    assert h[0].item() == pytest.approx(by_hand) and h[1].item() == pytest.approx(math.log(2))
    random_probs = torch.softmax(torch.randn(200, 4, generator=torch.Generator().manual_seed(0)), -1)
    torch_h = torch.distributions.Categorical(probs=random_probs).entropy()
    assert torch.allclose(categorical_entropy(random_probs), torch_h, atol=1e-6)
    assert torch.all(categorical_entropy(random_probs) <= math.log(4) + 1e-6)
    with pytest.raises(ValueError):
        max_entropy(0)


def test_ppo_logs_the_entropy_of_a_near_uniform_policy_at_its_first_update():
    """The History's entropy column is the policy's mean entropy: at the start (policy head initialised near 0)
    it is within a few percent of log 2, and never above it."""
    from course_lib.algos import ppo

    torch.set_num_threads(1)
    config = ppo.PPOConfig(env_id=DECEPTIVE_CORRIDOR_ID, update_epochs=1, ent_coef=0.5)
    agent, history = ppo.train(config, seed=0, total_steps=config.batch_size, progress=False)
    first = history.column("entropy")[0]
    assert 0.97 * math.log(2) < first <= math.log(2) + 1e-6
    with torch.no_grad():
        probs = agent.distribution(torch.eye(6)).probs
    assert torch.all(categorical_entropy(probs) <= math.log(2) + 1e-6)
