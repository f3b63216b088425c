"""Trust Region Policy Optimisation (Schulman et al. 2015), with the critic trained by Adam as in PPO.

The policy step solves, to second order around the current parameters theta_old,

    maximise  g^T s      subject to   0.5 s^T F s <= delta

where g = grad of the surrogate L(theta) = E[r A] (r = pi_theta / pi_old) and F = the Hessian of the mean
KL(pi_old || pi_theta) at theta_old (the Fisher information matrix). Its solution is s = sqrt(2 delta / x^T F x) x
with x = F^{-1} g. F is never built: conjugate gradient needs only products F v, computed by differentiating
(grad KL) . v a second time ("double backprop"), plus a small damping term. A backtracking line search then
shrinks the step until the *measured* KL is within delta and the surrogate actually improved (the quadratic
model can be wrong far from theta_old).

Same rollout, advantages, agent and outer loop as A2C and PPO; only the policy step differs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from course_lib.agent import ActorCriticAgent
from course_lib.algos.onpolicy import ActorCriticConfig, advantages_and_returns, run_onpolicy
from course_lib.diagnostics import explained_variance, kl_exact, kl_k3
from course_lib.losses import entropy_bonus, value_loss
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
from course_lib.rollout import FlatBatch, Rollout
from course_lib.validation import check_open_unit_interval, check_positive, check_positive_int

__all__ = [
    "TRPOConfig",
    "TRPOLearner",
    "conjugate_gradient",
    "fisher_vector_product",
    "natural_gradient_step",
    "train",
]


@dataclass
class TRPOConfig(ActorCriticConfig):
    """TRPO's settings. ``learning_rate`` is the critic's (Adam); the policy's step size is set by ``max_kl``.

    Only the settings that differ from ``ActorCriticConfig``'s are restated here.
    """

    num_steps: int = 128
    learning_rate: float = 1e-3
    max_kl: float = 0.01
    """delta: bound on the mean KL(pi_old || pi_new) of one policy step."""
    cg_iters: int = 10
    """Conjugate-gradient iterations for x = F^{-1} g."""
    cg_damping: float = 0.1
    """lambda in (F + lambda I) v: keeps the system well conditioned."""
    backtrack_iters: int = 10
    """Line-search trials: step fractions 1, c, c^2, ...; the step is rejected if none passes."""
    backtrack_coeff: float = 0.8
    """c, the shrink factor of the line search, in (0, 1)."""
    critic_epochs: int = 10
    """Passes of minibatch Adam steps on the value loss per update."""
    critic_minibatches: int = 8
    """Minibatches per critic epoch."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.shared_network:
            raise ValueError(
                "shared_network must be False for TRPO: its natural-gradient step is for the policy's parameters "
                "alone, and the critic is trained separately; got shared_network=True"
            )
        self.max_kl = check_positive("max_kl", self.max_kl)
        self.cg_iters = check_positive_int("cg_iters", self.cg_iters)
        self.cg_damping = check_positive("cg_damping", self.cg_damping)
        self.backtrack_iters = check_positive_int("backtrack_iters", self.backtrack_iters)
        self.backtrack_coeff = check_open_unit_interval("backtrack_coeff", self.backtrack_coeff)
        self.critic_epochs = check_positive_int("critic_epochs", self.critic_epochs)
        self.critic_minibatches = check_positive_int("critic_minibatches", self.critic_minibatches)
        if self.batch_size % self.critic_minibatches != 0:
            raise ValueError(
                f"critic_minibatches must divide num_envs * num_steps = {self.batch_size}; "
                f"got critic_minibatches={self.critic_minibatches}"
            )


def conjugate_gradient(
    matvec: Callable[[Tensor], Tensor], b: Tensor, iters: int = 10, residual_tol: float = 1e-10
) -> Tensor:
    """Solve ``A x = b`` for a symmetric positive-definite A given only ``matvec(v) = A v``; ``b`` is ``(P,)``.

    Each iteration moves along a search direction A-conjugate to the previous ones; in exact arithmetic the
    solution is reached after P iterations, and a few give a good approximation when A is well conditioned.
    Stops early once the squared residual ``||b - A x||^2`` drops below ``residual_tol``. Returns x, ``(P,)``.
    """
    x = torch.zeros_like(b)
    r = b.clone()  # residual b - A x (x = 0)
    p = b.clone()  # search direction
    rr = r @ r
    for _ in range(iters):
        if rr.item() < residual_tol:
            break
        Ap = matvec(p)
        # alpha = r^T r / p^T A p: the exact minimiser along p
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        # p <- r + (r_new^T r_new / r^T r) p keeps the directions A-conjugate
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def fisher_vector_product(
    kl: Tensor, params: list[nn.Parameter], damping: float
) -> Callable[[Tensor], Tensor]:
    """``v -> (F + damping I) v`` with F = Hessian of the scalar ``kl`` w.r.t. ``params`` (flattened, ``(P,)``).

    ``kl`` must be built with gradient from ``params`` (e.g. the mean KL(pi_old || pi_theta), which is 0 with
    zero gradient at theta = theta_old; its Hessian there is the Fisher information matrix). Double backprop:

        F v = grad_theta ( (grad_theta KL) . v )
    """
    grads = torch.autograd.grad(kl, params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])

    def fvp(v: Tensor) -> Tensor:
        hv = torch.autograd.grad(flat_grad @ v, params, retain_graph=True)
        # (F + lambda I) v
        return torch.cat([h.reshape(-1) for h in hv]) + damping * v

    return fvp


def natural_gradient_step(
    g: Tensor, fvp: Callable[[Tensor], Tensor], max_kl: float, cg_iters: int = 10
) -> Tensor:
    """The full TRPO step ``s`` (``(P,)``) for surrogate gradient ``g`` (``(P,)``) and Fisher products ``fvp``.

        x = F^{-1} g  (conjugate gradient),    s = sqrt(2 delta / x^T F x) x

    so that the quadratic KL model of the step, 0.5 s^T F s, equals ``max_kl`` = delta.
    """
    x = conjugate_gradient(fvp, g, cg_iters)
    # s = sqrt(2 delta / x^T F x) x
    xFx = (x @ fvp(x)).clamp_min(1e-12)
    return torch.sqrt(2.0 * max_kl / xFx) * x


class TRPOLearner:
    """The TRPO update: a natural-gradient policy step in the KL trust region, then Adam epochs for the critic."""

    def __init__(self, agent: ActorCriticAgent, config: TRPOConfig) -> None:
        self.agent = agent
        self.config = config
        self.policy_params = list(agent.actor.parameters())
        self.critic_params = list(agent.critic.parameters())
        self.critic_optimizer = make_optimizer(self.critic_params, config.learning_rate, config.adam_eps)

    def _surrogate(self, batch: FlatBatch, adv: Tensor) -> tuple[Tensor, torch.distributions.Distribution, Tensor]:
        """L(theta) = E[exp(logp - logp_old) A], the distribution and logp under the current parameters."""
        dist = self.agent.distribution(batch.obs)
        logp = self.agent.actor.log_prob(dist, batch.actions)
        # L = E[r A],  r = pi_theta(a|s) / pi_old(a|s)
        return (torch.exp(logp - batch.logp_old) * adv).mean(), dist, logp

    def update(self, rollout: Rollout, frac_remaining: float) -> dict[str, float | None]:
        """One TRPO update; ``step_fraction`` is the accepted share of the full step (0 = rejected)."""
        c, agent = self.config, self.agent
        lr = set_learning_rate(self.critic_optimizer, annealed(c.learning_rate, frac_remaining, c.anneal_lr))
        est = advantages_and_returns(rollout, c)
        batch = rollout.flat(est.advantages, est.returns)
        adv = normalise_advantages(batch.adv) if c.norm_adv else batch.adv

        # --- policy: natural gradient step, scaled to the KL bound -------------------------------------------------
        with torch.no_grad():
            dist_old = agent.distribution(batch.obs)  # pi_old as constants
        surr_old, dist, logp = self._surrogate(batch, adv)
        entropy = entropy_bonus(agent.actor.entropy(dist)).item()
        g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(surr_old, self.policy_params, retain_graph=True)])
        fvp = fisher_vector_product(kl_exact(dist_old, dist).mean(), self.policy_params, c.cg_damping)
        full_step = natural_gradient_step(g, fvp, c.max_kl, c.cg_iters)

        theta_old = parameters_to_vector(self.policy_params).detach()
        step_fraction = 0.0
        surr_new = surr_old.detach()
        with torch.no_grad():
            for k in range(c.backtrack_iters):
                frac = c.backtrack_coeff**k
                vector_to_parameters(theta_old + frac * full_step, self.policy_params)
                surr, dist_new, _ = self._surrogate(batch, adv)
                kl = kl_exact(dist_old, dist_new).mean()
                # accept the first step that stays in the trust region and improves the surrogate
                if kl.item() <= c.max_kl and surr.item() > surr_old.item():
                    step_fraction, surr_new = frac, surr
                    break
            else:
                vector_to_parameters(theta_old, self.policy_params)  # no acceptable step: keep pi_old
            logp_new = agent.actor.log_prob(agent.distribution(batch.obs), batch.actions)
            approx_kl = kl_k3(batch.logp_old, logp_new).mean().item()

        # --- critic: Adam on the value loss ------------------------------------------------------------------
        v_stats = StatMeans()
        for _ in range(c.critic_epochs):
            for idx in minibatch_indices(len(batch), c.critic_minibatches, shuffle=True):
                mb = batch.select(idx)
                v_loss = value_loss(agent.value(mb.obs), mb.ret)
                optimizer_step(self.critic_optimizer, v_loss, self.critic_params, c.max_grad_norm)
                v_stats.add(value_loss=v_loss.item())

        return dict(
            policy_loss=-surr_new.item(),
            entropy=entropy,
            approx_kl=approx_kl,
            explained_variance=explained_variance(batch.values, batch.ret),
            learning_rate=lr,
            step_fraction=step_fraction,
            **v_stats.means(),
        )


def train(
    config: TRPOConfig | None = None, seed: int = 0, total_steps: int = 100_000, progress: bool = True
) -> tuple[ActorCriticAgent, History]:
    """Train TRPO from scratch: ``(agent, History)`` with one row per update (see ``run_onpolicy``)."""
    config = TRPOConfig() if config is None else config
    if not isinstance(config, TRPOConfig):
        raise ValueError(f"config must be a TRPOConfig; got {type(config).__name__}")
    return run_onpolicy(config, seed, total_steps, TRPOLearner, progress, desc=f"TRPO {config.env_id}")
