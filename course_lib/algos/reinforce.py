"""REINFORCE (Williams 1992): the Monte Carlo policy gradient, with or without a learned baseline.

    grad J = E[ sum_t grad log pi(a_t|s_t) (G_t - b(s_t)) ],     G_t = r_t + gamma r_{t+1} + ... (to the episode end)

Without a baseline b = 0; with one, b(s) = V(s) is a critic regressed on G_t (Sutton & Barto 13.4). Neither
bootstraps: G_t is the plain discounted sum of the rewards that followed, so only steps whose episode *ended
inside the rollout* have a known G_t. The others (the unfinished tail of every env's rollout) are left out of
the loss; their episode continues in the next rollout, where its later steps are used. A time-limit truncation
is treated as the end of the return (REINFORCE has no critic to bootstrap from; with a baseline it still
regresses V on the cut return, so values near the time limit are underestimated).

Same outer loop, agent and rollout as A2C/PPO; one gradient step per rollout.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.advantages import discounted_returns
from course_lib.agent import ActorCriticAgent
from course_lib.algos.onpolicy import OnPolicyConfig, run_onpolicy
from course_lib.diagnostics import explained_variance, kl_k3
from course_lib.losses import entropy_bonus, policy_gradient_loss, value_loss
from course_lib.normalisation import normalise_advantages
from course_lib.optim import annealed, make_optimizer, optimizer_step, set_learning_rate
from course_lib.record import History
from course_lib.rollout import Rollout
from course_lib.validation import check_bool

__all__ = ["ReinforceConfig", "ReinforceLearner", "finished_episode_mask", "train"]


@dataclass
class ReinforceConfig(OnPolicyConfig):
    """REINFORCE's settings. Long rollouts (T = 256) so that most steps belong to an episode that ends in them.

    Only the settings that differ from ``OnPolicyConfig``'s are restated here.
    """

    num_envs: int = 4
    num_steps: int = 256
    learning_rate: float = 1e-3
    baseline: bool = True
    """Subtract a learned V(s) from G_t (True) or use G_t itself as the weight (False)."""
    norm_adv: bool = False
    max_grad_norm: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.baseline = check_bool("baseline", self.baseline)


def finished_episode_mask(rollout: Rollout) -> Tensor:
    """``(T, N)`` bool: valid steps whose episode ends within the rollout (their Monte Carlo return is known).

    Step t of env i qualifies iff some step t' >= t of env i is terminated or truncated.
    """
    done = rollout.dones > 0
    # ends_later[t] = any(done[t:]), a cumulative "or" taken backwards in time
    ends_later = torch.flip(torch.cummax(torch.flip(done.to(torch.int8), [0]), dim=0).values, [0]) > 0
    return ends_later & rollout.valid


class ReinforceLearner:
    """The REINFORCE update: one policy-gradient step on the finished episodes of a rollout."""

    def __init__(self, agent: ActorCriticAgent, config: ReinforceConfig) -> None:
        self.agent = agent
        self.config = config
        self.params = list(agent.parameters())
        self.optimizer = make_optimizer(self.params, config.learning_rate, config.adam_eps)

    def update(self, rollout: Rollout, frac_remaining: float) -> dict[str, float | None]:
        """One step on ``rollout``; returns the statistics (value loss only with a baseline)."""
        c, agent = self.config, self.agent
        lr = set_learning_rate(self.optimizer, annealed(c.learning_rate, frac_remaining, c.anneal_lr))
        mask = finished_episode_mask(rollout)
        if not mask.any():
            # no episode ended in this rollout: nothing has a known return yet
            return dict(learning_rate=lr)

        # G_t = r_t + gamma G_{t+1}, cut at every episode end, never bootstrapped
        ret = discounted_returns(rollout.rewards, rollout.terminated, rollout.truncated, c.gamma)[mask]
        obs, actions, logp_old = rollout.obs[mask], rollout.actions[mask], rollout.logp[mask]

        dist, values = agent.distribution_and_value(obs)
        logp = agent.actor.log_prob(dist, actions)
        # A_t = G_t - b(s_t), b = V (detached: the baseline only reduces variance) or 0
        adv = ret - values.detach() if c.baseline else ret
        if c.norm_adv:
            adv = normalise_advantages(adv)
        policy_loss = policy_gradient_loss(logp, adv)
        entropy = entropy_bonus(agent.actor.entropy(dist))
        loss = policy_loss - c.ent_coef * entropy
        v_loss = None
        if c.baseline:
            v_loss = value_loss(values, ret)
            loss = loss + c.vf_coef * v_loss
        optimizer_step(self.optimizer, loss, self.params, c.max_grad_norm)

        logp_new = agent.actor.log_prob(agent.distribution(obs), actions).detach()
        return dict(
            policy_loss=policy_loss.item(),
            value_loss=None if v_loss is None else v_loss.item(),
            entropy=entropy.item(),
            approx_kl=kl_k3(logp_old, logp_new).mean().item(),
            explained_variance=explained_variance(values.detach(), ret) if c.baseline else None,
            learning_rate=lr,
        )


def train(
    config: ReinforceConfig | None = None, seed: int = 0, total_steps: int = 100_000, progress: bool = True
) -> tuple[ActorCriticAgent, History]:
    """Train REINFORCE from scratch: ``(agent, History)`` with one row per update (see ``run_onpolicy``)."""
    config = ReinforceConfig() if config is None else config
    if not isinstance(config, ReinforceConfig):
        raise ValueError(f"config must be a ReinforceConfig; got {type(config).__name__}")
    name = "REINFORCE+baseline" if config.baseline else "REINFORCE"
    return run_onpolicy(config, seed, total_steps, ReinforceLearner, progress, desc=f"{name} {config.env_id}")
