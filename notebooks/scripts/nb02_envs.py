"""Helpers of notebook 02's data scripts: Pendulum-v1 with a finite set of torques, and learning curves.

Importing this module registers ``nb02/PendulumDiscrete{k}-v1`` for a few ``k``: the same task as Pendulum-v1
(200-step time limit, same reward), but the agent picks one of ``k`` evenly spaced torques in [-2, 2].
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

TORQUE_LEVELS = (3, 5, 11)


class DiscreteTorques(gym.ActionWrapper):
    """Turns a 1-D Box action space into ``Discrete(k)``: action ``i`` applies ``levels[i]``.

    ``levels = linspace(low, high, k)``, so ``k = 2`` is bang-bang control and an odd ``k`` includes 0.
    """

    def __init__(self, env: gym.Env, k: int):
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or space.shape != (1,):
            raise ValueError(f"DiscreteTorques needs a Box action space of shape (1,); got {space}")
        if not isinstance(k, int) or k < 2:
            raise ValueError(f"k must be an integer >= 2 (number of torque levels); got {k!r}")
        # level_i = low + i * (high - low) / (k - 1),  i = 0 .. k - 1
        self.levels = np.linspace(float(space.low[0]), float(space.high[0]), k, dtype=np.float32)
        self.action_space = gym.spaces.Discrete(k)

    def action(self, action: int) -> np.ndarray:
        return self.levels[int(action)][None]


def make_discrete_pendulum(k: int, **kwargs) -> gym.Env:
    """Pendulum-v1 (with its time limit) whose actions are ``k`` torque levels."""
    return DiscreteTorques(gym.make("Pendulum-v1", **kwargs), k)


def env_id(k: int) -> str:
    """The registered id of Pendulum with ``k`` torque levels."""
    return f"nb02/PendulumDiscrete{k}-v1"


for _k in TORQUE_LEVELS:
    if env_id(_k) not in gym.registry:
        gym.register(id=env_id(_k), entry_point=lambda k=_k, **kw: make_discrete_pendulum(k, **kw))


def curve(history, every: int = 1_000) -> tuple[list[int], list[float]]:
    """A learning curve from a History: (env_steps, episode_return_mean) at the first row past each multiple of
    ``every`` env steps (rows without a finished episode yet are skipped)."""
    steps, rets = history.column("env_steps"), history.column("episode_return_mean")
    xs, ys, next_mark = [], [], every
    for s, r in zip(steps, rets):
        if s >= next_mark and np.isfinite(r):
            xs.append(int(s))
            ys.append(round(float(r), 2))
            next_mark = (int(s) // every + 1) * every
    return xs, ys
