"""The bigger tasks the course's dependencies provide: LunarLander-v3 (Box2D) and two MuJoCo tasks.

They must install from the project's own files on a fresh machine (requirements.txt, .ci/run) and run with
gymnasium 1.x's API: seeded resets reproduce, ``step`` returns (obs, reward, terminated, truncated, info), the
MuJoCo tasks render off-screen through EGL (no display), and LunarLander renders through pygame's software
surface.
"""
from __future__ import annotations

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

TASKS = {
    # env id: (observation shape, action space kind, action shape or number of actions, time limit)
    "LunarLander-v3": ((8,), "discrete", 4, 1000),
    "Hopper-v5": ((11,), "box", (3,), 1000),
    "HalfCheetah-v5": ((17,), "box", (6,), 1000),
}


def _rollout(env_id: str, seed: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Observations and rewards of ``steps`` steps with actions drawn from a seeded action space."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            obs, _ = env.reset()
            observations.append(obs)
    env.close()
    return np.asarray(observations), np.asarray(rewards)


@pytest.mark.parametrize("env_id", sorted(TASKS))
def test_spaces_and_time_limit(env_id):
    obs_shape, kind, act, limit = TASKS[env_id]
    env = gym.make(env_id)
    assert env.observation_space.shape == obs_shape
    if kind == "discrete":
        assert isinstance(env.action_space, gym.spaces.Discrete) and env.action_space.n == act
    else:
        assert isinstance(env.action_space, gym.spaces.Box) and env.action_space.shape == act
        assert np.all(env.action_space.low == -1.0) and np.all(env.action_space.high == 1.0)
    assert env.spec.max_episode_steps == limit
    env.close()


@pytest.mark.parametrize("env_id", sorted(TASKS))
def test_seeded_runs_reproduce_and_differ_across_seeds(env_id):
    obs_a, rew_a = _rollout(env_id, seed=3, steps=200)
    obs_b, rew_b = _rollout(env_id, seed=3, steps=200)
    obs_c, _ = _rollout(env_id, seed=4, steps=200)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)
    assert not np.array_equal(obs_a[:50], obs_c[:50])
    assert np.all(np.isfinite(obs_a)) and np.all(np.isfinite(rew_a))


def test_lunarlander_crash_terminates_with_minus_100():
    # doing nothing from the start: the lander falls and crashes, the episode ends with the -100 crash reward
    env = gym.make("LunarLander-v3")
    env.reset(seed=0)
    for t in range(1000):
        _, reward, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            break
    env.close()
    assert terminated and not truncated and t < 200 and reward == -100.0


RENDER = """
import gymnasium as gym, numpy as np
for env_id in ("Hopper-v5", "LunarLander-v3"):
    env = gym.make(env_id, render_mode="rgb_array", **({"width": 96, "height": 64} if env_id == "Hopper-v5" else {}))
    env.reset(seed=0)
    frames = [env.render()]
    for _ in range(5):
        env.step(env.action_space.sample())
        frames.append(env.render())
    env.close()
    f = np.asarray(frames)
    print(env_id, f.shape, f.dtype, float(f.std()), float(np.abs(np.diff(f.astype(float), axis=0)).mean()))
"""


def test_offscreen_rendering_without_a_display():
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"} | {"MUJOCO_GL": "egl", "PYOPENGL_PLATFORM": "egl"}
    out = subprocess.run([sys.executable, "-c", RENDER], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    hopper, lander = lines["Hopper-v5"].split(" "), lines["LunarLander-v3"].split(" ")
    assert hopper[0] == "(6," and "64," in hopper[1] and "96," in hopper[2] and hopper[3] == "3)"
    assert lander[0] == "(6," and "400," in lander[1] and "600," in lander[2]
    # real pictures that change as the bodies move: not blank, not frozen
    for parts in (hopper, lander):
        assert parts[4] == "uint8" and float(parts[5]) > 5.0 and float(parts[6]) > 0.0
