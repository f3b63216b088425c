"""A small deceptive task where exploration matters: a coin at the door, a treasure down a corridor.

``DeceptiveCorridor`` (id ``course_lib/DeceptiveCorridor-v0``). Positions ``0 .. L-1`` (``L = length``); the
agent starts at position 0 and sees its position one-hot, ``obs`` of shape ``(L,)``. Two actions:

- action 0, **stop**: ends the episode. At position 0 it picks up the coin, reward ``coin`` (small); further
  down the corridor it gives 0.
- action 1, **go**: moves one step right, reward 0; from the last position it reaches the treasure, reward
  ``treasure`` (large), and ends the episode.

Every episode ends after at most ``L`` steps (terminated, never truncated). The return of "stop at once" is
``coin``; the return of "go every time" is ``treasure``. A policy that picks each action with probability 1/2
reaches the treasure with probability ``2**-L``, so while the policy is still uniform, going looks worse than
stopping at position 0; only a policy that keeps trying to go long enough to learn the later steps discovers
that the treasure is worth more (a deceptive local optimum).

``expected_return(p_go)`` gives the exact expected (undiscounted or discounted) return of any stochastic policy
from its per-position probabilities of going; ``categorical_entropy`` and ``max_entropy`` are the entropy
helpers the notebook uses to read the policy's entropy.
"""
from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

__all__ = [
    "DECEPTIVE_CORRIDOR_ID",
    "STOP",
    "GO",
    "DeceptiveCorridor",
    "expected_return",
    "success_probability",
    "categorical_entropy",
    "max_entropy",
]

DECEPTIVE_CORRIDOR_ID = "course_lib/DeceptiveCorridor-v0"
STOP, GO = 0, 1


def _check_length(length: Any) -> int:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be an integer >= 1; got {length!r}")
    return int(length)


def _check_reward(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return value


class DeceptiveCorridor(gym.Env[np.ndarray, np.int64]):
    """Coin at the door (reward ``coin`` for stopping at position 0), treasure at the end (``treasure``).

    Observation: ``float32`` one-hot of the position, shape ``(length,)``. Actions: ``Discrete(2)``,
    0 = stop, 1 = go. Deterministic dynamics; the seed only seeds the action space.
    """

    metadata = {"render_modes": []}

    def __init__(self, length: int = 6, coin: float = 0.3, treasure: float = 1.0) -> None:
        self.length = _check_length(length)
        self.coin = _check_reward("coin", coin)
        self.treasure = _check_reward("treasure", treasure)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.length,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.position = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.length, dtype=np.float32)
        obs[self.position] = 1.0
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.position = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 (stop) or 1 (go); got {action!r}")
        if int(action) == STOP:
            reward = self.coin if self.position == 0 else 0.0
            return self._obs(), reward, True, False, {}
        if self.position == self.length - 1:
            return self._obs(), self.treasure, True, False, {}
        self.position += 1
        return self._obs(), 0.0, False, False, {}


def success_probability(p_go: np.ndarray) -> float:
    """Probability that a policy reaches the treasure: prod_k p_go[k]. p_go: (L,) probabilities of going."""
    p_go = np.asarray(p_go, dtype=float)
    # P(treasure) = prod_{k=0}^{L-1} pi(go | k)
    return float(np.prod(p_go))


def expected_return(p_go: np.ndarray, coin: float = 0.3, treasure: float = 1.0, gamma: float = 1.0) -> float:
    """Exact expected return from position 0 of the policy that goes at position k with probability p_go[k].

    J = (1 - p_go[0]) * coin + gamma^(L-1) * prod_k p_go[k] * treasure   (stopping later earns 0).
    p_go: (L,) probabilities in [0, 1]. gamma = 1 gives the undiscounted episode return.
    """
    p_go = np.asarray(p_go, dtype=float)
    if p_go.ndim != 1 or len(p_go) < 1 or np.any(p_go < 0) or np.any(p_go > 1):
        raise ValueError(f"p_go must be a 1-D array of probabilities; got {p_go!r}")
    # J = (1 - pi(go|0)) coin + gamma^(L-1) prod_k pi(go|k) treasure
    return float((1 - p_go[0]) * coin + gamma ** (len(p_go) - 1) * success_probability(p_go) * treasure)


def categorical_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of categorical distributions. probs: (..., A), rows summing to 1 -> (...,).

    H(pi) = -sum_a pi(a) log pi(a), with 0 log 0 = 0.
    """
    # H = -sum_a p_a log p_a  (terms with p_a = 0 contribute 0)
    return -torch.where(probs > 0, probs * probs.log(), torch.zeros_like(probs)).sum(-1)


def max_entropy(n_actions: int) -> float:
    """The largest entropy of a distribution over n_actions actions, log |A| (reached by the uniform one)."""
    n_actions = _check_length(n_actions)
    # H_max = log |A|
    return math.log(n_actions)


if DECEPTIVE_CORRIDOR_ID not in gym.registry:
    gym.register(id=DECEPTIVE_CORRIDOR_ID, entry_point="course_lib.deceptive_env:DeceptiveCorridor")
