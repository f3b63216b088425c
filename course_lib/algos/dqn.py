"""DQN (Mnih et al. 2015) with an optional double-DQN target (van Hasselt et al. 2016).

Q-learning with a neural network ``Q_theta(s, .)`` instead of a table, made stable by two devices:

- a **replay buffer**: transitions ``(s, a, r, s', terminated)`` are stored and learned from in random
  minibatches, which breaks the correlation between consecutive steps and reuses each transition many times;
- a **target network** ``Q_target``, a copy of ``Q_theta`` synchronised every ``target_update_interval``
  env steps, so the regression target does not move with every gradient step.

Loss on a minibatch of ``B`` transitions (Huber or squared error ``l``):

    y_i  = r_i + gamma * (1 - terminated_i) * V_target(s'_i)
    DQN:        V_target(s') = max_a Q_target(s', a)
    double DQN: V_target(s') = Q_target(s', argmax_a Q_theta(s', a))   (the online net picks, the target rates)
    L(theta) = mean_i l(Q_theta(s_i, a_i) - y_i)

The buffer stores ``terminated``, not ``done``: a transition cut by a time limit (``truncated``) keeps its
bootstrap from the real final observation ``s'`` (one env, no autoreset, so ``s'`` is always the true next obs).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.advantages import td_target
from course_lib.algos.qlearning import linear_schedule
from course_lib.envs import make_env
from course_lib.networks import mlp
from course_lib.optim import make_optimizer, optimizer_step, set_learning_rate
from course_lib.record import History, UpdateRow, check_finite, progress as progress_bar
from course_lib.validation import (
    check_bool,
    check_env_id,
    check_non_negative,
    check_non_negative_int,
    check_positive,
    check_positive_int,
    check_seed,
    check_unit_interval,
)


# --------------------------------------------------------------------------------------------- replay buffer
class ReplayBatch(NamedTuple):
    """A minibatch of transitions as torch tensors; ``B`` = batch size."""

    obs: Tensor  # (B, obs_dim) float32
    actions: Tensor  # (B,) int64
    rewards: Tensor  # (B,) float32
    next_obs: Tensor  # (B, obs_dim) float32
    terminated: Tensor  # (B,) float32, 1.0 = the task ended at next_obs (no bootstrap)


class ReplayBuffer:
    """A fixed-capacity ring buffer of transitions in preallocated numpy arrays.

    Once full, each new transition overwrites the oldest one. Sampling is uniform with replacement over the
    stored transitions.

    Args:
        capacity: maximum number of transitions kept (>= 1).
        obs_dim: length of an observation vector.
    """

    def __init__(self, capacity: int, obs_dim: int):
        self.capacity = check_positive_int("capacity", capacity)
        obs_dim = check_positive_int("obs_dim", obs_dim)
        self.obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.pos = 0  # where the next transition goes
        self.size = 0  # how many slots hold a transition

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        """Store one transition; ``obs`` and ``next_obs`` have shape ``(obs_dim,)``."""
        i = self.pos
        self.obs[i] = obs
        self.actions[i] = action
        self.rewards[i] = reward
        self.next_obs[i] = next_obs
        self.terminated[i] = float(terminated)
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` slot indices drawn uniformly (with replacement) from the filled slots, shape ``(B,)``."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer; add transitions first")
        return rng.integers(0, self.size, size=batch_size)

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplayBatch:
        """A uniform random minibatch of ``batch_size`` transitions as tensors (shapes in :class:`ReplayBatch`)."""
        idx = self.sample_indices(batch_size, rng)
        return ReplayBatch(
            obs=torch.from_numpy(self.obs[idx]),
            actions=torch.from_numpy(self.actions[idx]),
            rewards=torch.from_numpy(self.rewards[idx]),
            next_obs=torch.from_numpy(self.next_obs[idx]),
            terminated=torch.from_numpy(self.terminated[idx]),
        )


# --------------------------------------------------------------------------------------------- the maths
def next_state_values(next_q_target: Tensor, next_q_online: Tensor | None = None) -> Tensor:
    """Value of the next states used in the DQN target, shape ``(B,)``.

    Args:
        next_q_target: ``Q_target(s', .)``, shape ``(B, n_actions)``.
        next_q_online: ``Q_theta(s', .)``, shape ``(B, n_actions)``, for double DQN; None for plain DQN.
    """
    if next_q_online is None:
        # V(s') = max_a Q_target(s', a)
        return next_q_target.max(dim=1).values
    if next_q_online.shape != next_q_target.shape:
        raise ValueError(f"next_q_online has shape {tuple(next_q_online.shape)} but next_q_target has shape "
                         f"{tuple(next_q_target.shape)}; they must match")
    # a* = argmax_a Q_theta(s', a);  V(s') = Q_target(s', a*)
    a_star = next_q_online.argmax(dim=1, keepdim=True)
    return next_q_target.gather(1, a_star).squeeze(1)


def dqn_targets(batch: ReplayBatch, target_net: nn.Module, gamma: float,
                online_net: nn.Module | None = None) -> Tensor:
    """Regression targets ``y = r + gamma * (1 - terminated) * V_target(s')``, shape ``(B,)``, no gradient.

    Pass ``online_net`` for the double-DQN target (the online net chooses the next action).
    """
    with torch.no_grad():
        next_q_target = target_net(batch.next_obs)
        next_q_online = None if online_net is None else online_net(batch.next_obs)
        next_v = next_state_values(next_q_target, next_q_online)
        # y = r + gamma * (1 - terminated) * V_target(s')
        return td_target(batch.rewards, gamma, next_v, batch.terminated)


def dqn_loss(q_net: nn.Module, target_net: nn.Module, batch: ReplayBatch, gamma: float,
             loss: Literal["huber", "mse"] = "huber", double_dqn: bool = False) -> Tensor:
    """The DQN loss on one minibatch (a scalar tensor with gradient w.r.t. ``q_net``'s parameters).

    ``huber``: 0.5 x^2 for |x| <= 1, |x| - 0.5 beyond (the gradient is the TD error clipped to [-1, 1]);
    ``mse``: x^2; x = Q_theta(s, a) - y.
    """
    y = dqn_targets(batch, target_net, gamma, online_net=q_net if double_dqn else None)
    # Q_theta(s_i, a_i): pick each row's taken action, (B, n_actions) -> (B,)
    q_sa = q_net(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
    # L = mean_i l(Q_theta(s_i, a_i) - y_i)
    if loss == "huber":
        return F.smooth_l1_loss(q_sa, y)
    if loss == "mse":
        return F.mse_loss(q_sa, y)
    raise ValueError(f"loss must be 'huber' or 'mse'; got {loss!r}")


def sync_target(target_net: nn.Module, q_net: nn.Module) -> None:
    """Copy the online network's parameters into the target network (a hard update)."""
    # theta_target <- theta
    target_net.load_state_dict(q_net.state_dict())


# --------------------------------------------------------------------------------------------- config, agent
@dataclass
class DQNConfig:
    """Hyper-parameters of DQN, validated on construction.

    The defaults solve CartPole-v1 in 60k env steps (greedy return 500 on seeds 1, 2 and 3; see
    tests/test_learning_value_based.py). They start from rl-baselines3-zoo's CartPole-v1 DQN entry (batch 64,
    train every 256 steps with 128 gradient steps, 256x256 ReLU net, epsilon 1 -> 0.04 over 8k steps, Huber loss)
    and change three things that made the *final* policy reliable in our runs: the double-DQN target, a smaller
    learning rate (1e-3 instead of 2.3e-3) and its linear decay to 0. Plain DQN with the same settings solved
    1 seed in 3 within 60k steps; without the decay, the greedy policy kept swinging between 500 and ~100.
    """

    env_id: str = "CartPole-v1"
    """A registered env id with a 1-D Box observation space and a Discrete action space."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``gymnasium.make``."""
    learning_rate: float = 1e-3
    """Adam step size (> 0) at the start of training."""
    learning_rate_end: float | None = 0.0
    """If set (>= 0), the step size falls linearly from ``learning_rate`` to this over the run's ``total_steps``;
    None keeps it constant."""
    buffer_size: int = 100_000
    """Replay buffer capacity in transitions."""
    batch_size: int = 64
    """Transitions per gradient step."""
    gamma: float = 0.99
    """Discount factor in [0, 1]."""
    learning_starts: int = 1_000
    """Env steps of pure collection before the first gradient step (>= 0)."""
    train_freq: int = 256
    """Env steps between two training phases."""
    gradient_steps: int = 128
    """Gradient steps per training phase (so gradient_steps / train_freq updates per env step)."""
    target_update_interval: int = 256
    """Env steps between copies of the online net into the target net (equal to ``train_freq``: one copy right
    after each training phase, so each phase regresses on the previous phase's network)."""
    epsilon_start: float = 1.0
    """Exploration rate at step 0, in [0, 1]."""
    epsilon_end: float = 0.04
    """Exploration rate after the decay, in [0, 1]; also used by ``act(..., deterministic=False)``."""
    epsilon_decay_steps: int = 8_000
    """Env steps over which epsilon falls linearly from start to end (>= 0)."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: Huber (smooth L1, the DQN paper's clipped error) or squared error."""
    double_dqn: bool = True
    """Use the double-DQN target (online net picks the next action, target net rates it)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer sizes of the Q network (ReLU)."""
    init: Literal["default", "orthogonal"] = "default"
    """Weight initialisation of the Q network: PyTorch's default for ``nn.Linear`` (Kaiming-uniform, as in SB3's
    DQN) or the orthogonal ``layer_init`` the actor-critic networks use. With the zoo's CartPole-v1 settings,
    orthogonal init (gain sqrt(2), output gain 1) learned markedly slower in our runs."""
    max_grad_norm: float | None = 10.0
    """Clip the gradient's global norm to this (> 0), or None for no clipping."""
    log_interval: int = 1_000
    """Env steps between two rows of the History."""

    def __post_init__(self) -> None:
        check_env_id("env_id", self.env_id)
        check_bool("double_dqn", self.double_dqn)
        check_positive("learning_rate", self.learning_rate)
        if self.learning_rate_end is not None:
            check_non_negative("learning_rate_end", self.learning_rate_end)
        check_positive_int("buffer_size", self.buffer_size)
        check_positive_int("batch_size", self.batch_size)
        check_unit_interval("gamma", self.gamma)
        check_non_negative_int("learning_starts", self.learning_starts)
        check_positive_int("train_freq", self.train_freq)
        check_positive_int("gradient_steps", self.gradient_steps)
        check_positive_int("target_update_interval", self.target_update_interval)
        check_unit_interval("epsilon_start", self.epsilon_start)
        check_unit_interval("epsilon_end", self.epsilon_end)
        check_non_negative_int("epsilon_decay_steps", self.epsilon_decay_steps)
        if self.loss not in ("huber", "mse"):
            raise ValueError(f"loss must be 'huber' or 'mse'; got {self.loss!r}")
        if self.init not in ("default", "orthogonal"):
            raise ValueError(f"init must be 'default' or 'orthogonal'; got {self.init!r}")
        self.hidden = tuple(self.hidden)
        for i, h in enumerate(self.hidden):
            check_positive_int(f"hidden[{i}]", h)
        if self.max_grad_norm is not None:
            check_positive("max_grad_norm", self.max_grad_norm)
        check_positive_int("log_interval", self.log_interval)

    def epsilon(self, step: int) -> float:
        """Exploration rate at env step ``step`` (0-based)."""
        return linear_schedule(self.epsilon_start, self.epsilon_end, self.epsilon_decay_steps, step)

    def lr(self, step: int, total_steps: int) -> float:
        """Learning rate at env step ``step`` (0-based) of a run of ``total_steps``."""
        if self.learning_rate_end is None:
            return self.learning_rate
        return linear_schedule(self.learning_rate, self.learning_rate_end, total_steps, step)


class DQNAgent:
    """A trained Q network and how to act with it.

    Args:
        q_net: maps ``(B, obs_dim)`` float32 observations to ``(B, n_actions)`` Q values.
        n_actions: number of discrete actions.
        epsilon: exploration rate used by ``act(..., deterministic=False)``.
        seed: seeds the exploration of ``act(..., deterministic=False)``.
    """

    def __init__(self, q_net: nn.Module, n_actions: int, epsilon: float = 0.05, seed: int = 0):
        self.q_net = q_net
        self.n_actions = check_positive_int("n_actions", n_actions)
        self.epsilon = check_unit_interval("epsilon", epsilon)
        self.rng = np.random.default_rng(seed)

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q values ``(N, n_actions)`` for observations ``(N, obs_dim)``."""
        with torch.no_grad():
            return self.q_net(torch.as_tensor(np.asarray(obs, dtype=np.float32))).numpy()

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions ``(N,)`` int64 for observations ``(N, obs_dim)``: greedy, or epsilon-greedy if not deterministic."""
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim != 2:
            raise ValueError(f"obs must have shape (N, obs_dim); got shape {obs.shape}")
        actions = self.q_values(obs).argmax(axis=1)
        if not deterministic:
            explore = self.rng.random(actions.shape[0]) < self.epsilon
            actions = np.where(explore, self.rng.integers(0, self.n_actions, actions.shape[0]), actions)
        return actions.astype(np.int64)


# --------------------------------------------------------------------------------------------- training loop
def make_q_network(obs_space: gym.Space, act_space: gym.Space, hidden: tuple[int, ...],
                   init: Literal["default", "orthogonal"] = "default") -> nn.Sequential:
    """The Q network ``(B, obs_dim) -> (B, n_actions)``: an MLP with ReLU hidden layers.

    Raises:
        ValueError: unless the action space is Discrete and the observation space a 1-D Box.
    """
    if not isinstance(act_space, gym.spaces.Discrete):
        raise ValueError(f"DQN needs a Discrete action space; got {act_space}")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"DQN here needs a 1-D Box observation space; got {obs_space}")
    net = mlp(obs_space.shape[0], int(act_space.n), hidden, activation=nn.ReLU)
    if init == "default":
        # back to PyTorch's own nn.Linear initialisation (mlp() initialises orthogonally)
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
    return net


def train(config: DQNConfig | None = None, seed: int = 0, total_steps: int = 100_000,
          progress: bool = True) -> tuple[DQNAgent, History]:
    """Train DQN for ``total_steps`` env steps on one environment.

    Every ``train_freq`` env steps after ``learning_starts``: ``gradient_steps`` Adam steps on minibatches of
    ``batch_size`` replayed transitions. Every ``target_update_interval`` env steps: target <- online.

    Args:
        config: the hyper-parameters (and the env id); None for the defaults.
        seed: seeds the network initialisation, the env, exploration and replay sampling. The same seed on the
            same machine gives the same History (``steps_per_second`` aside) and the same network.
        total_steps: env steps to train for (>= 1).
        progress: show a progress bar.

    Returns:
        ``(agent, history)``: one History row every ``log_interval`` env steps (and at the end) with the mean
        ``q_loss`` of the gradient steps since the previous row (None before learning starts), the current
        ``epsilon``, ``episode_return_mean`` (last 20 training episodes) and ``steps_per_second``.
    """
    config = DQNConfig() if config is None else config
    if not isinstance(config, DQNConfig):
        raise ValueError(f"config must be a DQNConfig; got {type(config).__name__}")
    seed = check_seed("seed", seed)
    total_steps = check_positive_int("total_steps", total_steps)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = make_env(config.env_id, seed=seed, **config.env_kwargs)
    q_net = make_q_network(env.observation_space, env.action_space, config.hidden, config.init)
    n_actions = int(env.action_space.n)
    target_net = copy.deepcopy(q_net).requires_grad_(False)
    params = list(q_net.parameters())
    # Adam with PyTorch's default epsilon and the plain (unfused) kernel DQN's results were made with
    optimizer = make_optimizer(params, config.learning_rate, fused=False)
    buffer = ReplayBuffer(min(config.buffer_size, total_steps), env.observation_space.shape[0])
    history = History()

    obs = np.asarray(env.reset(seed=seed)[0], dtype=np.float32)
    ep_return, ep_len = 0.0, 0
    losses: list[Tensor] = []
    n_updates = 0
    bar = progress_bar(total_steps, "DQN", enabled=progress)
    t_last, step_last = time.perf_counter(), 0
    for step in range(total_steps):
        epsilon = config.epsilon(step)
        # epsilon-greedy: a random action with probability epsilon, else argmax_a Q_theta(s, a)
        if rng.random() < epsilon:
            action = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                action = int(q_net(torch.from_numpy(obs).unsqueeze(0)).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        # store `terminated`, not `terminated or truncated`: a time-limit cut still bootstraps from next_obs
        buffer.add(obs, action, float(reward), next_obs, bool(terminated))
        ep_return += float(reward)
        ep_len += 1
        if terminated or truncated:
            history.add_episode(step + 1, ep_return, ep_len)
            ep_return, ep_len = 0.0, 0
            obs = np.asarray(env.reset()[0], dtype=np.float32)
        else:
            obs = np.asarray(next_obs, dtype=np.float32)

        env_steps = step + 1
        if env_steps > config.learning_starts and env_steps % config.train_freq == 0:
            set_learning_rate(optimizer, config.lr(step, total_steps))
            for _ in range(config.gradient_steps):
                batch = buffer.sample(config.batch_size, rng)
                loss = dqn_loss(q_net, target_net, batch, config.gamma, config.loss, config.double_dqn)
                optimizer_step(optimizer, loss, params, config.max_grad_norm)
                losses.append(loss.detach())
                n_updates += 1
        if env_steps % config.target_update_interval == 0:
            sync_target(target_net, q_net)

        if env_steps % config.log_interval == 0 or env_steps == total_steps:
            q_loss = torch.stack(losses).mean().item() if losses else None
            check_finite(n_updates, q_loss=q_loss)
            now = time.perf_counter()
            history.append(UpdateRow(env_steps=env_steps, episode_return_mean=history.recent_return_mean(),
                                     q_loss=q_loss, epsilon=epsilon, learning_rate=config.lr(step, total_steps),
                                     steps_per_second=(env_steps - step_last) / max(now - t_last, 1e-9)))
            bar.update(env_steps - step_last)
            t_last, step_last = now, env_steps
            losses = []
    bar.close()
    env.close()
    q_net.eval()
    return DQNAgent(q_net, n_actions, epsilon=config.epsilon_end, seed=seed + 1), history
