"""What every on-policy algorithm of the course shares: the config base and the outer training loop.

REINFORCE, A2C, PPO and TRPO differ only in how they turn one rollout into a parameter update. Everything
else is here, once:

    for update in 1 .. num_updates:
        rollout = collector.collect()               # T steps of N envs with the current policy
        stats   = learner.update(rollout, frac)     # the algorithm: advantages, losses, optimiser steps
        history.append(UpdateRow(env steps, recent episode return, throughput, **stats))

A *learner* is a small object built from ``(agent, config)`` with one method
``update(rollout, frac_remaining) -> dict`` of statistics named like ``UpdateRow``'s fields (``frac_remaining``
goes from 1 at the first update to ``1 / num_updates`` at the last, for annealing). Each algorithm module defines
its config, its learner and a ``train(config, seed, total_steps, progress=True) -> (agent, History)`` that calls
``run_onpolicy``. The optimiser helpers are in ``course_lib.optim``, the diagnostics in ``course_lib.diagnostics``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from course_lib.advantages import AdvantageEstimate, gae, n_step_returns
from course_lib.agent import ActorCriticAgent, AgentSpec
from course_lib.envs import make_vec_env
from course_lib.normalisation import RewardScaler
from course_lib.record import History, UpdateRow, check_finite, progress
from course_lib.rollout import Rollout, RolloutCollector
from course_lib.validation import (
    check_bool,
    check_env_id,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_seed,
    check_unit_interval,
)

__all__ = [
    "OnPolicyConfig",
    "ActorCriticConfig",
    "Learner",
    "advantages_and_returns",
    "make_agent",
    "run_onpolicy",
]

_SWITCHES = ("anneal_lr", "shared_network", "ortho_init", "norm_adv", "norm_obs", "scale_reward")


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
        check_env_id("env_id", self.env_id)
        for name in _SWITCHES:
            setattr(self, name, check_bool(name, getattr(self, name)))
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

    use_gae: bool = True
    """Advantages by GAE(gamma, lam) (True) or by n-step returns bootstrapped at the rollout's end (False)."""
    lam: float = 0.95
    """GAE's lambda in [0, 1]: 0 = one-step TD errors (low variance, biased), 1 = Monte Carlo (unbiased, noisy)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.use_gae = check_bool("use_gae", self.use_gae)
        self.lam = check_unit_interval("lam", self.lam)


def advantages_and_returns(rollout: Rollout, config: ActorCriticConfig) -> AdvantageEstimate:
    """Advantages and value targets of a rollout, each ``(T, N)``: GAE(gamma, lam), or plain n-step returns.

    Plain returns (``config.use_gae = False``): every step's return runs to the end of the rollout and bootstraps
    there, ``R_t = r_t + gamma r_{t+1} + ... + gamma^{T-t} V(s_T)`` (cut at episode ends, bootstrapped at
    truncations), and ``A_t = R_t - V(s_t)``. That is GAE with lam = 1.
    """
    r, v, v_next = rollout.rewards, rollout.values, rollout.next_values()
    if config.use_gae:
        return gae(r, v, v_next, rollout.terminated, rollout.truncated, config.gamma, config.lam)
    return n_step_returns(r, v, v_next, rollout.terminated, rollout.truncated, config.gamma, n=rollout.num_steps)


# ---------------------------------------------------------------------------------------------------------------
# The outer loop
# ---------------------------------------------------------------------------------------------------------------


class Learner(Protocol):
    """What an algorithm provides to ``run_onpolicy``."""

    def update(self, rollout: Rollout, frac_remaining: float) -> dict[str, float | None]:
        """Learn from one rollout; return the update's statistics, keyed by ``UpdateRow`` field names."""
        ...


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

    Seeds torch's global generator and the envs with ``seed``: the same seed at the same torch thread count gives
    the same History (see ``History``). Raises FloatingPointError (naming the update and the quantity) as soon
    as a statistic is NaN or inf.

    Returns:
        (agent with its observation statistics frozen, History with one row per update).
    """
    seed = check_seed("seed", seed)
    total_steps = check_positive_int("total_steps", total_steps)
    progress_bar = check_bool("progress", progress_bar)
    torch.manual_seed(seed)
    envs = make_vec_env(config.env_id, config.num_envs, seed)
    try:
        agent = make_agent(config, envs)
        learner = make_learner(agent, config)
        scaler = RewardScaler(config.gamma, config.num_envs) if config.scale_reward else None
        collector = RolloutCollector(
            envs, agent.policy_step, config.num_steps, obs_normaliser=agent.obs_normaliser, reward_scaler=scaler
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
                check_finite(update, **stats)
                row = UpdateRow(
                    env_steps=collector.total_steps,
                    episode_return_mean=history.recent_return_mean(20),
                    steps_per_second=config.batch_size / (time.perf_counter() - start),
                    **stats,
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
