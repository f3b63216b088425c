"""Advantage Actor-Critic, A2C (the synchronous variant of Mnih et al. 2016's A3C).

One update = one gradient step on the whole rollout (N envs x T steps), minimising

    loss = -E[log pi(a_t|s_t) A_t] + c1 * 0.5 E[(V(s_t) - R_t)^2] - c2 * H

with A_t from GAE(gamma, lam) (the default), or (``use_gae=False``, the classic A2C) from n-step returns bootstrapped
at the end of the rollout: R_t = r_t + gamma r_{t+1} + ... + gamma^{T-t} V(s_T). Compare with ``ppo.py``: the same rollout,
advantages, networks and outer loop; PPO replaces the single step by several epochs on a clipped objective.
"""
from __future__ import annotations

from dataclasses import dataclass

from course_lib.agent import ActorCriticAgent
from course_lib.algos.onpolicy import ActorCriticConfig, advantages_and_returns, run_onpolicy
from course_lib.diagnostics import explained_variance, kl_k3
from course_lib.losses import entropy_bonus, policy_gradient_loss, value_loss
from course_lib.normalisation import normalise_advantages
from course_lib.optim import annealed, make_optimizer, optimizer_step, set_learning_rate
from course_lib.record import History
from course_lib.rollout import Rollout

__all__ = ["A2CConfig", "A2CLearner", "train"]


@dataclass
class A2CConfig(ActorCriticConfig):
    """A2C's settings; the defaults solve CartPole-v1 (8 envs x 8 steps, GAE(0.9), normalised advantages).

    The classic A2C (Mnih et al. 2016) uses n-step returns: ``use_gae=False`` (then ``lam`` is unused).
    Only the settings that differ from ``ActorCriticConfig``'s are restated here.
    """

    num_steps: int = 8
    lam: float = 0.9
    learning_rate: float = 1e-3
    anneal_lr: bool = True


class A2CLearner:
    """The A2C update: one gradient step of policy-gradient + value loss on the whole rollout."""

    def __init__(self, agent: ActorCriticAgent, config: A2CConfig) -> None:
        self.agent = agent
        self.config = config
        self.params = list(agent.parameters())
        self.optimizer = make_optimizer(self.params, config.learning_rate, config.adam_eps)

    def update(self, rollout: Rollout, frac_remaining: float) -> dict[str, float | None]:
        """One A2C step on ``rollout``; ``approx_kl`` is the k3 KL between the policies before and after it."""
        c, agent = self.config, self.agent
        lr = set_learning_rate(self.optimizer, annealed(c.learning_rate, frac_remaining, c.anneal_lr))
        est = advantages_and_returns(rollout, c)
        batch = rollout.flat(est.advantages, est.returns)  # valid steps only

        dist, values = agent.distribution_and_value(batch.obs)
        logp = agent.actor.log_prob(dist, batch.actions)
        adv = normalise_advantages(batch.adv) if c.norm_adv else batch.adv
        # L_PG = -E[log pi(a|s) A]
        policy_loss = policy_gradient_loss(logp, adv)
        v_loss = value_loss(values, batch.ret)
        entropy = entropy_bonus(agent.actor.entropy(dist))
        # loss = L_PG + c1 L_VF - c2 H
        loss = policy_loss + c.vf_coef * v_loss - c.ent_coef * entropy
        optimizer_step(self.optimizer, loss, self.params, c.max_grad_norm)

        logp_new = agent.actor.log_prob(agent.distribution(batch.obs), batch.actions).detach()
        return dict(
            policy_loss=policy_loss.item(),
            value_loss=v_loss.item(),
            entropy=entropy.item(),
            approx_kl=kl_k3(batch.logp_old, logp_new).mean().item(),
            explained_variance=explained_variance(batch.values, batch.ret),
            learning_rate=lr,
        )


def train(
    config: A2CConfig | None = None, seed: int = 0, total_steps: int = 100_000, progress: bool = True
) -> tuple[ActorCriticAgent, History]:
    """Train A2C from scratch: ``(agent, History)`` with one row per update (see ``run_onpolicy``)."""
    config = A2CConfig() if config is None else config
    if not isinstance(config, A2CConfig):
        raise ValueError(f"config must be an A2CConfig; got {type(config).__name__}")
    return run_onpolicy(config, seed, total_steps, A2CLearner, progress, desc=f"A2C {config.env_id}")
