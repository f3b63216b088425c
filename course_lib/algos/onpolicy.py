"""What every on-policy algorithm of the course shares: the config base, advantages, and the outer training loop.

REINFORCE, A2C, PPO and TRPO differ only in how they turn one rollout into a parameter update. Everything
else is here, once:

    for update in 1 .. num_updates:
        rollout = collector.collect()               # T steps of N envs with the current policy
        row     = learner.update(rollout, frac)     # the algorithm: advantages, losses, optimiser steps
        history.append(row)                         # + env steps, recent episode return, throughput

A *learner* is a small object built from ``(agent, config)`` with one method
``update(rollout, frac_remaining) -> UpdateRow`` (``frac_remaining`` goes from 1 at the first update to
``1 / num_updates`` at the last, for annealing). Each algorithm module defines its config, its learner and a
``train(config, seed, total_steps, progress=True) -> (agent, History)`` that calls ``run_onpolicy``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from course_lib.advantages import AdvantageEstimate, n_step_returns
from course_lib.agent import ActorCriticAgent, AgentSpec
from course_lib.envs import make_vec_env
from course_lib.normalisation import RewardScaler
from course_lib.rollout import Rollout, RolloutCollector
from course_lib.training import History, UpdateRow, check_finite, progress
from course_lib.validation import (
    check_non_negative,
    check_positive,
    check_positive_int,
    check_unit_interval,
)

__all__ = [
    "OnPolicyConfig",
    "ActorCriticConfig",
    "Learner",
    "advantages_and_returns",
    "explained_variance",
    "minibatch_indices",
    "make_optimizer",
    "set_learning_rate",
    "optimizer_step",
    "StatMeans",
    "run_onpolicy",
]


# ---------------------------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class OnPolicyConfig:
    """Settings every on-policy algorithm of the course has. Validated on construction (ValueError if wrong)."""

    env_id: str = "CartPole-v1"
    """Gymnasium id of the task (1-D Box observations; Discrete or 1-D Box actions)."""
    num_envs: int = 8
    """N: parallel environments stepped together (detail 1 of Huang et al. 2022: vectorised envs)."""
    num_steps: int = 32
    """T: steps per env per rollout; one update uses N * T env steps."""
    gamma: float = 0.99
    """Discount factor in [0, 1]."""
    learning_rate: float = 3e-4
    """Adam step size (the starting value if annealed)."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over training."""
    adam_eps: float = 1e-5
    """Adam's epsilon (PyTorch's default is 1e-8; PPO implementations use 1e-5)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the actor and critic MLPs (or of the shared trunk)."""
    shared_network: bool = False
    """One MLP trunk with a policy head and a value head (True) instead of two separate networks."""
    ortho_init: bool = True
    """Orthogonal initialisation (hidden std sqrt 2, policy head 0.01, value head 1); False: PyTorch default."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions only)."""
    ent_coef: float = 0.0
    """c2: weight of the entropy bonus in the loss (>= 0)."""
    vf_coef: float = 0.5
    """c1: weight of the value loss in the loss (>= 0)."""
    max_grad_norm: float | None = 0.5
    """Clip the global gradient norm to this value (None: no clipping)."""
    norm_adv: bool = True
    """Normalise advantages to mean 0, std 1 (per minibatch) before the policy loss."""
    norm_obs: bool = False
    """Feed the networks observations standardised with running statistics (saved with the agent)."""
    scale_reward: bool = False
    """Divide rewards by the running std of the discounted return (never shift them)."""

    def __post_init__(self) -> None:
        self.num_envs = check_positive_int("num_envs", self.num_envs)
        self.num_steps = check_positive_int("num_steps", self.num_steps)
        self.gamma = check_unit_interval("gamma", self.gamma)
        self.learning_rate = check_positive("learning_rate", self.learning_rate)
        self.adam_eps = check_positive("adam_eps", self.adam_eps)
        self.hidden = tuple(check_positive_int(f"hidden[{i}]", h) for i, h in enumerate(self.hidden))
        self.ent_coef = check_non_negative("ent_coef", self.ent_coef)
        self.vf_coef = check_non_negative("vf_coef", self.vf_coef)
        if self.max_grad_norm is not None:
            self.max_grad_norm = check_positive("max_grad_norm", self.max_grad_norm)
        if self.shared_network and not self.hidden:
            raise ValueError("hidden must name at least one layer when shared_network=True; got ()")

    @property
    def batch_size(self) -> int:
        """Env steps per update, num_envs * num_steps."""
        return self.num_envs * self.num_steps


@dataclass
class ActorCriticConfig(OnPolicyConfig):
    """Settings of the algorithms that learn a critic and bootstrap from it (A2C, PPO, TRPO)."""

    gae: bool = True
    """Advantages by GAE(gamma, lam) (True) or by n-step returns bootstrapped at the rollout's end (False)."""
    lam: float = 0.95
    """GAE's lambda in [0, 1]: 0 = one-step TD errors (low variance, biased), 1 = Monte Carlo (unbiased, noisy)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.lam = check_unit_interval("lam", self.lam)


# ---------------------------------------------------------------------------------------------------------------
# Small shared pieces
# ---------------------------------------------------------------------------------------------------------------


def advantages_and_returns(rollout: Rollout, config: ActorCriticConfig) -> AdvantageEstimate:
    """Advantages and value targets of a rollout, each ``(T, N)``: GAE(gamma, lam), or plain n-step returns.

    Plain returns (``config.gae = False``): every step's return runs to the end of the rollout and bootstraps
    there, ``R_t = r_t + gamma r_{t+1} + ... + gamma^{T-t} V(s_T)`` (cut at episode ends, bootstrapped at
    truncations), and ``A_t = R_t - V(s_t)``. That is GAE with lam = 1.
    """
    if config.gae:
        return rollout.gae(config.gamma, config.lam)
    return n_step_returns(
        rollout.rewards, rollout.values, rollout.next_values(), rollout.terminated, rollout.truncated,
        config.gamma, n=rollout.num_steps,
    )


def explained_variance(values: Tensor, returns: Tensor) -> float | None:
    """How much of the returns' variance the critic explains: ``1 - Var[R - V] / Var[R]``.

    1 = perfect predictions, 0 = no better than predicting the mean, negative = worse than that.
    ``values`` and ``returns`` have shape ``(B,)``. Returns None when ``Var[R] = 0`` (undefined).
    """
    var_ret = torch.var(returns, unbiased=False)
    if var_ret.item() == 0.0:
        return None
    # EV = 1 - Var[R - V] / Var[R]
    return float(1.0 - torch.var(returns - values, unbiased=False) / var_ret)


def minibatch_indices(batch_size: int, num_minibatches: int, shuffle: bool = True) -> tuple[Tensor, ...]:
    """Split ``range(batch_size)`` into ``num_minibatches`` nearly equal index tensors (sizes differ by <= 1).

    ``shuffle``: a fresh random permutation (torch's global generator) instead of the rollout order.
    """
    num_minibatches = check_positive_int("num_minibatches", num_minibatches)
    if num_minibatches > batch_size:
        raise ValueError(f"num_minibatches must be <= the batch size {batch_size}; got {num_minibatches}")
    order = torch.randperm(batch_size) if shuffle else torch.arange(batch_size)
    return torch.tensor_split(order, num_minibatches)


def make_optimizer(params: Iterable[nn.Parameter], learning_rate: float, adam_eps: float) -> torch.optim.Adam:
    """Adam over ``params``; the fused CPU kernel (same maths, fewer Python-level ops) when torch has it."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=learning_rate, eps=adam_eps, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch or unsupported device
        return torch.optim.Adam(params, lr=learning_rate, eps=adam_eps)


def set_learning_rate(optimizer: torch.optim.Optimizer, config: OnPolicyConfig, frac_remaining: float) -> float:
    """Set (and return) this update's learning rate: ``lr = frac_remaining * learning_rate`` if annealed."""
    # lr_k = (1 - (k - 1) / K) * lr_0
    lr = config.learning_rate * frac_remaining if config.anneal_lr else config.learning_rate
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def optimizer_step(
    optimizer: torch.optim.Optimizer, loss: Tensor, params: list[nn.Parameter], max_grad_norm: float | None
) -> None:
    """One gradient step on ``loss``, with the global gradient norm clipped to ``max_grad_norm`` (if not None).

    Global norm clipping: if ``||g|| > c`` (g = all gradients stacked), every gradient is scaled by ``c / ||g||``.
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        # g <- g * min(1, c / ||g||)
        nn.utils.clip_grad_norm_(params, max_grad_norm, foreach=True)
    optimizer.step()


class StatMeans:
    """Average statistics over the minibatches of one update (the logged value is the mean, not the last one).

    ``add(policy_loss=0.3, entropy=0.6)`` once per minibatch; ``means()`` gives ``{"policy_loss": ..., ...}``,
    ready to pass as keyword arguments to ``UpdateRow``.
    """

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, **values: float) -> None:
        """Record one minibatch's values (plain floats)."""
        for name, v in values.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(v)
            self._counts[name] = self._counts.get(name, 0) + 1

    def means(self) -> dict[str, float]:
        """Mean of every statistic over the minibatches it was recorded in."""
        return {name: self._sums[name] / self._counts[name] for name in self._sums}


# ---------------------------------------------------------------------------------------------------------------
# The outer loop
# ---------------------------------------------------------------------------------------------------------------


class Learner(Protocol):
    """What an algorithm provides to ``run_onpolicy``."""

    def update(self, rollout: Rollout, frac_remaining: float) -> UpdateRow:
        """Learn from one rollout; return the update's statistics (env_steps and episode stats are filled in later)."""
        ...


class _RewardScalerForCollector:
    """Adapts ``normalisation.RewardScaler`` (rewards, terminated, truncated, valid) to the collector's
    ``(rewards, dones)`` call, keeping the autoreset steps out of the statistics (``valid = not prev_done``)."""

    def __init__(self, gamma: float, num_envs: int) -> None:
        self.scaler = RewardScaler(gamma, num_envs)
        self._prev_done = np.zeros(num_envs, dtype=bool)

    def __call__(self, rewards: Tensor, dones: Tensor) -> Tensor:
        done = dones.numpy() > 0
        valid = ~self._prev_done
        self._prev_done = done
        return self.scaler(rewards, done, np.zeros_like(done), valid=valid)


def make_agent(config: OnPolicyConfig, envs) -> ActorCriticAgent:
    """The actor-critic agent for these envs and this config (networks initialised from torch's global RNG)."""
    spec = AgentSpec.from_spaces(
        envs.single_observation_space,
        envs.single_action_space,
        hidden=tuple(config.hidden),
        shared_network=config.shared_network,
        ortho_init=config.ortho_init,
        log_std_init=config.log_std_init,
        norm_obs=config.norm_obs,
    )
    return ActorCriticAgent(spec)


def run_onpolicy(
    config: OnPolicyConfig,
    seed: int,
    total_steps: int,
    make_learner: Callable[[ActorCriticAgent, OnPolicyConfig], Learner],
    progress_bar: bool = True,
    desc: str = "training",
) -> tuple[ActorCriticAgent, History]:
    """Train a fresh agent for at least ``total_steps`` env steps (whole updates of N * T steps each).

    Seeds torch's global generator and the envs with ``seed``: the same seed on CPU gives the same History.
    Raises FloatingPointError (naming the update and the quantity) as soon as a statistic is NaN or inf.

    Returns:
        (agent with its observation statistics frozen, History with one row per update).
    """
    total_steps = check_positive_int("total_steps", total_steps)
    torch.manual_seed(seed)
    envs = make_vec_env(config.env_id, config.num_envs, seed)
    try:
        agent = make_agent(config, envs)
        learner = make_learner(agent, config)
        scaler = _RewardScalerForCollector(config.gamma, config.num_envs) if config.scale_reward else None
        collector = RolloutCollector(
            envs, agent.policy_step, None, config.num_steps,
            obs_normaliser=agent.obs_normaliser, reward_scaler=scaler,
        )
        num_updates = math.ceil(total_steps / config.batch_size)
        history = History()
        with progress(num_updates * config.batch_size, desc, enabled=progress_bar) as bar:
            for update in range(1, num_updates + 1):
                start = time.perf_counter()
                # share of training still ahead: 1 at the first update, 1/K at the last
                frac_remaining = 1.0 - (update - 1) / num_updates
                rollout = collector.collect()
                for steps, ret, length in zip(
                    rollout.episode_env_steps, rollout.episode_returns, rollout.episode_lengths
                ):
                    history.add_episode(steps, ret, length)
                stats = learner.update(rollout, frac_remaining)
                check_finite(update, **{k: v for k, v in dataclasses.asdict(stats).items() if k != "env_steps"})
                row = dataclasses.replace(
                    stats,
                    env_steps=collector.total_steps,
                    episode_return_mean=history.recent_return_mean(20),
                    steps_per_second=config.batch_size / (time.perf_counter() - start),
                )
                history.append(row)
                bar.update(config.batch_size)
                if row.episode_return_mean is not None:
                    bar.set_postfix(ret=f"{row.episode_return_mean:.1f}", refresh=False)
    finally:
        envs.close()
    if agent.obs_normaliser is not None:
        agent.obs_normaliser.freeze()
    return agent, history
