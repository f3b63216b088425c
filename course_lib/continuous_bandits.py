"""One-step continuous bandits for comparing Gaussian policy parameterisations with PPO's loss.

Two small experiments of notebook 07, each a bandit (one action, one reward, no next state), so that the
quantity of interest has a closed form and a run takes well under a second:

1. **Bounded actions** (``train_bounded``): actions live in ``[low, high]`` and the reward
   ``r(a) = -(a - target)^2`` peaks at ``target``, at or beyond ``high``, so the best feasible action is the bound.
   Three ways of producing a bounded action are compared:

   - ``"clipped"``: ``a ~ N(mu, sigma^2)``, the environment receives ``clip(a, low, high)``, the buffer stores the
     raw sample and its Gaussian log-density (exercise 07.store_unclipped);
   - ``"tanh"``: ``u ~ N(mu, sigma^2)``, ``a = squash(u)``, log-density with the change-of-variables term
     (``course_lib.squashed.TanhGaussian``);
   - ``"tanh_no_jacobian"``: the same actions, with the Gaussian log-density of ``u`` used as if it were
     ``log pi(a)``.

   The entropy bonus uses each method's own idea of the entropy: the Gaussian's closed form for ``"clipped"``
   (what ``GaussianActor`` does), ``-log pi(a)`` of a reparameterised sample for the two tanh variants.

2. **State-dependent exploration** (``train_contextual``): two contexts with the same quadratic reward shape but
   different curvature ``k_c``, ``r(a) = -k_c (a - target_c)^2``. With an entropy bonus ``c2 H``, the best
   Gaussian in context ``c`` has ``sigma_c^2 = c2 / (2 k_c)`` (maximise ``-k_c sigma^2 + c2 log sigma``); a
   single state-independent ``sigma`` shared by equally likely contexts is best at ``sigma^2 = c2 / sum_c k_c``.

Both loops are PPO on a bandit: sample a batch, advantages ``A = r - baseline``, a few epochs of
``course_lib.losses.ppo_clip_loss`` minus ``c2 * entropy_bonus``, Adam.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Normal

from course_lib.losses import entropy_bonus, ppo_clip_loss
from course_lib.squashed import TanhGaussian

__all__ = [
    "BOUNDED_METHODS", "BoundedConfig", "BoundedRun", "train_bounded", "expected_reward",
    "ContextualConfig", "ContextualRun", "train_contextual", "optimal_sigmas",
]

Method = Literal["clipped", "tanh", "tanh_no_jacobian"]
BOUNDED_METHODS: tuple[Method, ...] = ("clipped", "tanh", "tanh_no_jacobian")


# ---------------------------------------------------------------------------------------------------------------
# 1. bounded actions
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BoundedConfig:
    """A 1-D bandit on ``[low, high]`` with ``r(a) = -(a - target)^2`` and the PPO settings to learn it.

    For the first ``switch_at`` iterations the peak is at ``target`` (at or beyond ``high``: the bound binds);
    afterwards it moves to ``target_after`` (inside the box), which measures how fast a policy that has settled
    on the bound can come back.
    """

    low: float = -1.0
    high: float = 1.0
    target: float = 1.5          #: a* while the bound binds (>= high)
    target_after: float = 0.0    #: a* after the switch (inside the box)
    switch_at: int = 60          #: iterations before the switch
    updates: int = 100           #: PPO iterations in all (one batch each)
    batch: int = 128             #: actions per iteration and run
    epochs: int = 3              #: passes over each batch
    lr: float = 0.03             #: Adam learning rate
    clip_eps: float = 0.2
    ent_coef: float = 0.01       #: c2
    log_std_init: float = 0.0

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"BoundedConfig needs low < high, got {self.low}, {self.high}")
        for name in ("updates", "batch", "epochs", "switch_at"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"BoundedConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.clip_eps > 0 and self.ent_coef >= 0):
            raise ValueError("BoundedConfig needs lr > 0, clip_eps > 0 and ent_coef >= 0")

    def target_at(self, iteration: int) -> float:
        """a* at iteration ``iteration`` (0-based)."""
        return self.target if iteration < self.switch_at else self.target_after


class BoundedRun(NamedTuple):
    """Per-iteration records of ``n_runs`` independent runs, each an array of shape ``(updates, n_runs)``.

    mu, sigma: the Gaussian's parameters after the iteration (of ``a`` for "clipped", of the pre-squash ``u`` for
    the tanh variants); at_bound: share of the iteration's actions at a bound (clipped) or within 1 % of the
    range from one (tanh); ret: ``expected_reward`` of the policy after the iteration, under that iteration's
    target (a smooth learning curve with no sampling noise).
    """

    mu: np.ndarray
    sigma: np.ndarray
    at_bound: np.ndarray
    ret: np.ndarray


def _to_env(method: Method, u: Tensor, cfg: BoundedConfig) -> Tensor:
    """The action the environment receives from the Gaussian sample ``u`` (any shape)."""
    if method == "clipped":
        return u.clamp(cfg.low, cfg.high)
    return cfg.low + (cfg.high - cfg.low) * (torch.tanh(u) + 1) / 2


def _at_bound(method: Method, u: Tensor, cfg: BoundedConfig) -> Tensor:
    """Share of actions at a bound per run, ``(n_runs, B, 1)`` -> ``(n_runs,)``."""
    if method == "clipped":
        hit = (u < cfg.low) | (u > cfg.high)
    else:
        a = _to_env(method, u, cfg)
        edge = 0.01 * (cfg.high - cfg.low)
        hit = (a < cfg.low + edge) | (a > cfg.high - edge)
    return hit.double().mean(dim=(1, 2))


_EVAL_NOISE = torch.randn(20_000, generator=torch.Generator().manual_seed(12345), dtype=torch.float64)


def expected_reward(method: Method, mu: np.ndarray, sigma: np.ndarray, target: float,
                    cfg: BoundedConfig) -> np.ndarray:
    """E[r(a)] of policies with parameters ``mu``, ``sigma`` (any equal shapes), from 20 000 fixed normal draws
    (common random numbers: the same draws for every policy), float64."""
    mu_t = torch.as_tensor(mu, dtype=torch.float64)[..., None]
    sigma_t = torch.as_tensor(sigma, dtype=torch.float64)[..., None]
    u = mu_t + sigma_t * _EVAL_NOISE
    return (-(_to_env(method, u, cfg) - target) ** 2).mean(dim=-1).numpy()


def train_bounded(method: Method, cfg: BoundedConfig, seed: int, n_runs: int = 8) -> BoundedRun:
    """PPO on the bounded bandit with one of ``BOUNDED_METHODS``, ``n_runs`` independent runs at once.

    Each run has its own (mu, log sigma), its own samples and its own advantage normalisation; the runs share
    nothing but the seeded random stream they draw from (and a batched loss: Adam's steps are per parameter, so
    averaging the runs' losses does not couple them).
    """
    if method not in BOUNDED_METHODS:
        raise ValueError(f"method must be one of {BOUNDED_METHODS}, got {method!r}")
    g = torch.Generator().manual_seed(seed)
    mu = nn.Parameter(torch.zeros(n_runs, 1, 1))
    log_std = nn.Parameter(torch.full((n_runs, 1, 1), float(cfg.log_std_init)))
    opt = torch.optim.Adam([mu, log_std], lr=cfg.lr)
    rec: dict[str, list[np.ndarray]] = {"mu": [], "sigma": [], "at_bound": [], "ret": []}

    def logp_and_entropy(u: Tensor) -> tuple[Tensor, Tensor]:
        """log pi of the stored samples and an entropy estimate, each ``(n_runs, B)``, at the current parameters."""
        mean = mu.expand_as(u)
        std = log_std.exp().expand_as(u)
        if method == "clipped":
            base = Normal(mean, std)
            return base.log_prob(u).sum(-1), base.entropy().sum(-1)
        dist = TanhGaussian(mean, std, cfg.low, cfg.high)
        if method == "tanh":
            return dist.log_prob_u(u), dist.entropy_estimate()
        # no Jacobian: the Gaussian log-density of u stands in for log pi(a), and -E[log N(u)] for the entropy
        return dist.base.log_prob(u).sum(-1), -dist.base.log_prob(dist.base.rsample()).sum(-1)

    for it in range(cfg.updates):
        target = cfg.target_at(it)
        with torch.no_grad():
            u = mu + log_std.exp() * torch.randn(n_runs, cfg.batch, 1, generator=g)
            r = -(_to_env(method, u, cfg) - target).square().sum(-1)
            # A = (r - mean r) / std r per run: a batch-mean baseline, normalised as PPO normalises advantages
            adv = (r - r.mean(dim=1, keepdim=True)) / (r.std(dim=1, keepdim=True) + 1e-8)
            logp_old, _ = logp_and_entropy(u)
        for _ in range(cfg.epochs):
            logp, ent = logp_and_entropy(u)
            clip_loss, _ = ppo_clip_loss(logp, logp_old, adv, cfg.clip_eps)
            # loss = -L_clip - c2 H
            loss = clip_loss - cfg.ent_coef * entropy_bonus(ent)
            opt.zero_grad()
            loss.backward()
            opt.step()
        m, s = mu.detach().flatten().numpy().copy(), log_std.detach().exp().flatten().numpy().copy()
        rec["mu"].append(m)
        rec["sigma"].append(s)
        rec["at_bound"].append(_at_bound(method, u, cfg).numpy())
        rec["ret"].append(expected_reward(method, m, s, target, cfg))
    return BoundedRun(*(np.stack(rec[k]) for k in ("mu", "sigma", "at_bound", "ret")))


# ---------------------------------------------------------------------------------------------------------------
# 2. state-dependent vs state-independent log sigma
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContextualConfig:
    """Two equally likely contexts, ``r(a) = -k_c (a - target_c)^2``, and the PPO settings to learn them."""

    curvature: tuple[float, float] = (0.1, 10.0)   #: k_c: flat context 0, sharply peaked context 1
    target: tuple[float, float] = (0.5, -0.5)      #: target_c
    ent_coef: float = 0.2                          #: c2
    updates: int = 120
    batch: int = 256
    epochs: int = 3
    lr: float = 0.05
    clip_eps: float = 0.2

    def __post_init__(self) -> None:
        if len(self.curvature) != 2 or min(self.curvature) <= 0:
            raise ValueError(f"ContextualConfig.curvature must be two positive numbers, got {self.curvature}")
        if not (self.ent_coef > 0 and self.lr > 0 and self.clip_eps > 0):
            raise ValueError("ContextualConfig needs ent_coef > 0, lr > 0 and clip_eps > 0")


def optimal_sigmas(cfg: ContextualConfig) -> tuple[np.ndarray, float]:
    """(best sigma per context (2,), best single shared sigma) of the entropy-regularised objective."""
    k = np.asarray(cfg.curvature, dtype=float)
    # max_sigma -k sigma^2 + c2 log sigma  =>  sigma^2 = c2 / (2k); shared: -(k_0 + k_1)/2 sigma^2 + c2 log sigma
    return np.sqrt(cfg.ent_coef / (2 * k)), math.sqrt(cfg.ent_coef / k.sum())


class ContextualRun(NamedTuple):
    """sigma: (updates, n_runs, 2) each run's sigma in each context after every iteration; reward: (updates,
    n_runs) the batch's mean reward."""

    sigma: np.ndarray
    reward: np.ndarray


def train_contextual(state_dependent: bool, cfg: ContextualConfig, seed: int, n_runs: int = 8) -> ContextualRun:
    """PPO with an entropy bonus on the two-context bandit, ``n_runs`` independent runs at once.

    The policy is Gaussian with a mean per context; ``log sigma`` is a head on the (one-hot) state when
    ``state_dependent``, else one parameter shared by all states (as ``GaussianActor``'s ``log_std``).
    """
    g = torch.Generator().manual_seed(seed)
    mean = nn.Parameter(torch.zeros(n_runs, 2))
    log_std = nn.Parameter(torch.zeros(n_runs, 2 if state_dependent else 1))
    opt = torch.optim.Adam([mean, log_std], lr=cfg.lr)
    k, target = torch.tensor(cfg.curvature), torch.tensor(cfg.target)
    rows = torch.arange(n_runs)[:, None]

    def policy(ctx: Tensor) -> Normal:
        """pi(.|s) for contexts ``ctx`` (n_runs, B) -> Normal of batch shape (n_runs, B)."""
        ls = log_std[rows, ctx] if state_dependent else log_std.expand_as(ctx)
        return Normal(mean[rows, ctx], ls.exp())

    sigmas, rewards = [], []
    for _ in range(cfg.updates):
        with torch.no_grad():
            ctx = torch.randint(0, 2, (n_runs, cfg.batch), generator=g)
            dist = policy(ctx)
            a = dist.loc + dist.scale * torch.randn(n_runs, cfg.batch, generator=g)
            r = -k[ctx] * (a - target[ctx]).square()
            # A = r - (mean of r in the same run and context): a per-context baseline, not normalised, so that
            # c2 keeps the units of the closed form
            onehot = nn.functional.one_hot(ctx, 2).double()
            base = (onehot * r[..., None]).sum(1) / onehot.sum(1).clamp(min=1)
            adv = (r - base.gather(1, ctx)).float()
            logp_old = dist.log_prob(a)
        for _ in range(cfg.epochs):
            dist = policy(ctx)
            clip_loss, _ = ppo_clip_loss(dist.log_prob(a), logp_old, adv, cfg.clip_eps)
            # loss = -L_clip - c2 H
            loss = clip_loss - cfg.ent_coef * entropy_bonus(dist.entropy())
            opt.zero_grad()
            loss.backward()
            opt.step()
        sigmas.append(log_std.detach().exp().expand(n_runs, 2).numpy().copy())
        rewards.append(r.mean(dim=1).numpy())
    return ContextualRun(np.stack(sigmas), np.stack(rewards))
