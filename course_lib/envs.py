"""Environments: seeded constructors, a space check, and two tiny MDPs whose answers are known exactly.

- ``make_env`` / ``make_vec_env``: seeded Gymnasium 1.x environments. Vector envs must use *next-step*
  autoreset (see ``course_lib/README.md``, "Contracts"); ``check_next_step_autoreset`` enforces it.
- ``check_spaces``: the observation/action spaces the neural actors of this course support.
- ``CountingEnv`` (id ``course_lib/Counting-v0``): reward 1 on every step, observation ``[t / time_limit]``,
  truncated at ``time_limit``. Its values are known in closed form, which makes it the test bed for
  time limits and autoreset.
- ``TwoStateChain`` (id ``course_lib/TwoStateChain-v0``): a two-state MDP whose state values under any
  fixed stochastic policy have a closed form (``true_values``), for tabular exercises.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from course_lib.validation import check_env_id, check_positive_int, check_seed, check_unit_interval

__all__ = [
    "COUNTING_ENV_ID",
    "TWO_STATE_CHAIN_ID",
    "SpaceInfo",
    "make_env",
    "make_vec_env",
    "check_next_step_autoreset",
    "check_spaces",
    "CountingEnv",
    "TwoStateChain",
]

COUNTING_ENV_ID = "course_lib/Counting-v0"
TWO_STATE_CHAIN_ID = "course_lib/TwoStateChain-v0"


# --------------------------------------------------------------------------------------------------
# Constructors
# --------------------------------------------------------------------------------------------------
def make_env(env_id: str, seed: int | None = None, **kwargs: Any) -> gym.Env:
    """Make one seeded environment.

    The env is reset once with ``seed`` (which seeds its random generator) and its action space is seeded
    too, so ``env.action_space.sample()`` is reproducible. Later ``env.reset()`` calls *without* a seed
    continue the seeded random stream: do not pass the seed again on every episode, or every episode
    starts from the same state.

    Args:
        env_id: a registered id, e.g. ``"CartPole-v1"`` or ``"course_lib/Counting-v0"``.
        seed: the seed, or ``None`` for fresh randomness.
        **kwargs: passed to ``gym.make`` (e.g. ``time_limit=3`` for the counting env).
    Returns:
        the environment (any observation space: a ``Discrete`` one is fine for tabular methods).
    """
    env_id = check_env_id("env_id", env_id)
    seed = None if seed is None else check_seed("seed", seed)
    env = gym.make(env_id, **kwargs)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def check_next_step_autoreset(envs: VectorEnv) -> None:
    """Check that a vector env uses Gymnasium's next-step autoreset, the mode the rollout code relies on.

    Raises:
        ValueError: if ``envs.metadata["autoreset_mode"]`` is missing or not ``AutoresetMode.NEXT_STEP``.
    """
    mode = envs.metadata.get("autoreset_mode")
    if mode != AutoresetMode.NEXT_STEP:
        raise ValueError(
            f"envs.metadata['autoreset_mode'] must be AutoresetMode.NEXT_STEP (the rollout marks the step "
            f"after an episode end as invalid); got {mode!r}. Build the vector env with the default "
            f"autoreset mode, e.g. with course_lib.envs.make_vec_env."
        )


def make_vec_env(
    env_id: str,
    num_envs: int,
    seed: int | None,
    vectorization_mode: str | None = None,
    wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (),
    **kwargs: Any,
) -> VectorEnv:
    """Make ``num_envs`` copies of an environment as one seeded vector env with next-step autoreset.

    Vectorisation: by default the fastest one available — Gymnasium's native vector env where the id has
    one (``CartPole-v1`` steps all copies in one numpy call), otherwise ``"sync"`` (a Python loop over
    copies, which on a small CPU beats ``"async"`` for cheap envs). Per-copy ``wrappers`` need ``"sync"``
    or ``"async"``; with wrappers and no mode given, ``"sync"`` is used.

    Seeding: the env is reset once with ``seed``. For sync/async envs copy ``i`` gets ``seed + i``;
    a native vector env has one random generator for all copies, seeded with ``seed``. The action space
    is seeded with ``seed`` as well. Later ``envs.reset()`` calls without a seed continue the streams.

    Args:
        env_id: a registered id.
        num_envs: number of copies ``N >= 1``.
        seed: the seed, or ``None`` for fresh randomness.
        vectorization_mode: ``None`` (default choice above), ``"sync"``, ``"async"`` or
            ``"vector_entry_point"``.
        wrappers: functions ``env -> wrapped env`` applied to every copy.
        **kwargs: passed to each copy's constructor.
    Returns:
        the vector env; ``envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP``.
    Raises:
        ValueError: for a non-string ``env_id``, ``num_envs < 1``, a seed that is not an integer in
            ``[0, 2**32 - 1]``, or a vector env that does not use next-step autoreset.
    """
    env_id = check_env_id("env_id", env_id)
    num_envs = check_positive_int("num_envs", num_envs)
    seed = None if seed is None else check_seed("seed", seed)
    if vectorization_mode is None and len(wrappers) > 0:
        vectorization_mode = "sync"
    envs = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode=vectorization_mode,
        wrappers=list(wrappers) if wrappers else None,
        **kwargs,
    )
    try:
        check_next_step_autoreset(envs)
    except ValueError:
        envs.close()
        raise
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs


# --------------------------------------------------------------------------------------------------
# Which spaces the neural actors support
# --------------------------------------------------------------------------------------------------
class SpaceInfo(NamedTuple):
    """What a network needs to know about the spaces.

    Attributes:
        obs_dim: length of the (1-D) observation vector.
        act_dim: number of actions (``Discrete``) or length of the action vector (``Box``).
        discrete: ``True`` for a ``Discrete`` action space, ``False`` for a 1-D ``Box``.
    """

    obs_dim: int
    act_dim: int
    discrete: bool


_SUPPORTED = (
    "supported: observation_space = Box of shape (obs_dim,); "
    "action_space = Discrete(n) starting at 0, or Box of shape (act_dim,)"
)


def check_spaces(observation_space: gym.Space, action_space: gym.Space) -> SpaceInfo:
    """Check that the neural actors and critics of this course can handle these spaces.

    Supported: a 1-D ``Box`` observation; a ``Discrete(n)`` action (starting at 0) or a 1-D ``Box``
    action. (``make_env`` accepts any env; a ``Discrete`` observation is fine for tabular methods but a
    network needs a vector.) Pass a vector env's ``single_observation_space``/``single_action_space``.

    Returns:
        ``SpaceInfo(obs_dim, act_dim, discrete)``.
    Raises:
        ValueError: naming the unsupported space and what is supported.
    """
    if not (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 1):
        raise ValueError(f"observation_space {observation_space} is not supported; {_SUPPORTED}")
    obs_dim = int(observation_space.shape[0])
    if isinstance(action_space, spaces.Discrete):
        if int(action_space.start) != 0:
            raise ValueError(
                f"action_space {action_space} is not supported (it starts at {int(action_space.start)}); "
                f"{_SUPPORTED}"
            )
        return SpaceInfo(obs_dim, int(action_space.n), True)
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return SpaceInfo(obs_dim, int(action_space.shape[0]), False)
    raise ValueError(f"action_space {action_space} is not supported; {_SUPPORTED}")


# --------------------------------------------------------------------------------------------------
# Tiny MDPs
# --------------------------------------------------------------------------------------------------
class CountingEnv(gym.Env[np.ndarray, np.int64]):
    """Reward 1 on every step; the observation is the elapsed fraction of the time limit.

    After ``reset`` the observation is ``[0.0]``; the ``t``-th ``step`` returns ``[t / time_limit]``
    (float32), reward ``1.0``, ``terminated = (t == terminate_at)`` and ``truncated = (t == time_limit)``.
    The action (``Discrete(2)``) is ignored. Both flags can be true on the same step if
    ``terminate_at == time_limit``; ``terminate_at > time_limit`` never terminates.

    Values with discount ``gamma`` (this is what makes the env a good test):

    - truncation bootstrapped (the time limit is not part of the task): every state has
      ``V = sum_k gamma^k = 1 / (1 - gamma)``;
    - an episode that really ends after ``H`` more steps: ``V = (1 - gamma^H) / (1 - gamma)``,
      which is what a learner gets if it wrongly treats truncation at ``t = time_limit`` as termination
      (then ``H = time_limit - t``).

    Args:
        time_limit: steps per episode before truncation, ``>= 1``.
        terminate_at: step at which the episode terminates, or ``None`` (never).
    """

    metadata = {"render_modes": []}

    def __init__(self, time_limit: int = 5, terminate_at: int | None = None) -> None:
        self.time_limit = check_positive_int("time_limit", time_limit)
        self.terminate_at = None if terminate_at is None else check_positive_int("terminate_at", terminate_at)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0
        self._done = True

    def _obs(self) -> np.ndarray:
        """The observation ``[t / time_limit]``, shape ``(1,)``, float32."""
        return np.array([self.t / self.time_limit], dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode at ``t = 0``. Returns ``(obs, info)`` with ``obs = [0.0]`` and ``info = {}``."""
        super().reset(seed=seed)
        self.t = 0
        self._done = False
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance time by one. Returns ``(obs, 1.0, terminated, truncated, {})``.

        Raises:
            RuntimeError: if the episode is over (or was never started) and ``reset`` was not called.
        """
        if self._done:
            raise RuntimeError("CountingEnv: the episode is over (or never started); call reset() first")
        self.t += 1
        terminated = self.terminate_at is not None and self.t == self.terminate_at
        truncated = self.t == self.time_limit
        self._done = terminated or truncated
        return self._obs(), 1.0, terminated, truncated, {}


class TwoStateChain(gym.Env[np.int64, np.int64]):
    """Two states, two actions: ``0`` = stay, ``1`` = move to the other state (deterministic).

    On every step the reward is ``rewards[s]`` for the state ``s`` the step starts from (the action only
    decides where you go next). The task never terminates; an episode is truncated after ``time_limit``
    steps (``None``: never). Observations are the state index (``Discrete(2)``), so this env is for tabular
    methods. ``reset(options={"state": s})`` starts in state ``s`` (default ``start_state``).

    Closed-form values (see ``true_values``): under a fixed policy that moves with probability ``q_s`` in
    state ``s``, the transition matrix and reward vector are

        P = [[1 - q0, q0], [q1, 1 - q1]],   r = [r0, r1],

    and the (continuing, time-limit-free) values solve the Bellman equation ``V = r + gamma * P V``:

        D  = (1 - gamma) * (1 - gamma + gamma * (q0 + q1))
        V0 = ((1 - gamma + gamma * q1) * r0 + gamma * q0 * r1) / D
        V1 = (gamma * q1 * r0 + (1 - gamma + gamma * q0) * r1) / D

    (Cramer's rule on the 2x2 system ``(I - gamma P) V = r``; ``det(I - gamma P) = D``.)

    Args:
        rewards: ``(r0, r1)``, the reward collected in each state.
        time_limit: steps before truncation (``>= 1``) or ``None``.
        start_state: 0 or 1.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        rewards: tuple[float, float] = (0.0, 1.0),
        time_limit: int | None = 100,
        start_state: int = 0,
    ) -> None:
        if len(rewards) != 2:
            raise ValueError(f"rewards must be a pair (r0, r1); got {rewards!r}")
        self.rewards = (float(rewards[0]), float(rewards[1]))
        self.time_limit = None if time_limit is None else check_positive_int("time_limit", time_limit)
        self.start_state = self._check_state("start_state", start_state)
        self.observation_space = spaces.Discrete(2)
        self.action_space = spaces.Discrete(2)
        self.state = self.start_state
        self.t = 0

    @staticmethod
    def _check_state(name: str, s: Any) -> int:
        """Return ``s`` as an int if it is a state (0 or 1), else raise ValueError."""
        if isinstance(s, bool) or not hasattr(s, "__index__") or int(s) not in (0, 1):
            raise ValueError(f"{name} must be a state, 0 or 1; got {s!r}")
        return int(s)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.int64, dict[str, Any]]:
        """Start in ``options["state"]`` if given, else in ``start_state``. Returns ``(state, {})``."""
        super().reset(seed=seed)
        options = options or {}
        self.state = self._check_state('options["state"]', options.get("state", self.start_state))
        self.t = 0
        return np.int64(self.state), {}

    def step(self, action: Any) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        """Collect ``rewards[s]``, then stay (action 0) or move (action 1).

        Returns:
            ``(next_state, reward, False, truncated, {})``.
        """
        a = int(action)
        if a not in (0, 1):
            raise ValueError(f"action must be 0 (stay) or 1 (move); got {action!r}")
        reward = self.rewards[self.state]
        # s' = s if a = 0 else 1 - s
        self.state = self.state if a == 0 else 1 - self.state
        self.t += 1
        truncated = self.time_limit is not None and self.t >= self.time_limit
        return np.int64(self.state), reward, False, truncated, {}

    def transition_matrix(self, move_probs: tuple[float, float]) -> np.ndarray:
        """``P[s, s'] = Pr(s' | s)`` under the policy that moves with probability ``move_probs[s]``.

        Returns:
            array of shape ``(2, 2)``; each row sums to 1.
        """
        q0 = check_unit_interval("move_probs[0]", move_probs[0])
        q1 = check_unit_interval("move_probs[1]", move_probs[1])
        return np.array([[1.0 - q0, q0], [q1, 1.0 - q1]])

    def true_values(self, gamma: float, move_probs: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
        """Exact state values ``V(0), V(1)`` of the continuing task (no time limit) under a fixed policy.

        Args:
            gamma: discount in ``[0, 1)``.
            move_probs: ``(q0, q1)``, the probability of action 1 (move) in state 0 and in state 1.
        Returns:
            array of shape ``(2,)``. The closed form is in the class docstring.
        Raises:
            ValueError: if ``gamma`` is not in ``[0, 1)`` or a probability is not in ``[0, 1]``.
        """
        gamma = check_unit_interval("gamma", gamma)
        if gamma == 1.0:
            raise ValueError("gamma must be in [0, 1) for a task that never ends; got 1.0")
        q0 = check_unit_interval("move_probs[0]", move_probs[0])
        q1 = check_unit_interval("move_probs[1]", move_probs[1])
        r0, r1 = self.rewards
        # D = det(I - gamma P) = (1 - gamma) (1 - gamma + gamma (q0 + q1))
        d = (1.0 - gamma) * (1.0 - gamma + gamma * (q0 + q1))
        # V0 = ((1 - gamma + gamma q1) r0 + gamma q0 r1) / D
        v0 = ((1.0 - gamma + gamma * q1) * r0 + gamma * q0 * r1) / d
        # V1 = (gamma q1 r0 + (1 - gamma + gamma q0) r1) / D
        v1 = (gamma * q1 * r0 + (1.0 - gamma + gamma * q0) * r1) / d
        return np.array([v0, v1])


def _register(env_id: str, entry_point: str) -> None:
    """Register an env id once (importing this module twice must not warn or fail)."""
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=entry_point)


_register(COUNTING_ENV_ID, "course_lib.envs:CountingEnv")
_register(TWO_STATE_CHAIN_ID, "course_lib.envs:TwoStateChain")
