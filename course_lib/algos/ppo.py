"""Proximal Policy Optimisation (Schulman et al. 2017): clipped surrogate, or the adaptive KL penalty.

One update = several epochs of minibatch Adam steps on the same rollout, minimising

    loss = -L_policy + c1 * L_VF - c2 * H

with, for each ``objective``:

    "clip"        L_policy = E[min(r A, clip(r, 1 - eps, 1 + eps) A)]      r = pi_theta(a|s) / pi_old(a|s)
    "unclipped"   L_policy = E[r A]                                           (the ablation: no trust region)
    "kl_penalty"  L_policy = E[r A - beta KL(pi_old || pi_theta)]             beta adapted after every update:
                  doubled if KL > 1.5 d_targ, halved if KL < d_targ / 1.5   (Schulman et al. 2017, sec. 4)

Every implementation detail of Huang et al. 2022 ("The 37 implementation details of PPO") that applies to
vector-observation tasks is a config switch, so each can be ablated on its own: vectorised envs (num_envs),
orthogonal init, Adam epsilon, learning-rate annealing, GAE, minibatch shuffling, per-minibatch advantage
normalisation, clipped surrogate, value clipping, entropy bonus, global gradient clipping, shared vs separate
networks; plus KL early stopping (target_kl), clip-range annealing, observation normalisation and reward scaling.
Discrete and continuous (Gaussian, state-independent log-std) actions use the same code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from course_lib.agent import ActorCriticAgent
from course_lib.algos.onpolicy import ActorCriticConfig, advantages_and_returns, run_onpolicy
from course_lib.diagnostics import explained_variance, kl_k3
from course_lib.losses import adapt_kl_beta, entropy_bonus, kl_penalty_loss, ppo_clip_loss, value_loss
from course_lib.normalisation import normalise_advantages
from course_lib.optim import (
    StatMeans,
    annealed,
    make_optimizer,
    minibatch_indices,
    optimizer_step,
    set_learning_rate,
)
from course_lib.record import History
from course_lib.rollout import Rollout
from course_lib.validation import check_bool, check_positive, check_positive_int

__all__ = ["PPOConfig", "PPOLearner", "lunarlander_config", "pendulum_config", "train"]

_OBJECTIVES = ("clip", "unclipped", "kl_penalty")


@dataclass
class PPOConfig(ActorCriticConfig):
    """PPO's settings. The defaults solve CartPole-v1 quickly; see ``pendulum_config()`` for Pendulum-v1.

    CartPole defaults: rollout size (8 envs x 32 steps), gamma = 0.98 and lam = 0.8 as tuned by rl-baselines3-zoo;
    10 epochs on one full-batch minibatch at lr 3e-3 (annealed, like the clip range) chosen by a 6-seed sweep
    (median steps-to-475 about 25k, every seed within 40k, evaluation 500 on every seed after 100k steps; 20
    epochs at 2e-3 learn about as fast per step but cost twice the compute). Only the settings that differ
    from ``ActorCriticConfig``'s are restated here.
    """

    gamma: float = 0.98
    lam: float = 0.8
    learning_rate: float = 3e-3
    anneal_lr: bool = True
    update_epochs: int = 10
    """K: passes over the rollout per update."""
    num_minibatches: int = 1
    """Minibatches per epoch; each has about N * T / num_minibatches samples. Autoreset steps are left out of
    the batch, so a rollout can hold fewer than N * T samples: with more minibatches than valid samples the
    update raises a ValueError that says so (keep num_minibatches well below N * T / 2)."""
    shuffle: bool = True
    """Shuffle the samples into new minibatches every epoch (False: rollout order, the same split each epoch)."""
    objective: Literal["clip", "unclipped", "kl_penalty"] = "clip"
    """The policy objective: clipped surrogate, plain surrogate, or surrogate with an adaptive KL penalty."""
    clip_eps: float = 0.2
    """eps of the clipped surrogate (its starting value if annealed); also the value-clipping range."""
    anneal_clip: bool = True
    """Decay clip_eps linearly to 0 over training, like the learning rate."""
    clip_vloss: bool = False
    """Clip the value loss around the values at collection time (range clip_eps, in return units)."""
    target_kl: float | None = None
    """Stop the update early (skip the remaining minibatches) once the k3 KL estimate exceeds this; None: never."""
    kl_penalty_target: float = 0.01
    """d_targ of the adaptive KL penalty (objective "kl_penalty" only); not the early stop's ``target_kl``."""
    kl_beta_init: float = 1.0
    """Initial beta of the adaptive KL penalty (objective "kl_penalty" only)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("shuffle", "anneal_clip", "clip_vloss"):
            setattr(self, name, check_bool(name, getattr(self, name)))
        self.update_epochs = check_positive_int("update_epochs", self.update_epochs)
        self.num_minibatches = check_positive_int("num_minibatches", self.num_minibatches)
        if self.batch_size % self.num_minibatches != 0:
            raise ValueError(
                f"num_minibatches must divide num_envs * num_steps = {self.num_envs} * {self.num_steps} = "
                f"{self.batch_size}; got num_minibatches={self.num_minibatches}"
            )
        if self.objective not in _OBJECTIVES:
            raise ValueError(f"objective must be one of {_OBJECTIVES}; got {self.objective!r}")
        self.clip_eps = check_positive("clip_eps", self.clip_eps)
        if self.target_kl is not None:
            self.target_kl = check_positive("target_kl", self.target_kl)
        self.kl_penalty_target = check_positive("kl_penalty_target", self.kl_penalty_target)
        self.kl_beta_init = check_positive("kl_beta_init", self.kl_beta_init)

    @property
    def minibatch_size(self) -> int:
        """Samples per minibatch (before autoreset steps are dropped), num_envs * num_steps / num_minibatches."""
        return self.batch_size // self.num_minibatches


def pendulum_config(**overrides) -> PPOConfig:
    """Settings that solve Pendulum-v1 within 100k steps (continuous actions, short horizon gamma = 0.9)."""
    # only what differs from PPOConfig's CartPole defaults
    settings = dict(
        env_id="Pendulum-v1", num_envs=4, num_steps=256, gamma=0.9, lam=0.95, learning_rate=1e-3,
        num_minibatches=4, anneal_clip=False, scale_reward=True,
    )
    settings.update(overrides)
    return PPOConfig(**settings)


def lunarlander_config(**overrides) -> PPOConfig:
    """Settings that land LunarLander-v3 (evaluation >= 200) within 1M steps; the comment says why each."""
    # From rl-baselines3-zoo's tuned LunarLander settings (hyperparams/ppo.yml): 16 envs of 1024 steps per update,
    # gamma = 0.999 (the landing bonus arrives hundreds of steps after the firings that earn it), lam = 0.98, an
    # entropy bonus of 0.01 (without one the policy settles early on hovering), constant lr 3e-4 and clip 0.2.
    # Changed: 10 epochs of 128 minibatches of 128 samples instead of 4 epochs of 256 minibatches of 64. That
    # squeezes more out of each rollout at about the same compute per epoch. Tried on seeds 4-6 (not the bench's
    # 1-3): the rolling training return reached 200 after 709k, 630k and 744k steps (evaluations 273, 275, 269),
    # against about 930k with the zoo's split on seeds 1-3; 10 epochs of 64-sample minibatches reached it after
    # 659k on seed 4 but took 1.6x as long to train; 512-step rollouts (862k, 938k) and 10 epochs of 256-sample
    # minibatches (940k) did not help.
    settings = dict(
        env_id="LunarLander-v3", num_envs=16, num_steps=1024, gamma=0.999, lam=0.98, learning_rate=3e-4,
        anneal_lr=False, update_epochs=10, num_minibatches=128, ent_coef=0.01, anneal_clip=False,
    )
    settings.update(overrides)
    return PPOConfig(**settings)


class PPOLearner:
    """The PPO update: ``update_epochs`` passes of minibatch steps over one rollout (see the module docstring)."""

    def __init__(self, agent: ActorCriticAgent, config: PPOConfig) -> None:
        self.agent = agent
        self.config = config
        self.params = list(agent.parameters())
        self.optimizer = make_optimizer(self.params, config.learning_rate, config.adam_eps)
        self.beta = config.kl_beta_init  # adaptive KL penalty coefficient

    def update(self, rollout: Rollout, frac_remaining: float) -> dict[str, float | None]:
        """One PPO update on ``rollout``; returns the statistics averaged over all minibatch steps taken."""
        c, agent = self.config, self.agent
        lr = set_learning_rate(self.optimizer, annealed(c.learning_rate, frac_remaining, c.anneal_lr))
        clip_eps = annealed(c.clip_eps, frac_remaining, c.anneal_clip)
        beta = self.beta

        est = advantages_and_returns(rollout, c)
        batch = rollout.flat(est.advantages, est.returns)  # valid steps only, B = rollout.num_valid
        stats = StatMeans()
        steps_taken, stopped = 0, False
        for _ in range(c.update_epochs):
            for idx in minibatch_indices(len(batch), c.num_minibatches, c.shuffle):
                mb = batch.select(idx)
                dist, values = agent.distribution_and_value(mb.obs)
                logp = agent.actor.log_prob(dist, mb.actions)
                adv = normalise_advantages(mb.adv) if c.norm_adv else mb.adv

                # clipped surrogate (its ClipStats are diagnostics for every objective)
                clip_loss, clip_stats = ppo_clip_loss(logp, mb.logp_old, adv, clip_eps)
                if c.target_kl is not None and clip_stats.approx_kl > c.target_kl:
                    stopped = True  # the policy has left the trust region: no more steps on this rollout
                    break
                if c.objective == "clip":
                    policy_loss = clip_loss
                else:
                    # unclipped: -E[r A];  kl_penalty: -E[r A - beta KL]
                    policy_loss = kl_penalty_loss(logp, mb.logp_old, adv, beta if c.objective == "kl_penalty" else 0.0)

                if c.clip_vloss:
                    v_loss = value_loss(values, mb.ret, old_values=mb.values, clip_eps=clip_eps)
                else:
                    v_loss = value_loss(values, mb.ret)
                entropy = entropy_bonus(agent.actor.entropy(dist))
                # loss = -L_policy + c1 L_VF - c2 H
                loss = policy_loss + c.vf_coef * v_loss - c.ent_coef * entropy
                optimizer_step(self.optimizer, loss, self.params, c.max_grad_norm)

                steps_taken += 1
                stats.add(
                    policy_loss=policy_loss.item(), value_loss=v_loss.item(), entropy=entropy.item(),
                    approx_kl=clip_stats.approx_kl, clip_fraction=clip_stats.clip_fraction,
                )
            if stopped:
                break

        if c.objective == "kl_penalty":
            # d = KL(pi_old || pi_new) over the whole rollout after the update; then adapt beta for the next one
            with torch.no_grad():
                logp_new = agent.actor.log_prob(agent.distribution(batch.obs), batch.actions)
                d = kl_k3(batch.logp_old, logp_new).mean().item()
            self.beta = adapt_kl_beta(self.beta, d, c.kl_penalty_target)

        return dict(
            explained_variance=explained_variance(batch.values, batch.ret),
            learning_rate=lr,
            clip_eps=clip_eps if c.objective == "clip" else None,
            kl_beta=beta if c.objective == "kl_penalty" else None,
            epochs=steps_taken / c.num_minibatches,
            **stats.means(),
        )


def train(
    config: PPOConfig | None = None, seed: int = 0, total_steps: int = 100_000, progress: bool = True
) -> tuple[ActorCriticAgent, History]:
    """Train PPO from scratch: ``(agent, History)`` with one row per update (see ``run_onpolicy``)."""
    config = PPOConfig() if config is None else config
    if not isinstance(config, PPOConfig):
        raise ValueError(f"config must be a PPOConfig; got {type(config).__name__}")
    return run_onpolicy(config, seed, total_steps, PPOLearner, progress, desc=f"PPO {config.env_id}")
