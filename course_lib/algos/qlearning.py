"""Tabular Q-learning and SARSA (Sutton & Barto 2nd ed., sec. 6.4-6.5), one loop for both.

Both learn a table ``q`` of shape ``(n_states, n_actions)`` from one transition at a time:

    Q(s, a) <- Q(s, a) + alpha * [ target - Q(s, a) ]
    target   = r + gamma * (1 - terminated) * next_value
    Q-learning (off-policy): next_value = max_a' Q(s', a')
    SARSA      (on-policy):  next_value = Q(s', a'), a' the action the agent will really take in s'

Only a true end of the task (``terminated``) drops the bootstrap. A time limit (``truncated``) cuts the
episode but the state still has a future, so its target keeps ``gamma * next_value``.

The environment needs a ``Discrete`` action space and either a ``Discrete`` observation space (CliffWalking-v1,
FrozenLake-v1) or a ``Box`` one together with a :class:`Discretiser` that turns each observation into a cell
index (tabular Q-learning on CartPole in notebook 02).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import gymnasium as gym
import numpy as np

from course_lib.advantages import td_target
from course_lib.record import History, UpdateRow, progress as progress_bar
from course_lib.validation import check_non_negative_int, check_positive, check_positive_int, check_unit_interval


# --------------------------------------------------------------------------------------------- shared maths
def linear_schedule(start: float, end: float, duration: int, t: int) -> float:
    """Linear interpolation from ``start`` (at ``t = 0``) to ``end`` (at ``t >= duration``), then constant.

    ``duration = 0`` means "already at ``end``". Used for epsilon, per episode here and per env step in DQN.
    """
    if duration <= 0:
        return float(end)
    # eps_t = start + min(t / duration, 1) * (end - start)
    return float(start + min(t / duration, 1.0) * (end - start))


def epsilon_greedy(q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """Pick an action from one row of Q values: uniformly at random with probability ``epsilon``, else greedy.

    Greedy ties are broken at random, so a freshly zeroed table does not always try action 0 first.

    Args:
        q_row: shape ``(n_actions,)``.
    """
    if rng.random() < epsilon:
        return int(rng.integers(q_row.shape[0]))
    best = np.flatnonzero(q_row == q_row.max())
    return int(best[0] if best.size == 1 else rng.choice(best))


def td_update(q: np.ndarray, s: int, a: int, r: float, s_next: int, terminated: bool, alpha: float,
              gamma: float, a_next: int | None = None) -> float:
    """Apply one tabular TD update to ``q`` in place and return the TD error.

    ``a_next=None`` gives Q-learning (bootstrap from the greedy value of ``s_next``); an action gives SARSA
    (bootstrap from the value of the action actually taken next).

    Args:
        q: table of shape ``(n_states, n_actions)``, modified in place.
        s, a, r, s_next: the transition.
        terminated: True only if the task ended at ``s_next`` (a truncated step passes False).
        alpha: step size in (0, 1]; gamma: discount in [0, 1].

    Returns:
        ``delta = target - Q(s, a)`` before the update.
    """
    # Q-learning: V(s') = max_a' Q(s', a');  SARSA: V(s') = Q(s', a')
    next_value = q[s_next].max() if a_next is None else q[s_next, a_next]
    target = td_target(r, gamma, next_value, float(terminated))
    # delta = y - Q(s, a)
    delta = float(target - q[s, a])
    # Q(s, a) <- Q(s, a) + alpha * delta
    q[s, a] += alpha * delta
    return delta


# --------------------------------------------------------------------------------------------- discretiser
class Discretiser:
    """Maps a continuous observation to one cell of a regular grid, numbered ``0 .. n_states - 1``.

    Each dimension ``i`` is clipped to ``[low[i], high[i]]`` and cut into ``bins[i]`` equal intervals; values at
    or beyond the edges fall into the first or last interval.

    Args:
        low, high: clip ranges, shape ``(obs_dim,)``, finite, ``high > low``.
        bins: intervals per dimension, an int (same for all) or shape ``(obs_dim,)``, each >= 1.
    """

    def __init__(self, low: Sequence[float] | np.ndarray, high: Sequence[float] | np.ndarray,
                 bins: int | Sequence[int] | np.ndarray):
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if self.low.ndim != 1 or self.low.shape != self.high.shape:
            raise ValueError(f"low and high must be 1-D of the same length; got shapes {self.low.shape} and "
                             f"{self.high.shape}")
        if not (np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high))):
            raise ValueError(f"low and high must be finite clip ranges; got low={self.low}, high={self.high}")
        if not np.all(self.high > self.low):
            raise ValueError(f"high must be greater than low in every dimension; got low={self.low}, "
                             f"high={self.high}")
        bins_arr = np.asarray(bins)
        if not np.issubdtype(bins_arr.dtype, np.integer):
            raise ValueError(f"bins must be integers; got {bins!r}")
        if bins_arr.ndim > 1 or (bins_arr.ndim == 1 and bins_arr.shape != self.low.shape):
            raise ValueError(f"bins must be an int or have shape {self.low.shape}; got shape {bins_arr.shape}")
        if np.any(bins_arr < 1):
            raise ValueError(f"bins must be >= 1 in every dimension; got {bins!r}")
        self.bins = np.broadcast_to(bins_arr, self.low.shape).astype(np.int64)
        self.n_states = int(np.prod(self.bins))

    @property
    def obs_dim(self) -> int:
        return int(self.low.shape[0])

    def indices(self, obs: np.ndarray) -> np.ndarray:
        """Cell index of each observation: ``(..., obs_dim)`` -> ``(...)`` int64."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim == 0 or obs.shape[-1] != self.obs_dim:
            raise ValueError(f"obs must have last dimension {self.obs_dim}; got shape {obs.shape}")
        # fraction of the way through the clip range, in [0, 1]
        frac = (np.clip(obs, self.low, self.high) - self.low) / (self.high - self.low)
        # cell_i = min(floor(frac_i * bins_i), bins_i - 1)   (frac = 1 belongs to the last cell)
        cells = np.minimum((frac * self.bins).astype(np.int64), self.bins - 1)
        # row-major flat index: sum_i cell_i * prod_{j > i} bins_j
        return np.ravel_multi_index(tuple(np.moveaxis(cells, -1, 0)), tuple(self.bins))

    def __call__(self, obs: np.ndarray) -> int:
        """Cell index of one observation of shape ``(obs_dim,)``."""
        obs = np.asarray(obs)
        if obs.ndim != 1:
            raise ValueError(f"Discretiser(obs) takes one observation of shape ({self.obs_dim},); got shape "
                             f"{obs.shape} (use .indices for a batch)")
        return int(self.indices(obs))


# CartPole-v1 observations: cart position (episode ends beyond +-2.4), cart velocity, pole angle (ends beyond
# +-12 degrees = 0.2095 rad), pole angular velocity. The velocity ranges are unbounded in the env; these clip
# ranges cover what a balancing policy meets.
CARTPOLE_LOW = (-2.4, -3.0, -0.21, -3.5)
CARTPOLE_HIGH = (2.4, 3.0, 0.21, 3.5)


def cartpole_discretiser(bins: int | Sequence[int] = 6) -> Discretiser:
    """A :class:`Discretiser` for CartPole-v1 with ``bins`` intervals per dimension (``bins ** 4`` states)."""
    return Discretiser(CARTPOLE_LOW, CARTPOLE_HIGH, bins)


class DiscretiseObservation(gym.ObservationWrapper):
    """Wraps a ``Box``-observation env so it emits ``Discrete(discretiser.n_states)`` cell indices."""

    def __init__(self, env: gym.Env, discretiser: Discretiser):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or space.shape != (discretiser.obs_dim,):
            raise ValueError(f"DiscretiseObservation needs a Box observation space of shape "
                             f"({discretiser.obs_dim},); got {space}")
        self.discretiser = discretiser
        self.observation_space = gym.spaces.Discrete(discretiser.n_states)

    def observation(self, observation: np.ndarray) -> int:
        return self.discretiser(observation)


# --------------------------------------------------------------------------------------------- config, agent
@dataclass
class QLearningConfig:
    """Hyper-parameters of tabular Q-learning / SARSA. Defaults follow Sutton & Barto's cliff-walking example."""

    alpha: float = 0.5
    """Step size in (0, 1]."""
    gamma: float = 1.0
    """Discount factor in [0, 1] (the cliff task is undiscounted)."""
    epsilon_start: float = 0.1
    """Exploration rate of the first episode, in [0, 1]."""
    epsilon_end: float = 0.1
    """Exploration rate after ``epsilon_decay_episodes`` episodes, in [0, 1]."""
    epsilon_decay_episodes: int = 0
    """Episodes over which epsilon falls linearly from start to end (0: constant ``epsilon_end``)."""
    episodes: int = 500
    """Number of training episodes (>= 1)."""
    on_policy: bool = False
    """False: Q-learning (bootstrap from max_a' Q). True: SARSA (bootstrap from the action taken next)."""
    max_episode_steps: int | None = None
    """If set, a time limit that truncates episodes (truncation is bootstrapped). CliffWalking has none."""
    q_init: float = 0.0
    """Initial value of every table entry."""

    def __post_init__(self) -> None:
        check_positive("alpha", self.alpha)
        check_unit_interval("alpha", self.alpha)
        check_unit_interval("gamma", self.gamma)
        check_unit_interval("epsilon_start", self.epsilon_start)
        check_unit_interval("epsilon_end", self.epsilon_end)
        check_non_negative_int("epsilon_decay_episodes", self.epsilon_decay_episodes)
        check_positive_int("episodes", self.episodes)
        if self.max_episode_steps is not None:
            check_positive_int("max_episode_steps", self.max_episode_steps)
        if not np.isfinite(self.q_init):
            raise ValueError(f"q_init must be finite; got {self.q_init!r}")

    def epsilon(self, episode: int) -> float:
        """Exploration rate used during episode ``episode`` (0-based)."""
        return linear_schedule(self.epsilon_start, self.epsilon_end, self.epsilon_decay_episodes, episode)


@dataclass(eq=False)  # compare agents by their tables explicitly: np.array_equal(a.q, b.q)
class TabularAgent:
    """A learned Q table and how to act with it.

    Attributes:
        q: shape ``(n_states, n_actions)``.
        discretiser: maps raw continuous observations to rows of ``q``; None if observations are indices.
        epsilon: exploration rate used by ``act(..., deterministic=False)``.
    """

    q: np.ndarray
    discretiser: Discretiser | None = None
    epsilon: float = 0.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0), repr=False)

    def state_index(self, obs) -> np.ndarray:
        """Row(s) of ``q`` for raw observation(s): ``(...)`` ints, or ``(..., obs_dim)`` with a discretiser."""
        if self.discretiser is not None:
            return self.discretiser.indices(obs)
        return np.asarray(obs, dtype=np.int64)

    def act(self, obs, deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of observations.

        Args:
            obs: state indices of shape ``(N,)`` (or a scalar), or raw observations ``(N, obs_dim)`` when the
                agent has a discretiser.
            deterministic: True -> greedy (first maximum); False -> epsilon-greedy with ``self.epsilon``.

        Returns:
            int64 actions of shape ``(N,)`` (0-d for a single observation).
        """
        s = self.state_index(obs)
        if deterministic:
            return np.argmax(self.q[s], axis=-1)
        flat = np.array([epsilon_greedy(self.q[si], self.epsilon, self.rng) for si in s.reshape(-1)])
        return flat.reshape(s.shape)


class GreedyPath(NamedTuple):
    """One greedy rollout: ``states`` has one more entry than ``actions`` and ``rewards``."""

    states: list[int]
    actions: list[int]
    rewards: list[float]
    terminated: bool

    @property
    def total_return(self) -> float:
        return float(sum(self.rewards))


def greedy_path(agent: TabularAgent, env: gym.Env, max_steps: int = 200, seed: int = 0) -> GreedyPath:
    """Follow the greedy policy from the env's start state (reset with ``seed``) for at most ``max_steps``.

    Stops when the episode terminates or is truncated. A policy that loops (possible before learning has
    converged: CliffWalking has no time limit) is cut off at ``max_steps`` with ``terminated = False``.
    States are the raw observations for index envs, or the discretiser's cell indices otherwise.
    """
    check_positive_int("max_steps", max_steps)
    obs, _ = env.reset(seed=seed)
    states = [int(agent.state_index(obs))]
    actions: list[int] = []
    rewards: list[float] = []
    for _ in range(max_steps):
        a = int(agent.act(obs, deterministic=True))
        obs, r, terminated, truncated, _ = env.step(a)
        actions.append(a)
        rewards.append(float(r))
        states.append(int(agent.state_index(obs)))
        if terminated or truncated:
            return GreedyPath(states, actions, rewards, bool(terminated))
    return GreedyPath(states, actions, rewards, False)


# --------------------------------------------------------------------------------------------- training loop
def _check_tabular_env(env: gym.Env) -> tuple[int, int]:
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise ValueError(f"tabular methods need a Discrete action space; got {env.action_space}")
    if not isinstance(env.observation_space, gym.spaces.Discrete):
        raise ValueError(f"tabular methods need a Discrete observation space (or pass discretiser=... for a "
                         f"Box one); got {env.observation_space}")
    return int(env.observation_space.n), int(env.action_space.n)


def train(config: QLearningConfig, env: gym.Env | str, seed: int = 0, *, discretiser: Discretiser | None = None,
          progress: bool = False) -> tuple[TabularAgent, History]:
    """Train tabular Q-learning (``config.on_policy=False``) or SARSA (``True``) for ``config.episodes``.

    Args:
        config: the hyper-parameters.
        env: an env id (made with ``gym.make``) or an env instance (it is reset with ``seed`` once, then
            without a seed). It is wrapped with a ``TimeLimit`` if ``config.max_episode_steps`` is set and with
            :class:`DiscretiseObservation` if ``discretiser`` is given.
        seed: seeds the env and the agent's exploration.
        discretiser: turns ``Box`` observations into table rows.
        progress: show a progress bar over episodes.

    Returns:
        The agent (``q`` of shape ``(n_states, n_actions)``) and a History with one row per episode
        (``env_steps``, ``episode_return_mean`` over the last 20 episodes, ``epsilon``) and every episode.
    """
    if isinstance(env, str):
        env = gym.make(env)
    if discretiser is not None:
        env = DiscretiseObservation(env, discretiser)
    if config.max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps=config.max_episode_steps)
    n_states, n_actions = _check_tabular_env(env)

    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    q = np.full((n_states, n_actions), config.q_init, dtype=np.float64)
    history = History()
    env_steps = 0
    bar = progress_bar(config.episodes, "Q-learning episodes" if not config.on_policy else "SARSA episodes",
                       enabled=progress)
    for episode in range(config.episodes):
        epsilon = config.epsilon(episode)
        s, _ = env.reset(seed=seed if episode == 0 else None)
        a = epsilon_greedy(q[s], epsilon, rng)
        ep_return, ep_len = 0.0, 0
        while True:
            s_next, r, terminated, truncated, _ = env.step(a)
            env_steps += 1
            ep_return += float(r)
            ep_len += 1
            if config.on_policy:
                # SARSA: choose a' with the current Q, then bootstrap from Q(s', a')
                a_next = epsilon_greedy(q[s_next], epsilon, rng)
                td_update(q, s, a, r, s_next, terminated, config.alpha, config.gamma, a_next=a_next)
            else:
                # Q-learning: bootstrap from max_a' Q(s', a'), then choose a' with the updated Q
                td_update(q, s, a, r, s_next, terminated, config.alpha, config.gamma)
                a_next = epsilon_greedy(q[s_next], epsilon, rng)
            if terminated or truncated:
                break
            s, a = s_next, a_next
        history.add_episode(env_steps, ep_return, ep_len)
        history.append(UpdateRow(env_steps=env_steps, episode_return_mean=history.recent_return_mean(),
                                 epsilon=epsilon))
        bar.update(1)
    bar.close()
    agent = TabularAgent(q=q, discretiser=discretiser, epsilon=config.epsilon_end,
                         rng=np.random.default_rng(seed + 1))
    return agent, history
