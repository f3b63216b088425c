"""Tests for course_lib.record and course_lib.evaluation: the run record, steps-to-threshold, the NaN guard, evaluation, animation."""
import base64
import io
import re

import gymnasium as gym
import numpy as np
import pytest
import torch

from course_lib.evaluation import EvalResult, RandomPolicy, animate_episode, evaluate, frames_to_gif
from course_lib.record import History, UpdateRow, check_finite, progress, steps_to_threshold


def _history_with_returns(returns, steps_per_episode=10):
    h = History()
    for k, r in enumerate(returns):
        h.add_episode((k + 1) * steps_per_episode, r, steps_per_episode)
    return h


# ---- steps_to_threshold ---------------------------------------------------------------------------------------


def test_steps_to_threshold_first_full_window_reaching_threshold():
    # window 3: means of (1,2,3)=2, (2,3,4)=3, (3,4,5)=4 -> first >= 3 is the window ending at episode 4 (40 steps)
    h = _history_with_returns([1, 2, 3, 4, 5])
    assert steps_to_threshold(h, threshold=3.0, window=3) == 40
    assert steps_to_threshold(h, threshold=4.0, window=3) == 50
    assert steps_to_threshold(h, threshold=4.01, window=3) is None


def test_steps_to_threshold_needs_a_full_window():
    # a single lucky episode of 500 must not count as "solved" with window 20
    h = _history_with_returns([500.0] * 19)
    assert steps_to_threshold(h, 475.0, 20) is None
    h.add_episode(1000, 500.0, 500)
    assert steps_to_threshold(h, 475.0, 20) == 1000


def test_steps_to_threshold_matches_brute_force_on_random_returns():
    rng = np.random.default_rng(0)
    rets = rng.uniform(0, 500, size=200).cumsum() / np.arange(1, 201)  # slowly varying
    h = _history_with_returns(list(rets), steps_per_episode=7)
    for thr in [100.0, 200.0, 250.0, 300.0]:
        expected = None
        for k in range(19, len(rets)):
            if np.mean(rets[k - 19 : k + 1]) >= thr:
                expected = (k + 1) * 7
                break
        assert steps_to_threshold(h, thr, 20) == expected


def test_steps_to_threshold_rejects_bad_window():
    with pytest.raises(ValueError, match="window"):
        steps_to_threshold(History(), 1.0, 0)


# ---- History -----------------------------------------------------------------------------------------------------


def test_history_columns_and_nan_for_missing():
    h = History()
    h.append(UpdateRow(env_steps=100, episode_return_mean=None, policy_loss=0.5))
    h.append(UpdateRow(env_steps=200, episode_return_mean=12.0, policy_loss=None, entropy=0.6))
    assert len(h) == 2
    np.testing.assert_array_equal(h.column("env_steps"), [100.0, 200.0])
    pl = h.column("policy_loss")
    assert pl[0] == 0.5 and np.isnan(pl[1])
    assert np.isnan(h.column("episode_return_mean")[0])
    with pytest.raises(ValueError, match="column name"):
        h.column("not_a_field")
    with pytest.raises(ValueError, match="UpdateRow"):
        h.append({"env_steps": 1})


def test_recent_return_mean_uses_last_window():
    h = _history_with_returns(list(range(30)))
    assert h.recent_return_mean(20) == pytest.approx(np.mean(np.arange(10, 30)))
    assert _history_with_returns([4.0, 6.0]).recent_return_mean(20) == 5.0
    assert History().recent_return_mean() is None


def test_history_equality_ignores_only_throughput():
    def make(sps, loss):
        h = _history_with_returns([1.0, 2.0])
        h.append(UpdateRow(env_steps=64, episode_return_mean=1.5, policy_loss=loss, steps_per_second=sps))
        return h

    assert make(1000.0, 0.25) == make(3.0, 0.25)
    assert make(1000.0, 0.25) != make(1000.0, 0.2500001)
    other = make(1.0, 0.25)
    other.add_episode(99, 3.0, 5)
    assert make(1.0, 0.25) != other


def test_history_save_load_roundtrip(tmp_path):
    h = _history_with_returns([1.5, 2.5, -3.0])
    h.append(UpdateRow(env_steps=30, episode_return_mean=0.333, approx_kl=0.01, steps_per_second=123.0))
    h.save(tmp_path / "h.json")
    back = History.load(tmp_path / "h.json")
    assert back == h
    assert back.rows[0].steps_per_second == 123.0
    assert back.episodes[2].ret == -3.0 and back.episodes[2].length == 10


# ---- check_finite ------------------------------------------------------------------------------------------------


def test_check_finite_names_update_and_quantity():
    check_finite(3, policy_loss=0.1, value_loss=torch.tensor([1.0, 2.0]), grads=np.zeros(3), missing=None)
    with pytest.raises(FloatingPointError, match=r"update 7: value_loss is not finite"):
        check_finite(7, policy_loss=torch.tensor(1.0), value_loss=torch.tensor(float("nan")))
    with pytest.raises(FloatingPointError, match=r"update 2: grad_norm .*1 of 3 entries"):
        check_finite(2, grad_norm=np.array([1.0, np.inf, 0.0]))


# ---- evaluate ----------------------------------------------------------------------------------------------------


class _AlwaysLeft:
    def act(self, obs, deterministic=True):
        assert obs.ndim == 2 and obs.shape[1] == 4
        return np.zeros(len(obs), dtype=np.int64)


class _Balancer:
    """Push the cart towards where the pole is falling: often survives a long time (a deterministic policy)."""

    def act(self, obs, deterministic=True):
        return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)


def _reference_episode(policy, env_id, seed):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    ret, n = 0.0, 0
    while True:
        a = policy.act(obs[None])[0]
        obs, r, term, trunc, _ = env.step(a.item() if np.ndim(a) == 0 else a)
        ret += r
        n += 1
        if term or trunc:
            return ret, n


@pytest.mark.parametrize("policy", [_AlwaysLeft(), _Balancer()])
def test_evaluate_matches_one_episode_at_a_time(policy):
    res = evaluate(policy, "CartPole-v1", n_episodes=4, seed=10)
    assert isinstance(res, EvalResult)
    for k in range(4):
        ret, n = _reference_episode(policy, "CartPole-v1", seed=10 + k)
        assert res.returns[k] == ret and res.lengths[k] == n
    assert res.mean == pytest.approx(np.mean(res.returns))
    assert res.std == pytest.approx(np.std(res.returns))


def test_evaluate_continuous_actions_and_time_limit():
    class Zero:
        def act(self, obs, deterministic=True):
            return np.zeros((len(obs), 1), dtype=np.float32)

    res = evaluate(Zero(), "Pendulum-v1", n_episodes=2, seed=0)
    np.testing.assert_array_equal(res.lengths, [200, 200])  # Pendulum only ends by truncation at 200
    ref, _ = _reference_episode(Zero(), "Pendulum-v1", seed=1)
    assert res.returns[1] == pytest.approx(ref)
    assert np.all(res.returns < 0)  # every Pendulum reward is <= 0


@pytest.mark.parametrize("env_id, n", [("CartPole-v1", 2), ("LunarLander-v3", 4)])
def test_random_policy_discrete_actions_are_uniform(env_id, n):
    actions = RandomPolicy(env_id, seed=0).act(np.zeros((40_000, 1)))
    assert actions.shape == (40_000,) and set(np.unique(actions)) == set(range(n))
    # each action with probability 1/n: the sampled frequency is within 5 standard errors of it
    freq = np.bincount(actions, minlength=n) / len(actions)
    assert np.abs(freq - 1 / n).max() < 5 * np.sqrt((1 / n) * (1 - 1 / n) / len(actions))


def test_random_policy_box_actions_are_uniform_within_the_bounds():
    a = RandomPolicy("Pendulum-v1", seed=1).act(np.zeros((40_000, 3)))
    assert a.shape == (40_000, 1) and a.dtype == np.float32 and a.min() >= -2.0 and a.max() <= 2.0
    # U(-2, 2): mean 0, variance 4^2 / 12
    assert abs(a.mean()) < 5 * np.sqrt(16 / 12 / len(a))
    assert a.var() == pytest.approx(16 / 12, rel=0.03)


def test_random_policy_is_seeded_and_scores_cartpole_at_its_known_value():
    obs = np.zeros((50, 4))
    np.testing.assert_array_equal(RandomPolicy("CartPole-v1", 3).act(obs), RandomPolicy("CartPole-v1", 3).act(obs))
    assert not np.array_equal(RandomPolicy("CartPole-v1", 3).act(obs), RandomPolicy("CartPole-v1", 4).act(obs))
    # CartPole under uniformly random actions lasts about 22 steps on average (reward 1 per step)
    res = evaluate(RandomPolicy("CartPole-v1"), "CartPole-v1", n_episodes=400, seed=0)
    assert 19.0 < res.mean < 26.0 and np.array_equal(res.returns, res.lengths)


def test_evaluate_rejects_bad_episode_count():
    with pytest.raises(ValueError, match="n_episodes"):
        evaluate(_AlwaysLeft(), "CartPole-v1", n_episodes=0)


# ---- progress and animation --------------------------------------------------------------------------------------


def test_progress_counts_and_can_be_disabled():
    with progress(100, "x", enabled=False) as bar:
        bar.update(40)
        assert bar.disable
    with progress(100, "x", enabled=True) as bar:
        bar.update(100)
        assert bar.n == 100 and not bar.disable


def test_animation_is_a_small_gif_with_one_frame_per_kept_step():
    from PIL import Image

    html = animate_episode(_AlwaysLeft(), "CartPole-v1", seed=3, every=2, width=160).data
    length = _reference_episode(_AlwaysLeft(), "CartPole-v1", seed=3)[1]
    assert f"in {length} steps" in html
    b64 = re.search(r"base64,([A-Za-z0-9+/=]+)", html).group(1)
    gif = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert gif.format == "GIF" and gif.width == 160
    # frames kept: the reset frame, every 2nd step, and the terminal step if it is odd. The GIF encoder merges
    # identical consecutive frames, so count play time instead: each kept frame shows for 2 / 50 s (CartPole 50 fps)
    n_kept = 1 + length // 2 + (length % 2)
    total_ms = 0
    for k in range(gif.n_frames):
        gif.seek(k)
        total_ms += gif.info["duration"]
    assert total_ms == n_kept * 40
    assert len(html) < 200_000


def test_frames_to_gif_rejects_empty():
    with pytest.raises(ValueError, match="frames"):
        frames_to_gif([])
