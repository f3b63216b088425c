"""Policy and value losses of actor-critic methods (the KL estimators they use live in ``diagnostics.py``).

Every loss is a scalar tensor to *minimise*. The PPO paper's objective (Schulman et al. 2017, eq. 9) is
maximised, ``L = L_clip - c1 * L_VF + c2 * H``, so a training step minimises

    loss = ppo_clip_loss(...) + c1 * value_loss(...) - c2 * entropy_bonus(...)

Shapes: per-sample inputs share one shape, usually a flat batch ``(B,)`` (``(T, N)`` works too). ``valid`` is an
optional mask of that shape (bool or 0/1 float); masked-out samples (e.g. next-step-autoreset steps) count
nowhere, neither in a loss nor in a statistic. Mismatched shapes raise ValueError: broadcasting ``(B,)`` against
``(B, 1)`` would silently give a ``(B, B)`` loss.

Advantages, returns, ``logp_old`` and ``old_values`` are treated as constants (detached inside): gradients flow only
through ``logp``, ``values`` and ``entropy``. Every per-sample input must be a torch tensor (numpy arrays have
no gradient) and finite: a NaN advantage or return raises ValueError naming it instead of a NaN loss.
"""
from __future__ import annotations

from typing import NamedTuple

from typing import Any

import torch

from course_lib.diagnostics import kl_k3
from course_lib.masking import masked_mean
from course_lib.validation import (
    check_all_finite,
    check_non_negative,
    check_positive,
    check_same_shape,
    check_tensor,
)

__all__ = [
    "ClipStats",
    "policy_gradient_loss",
    "ppo_clip_loss",
    "kl_penalty_loss",
    "adapt_kl_beta",
    "value_loss",
    "entropy_bonus",
]


def _check_samples(**inputs: Any) -> None:
    """Every per-sample input of a loss is a finite torch tensor (None means "not given" and passes)."""
    for name, x in inputs.items():
        if x is not None:
            check_tensor(name, x)
            check_all_finite(name, x)


class ClipStats(NamedTuple):
    """Diagnostics of one PPO clipped-surrogate evaluation (plain floats, computed without gradient).

    Attributes:
        clip_fraction: share of (valid) samples whose ratio lies outside ``[1 - clip_eps, 1 + clip_eps]``.
            Healthy PPO runs stay around 0.05-0.2; near 0 the policy barely moves, near 0.5 steps are too large.
        approx_kl: the k3 estimate of KL(pi_old || pi_new) averaged over the samples (never negative).
            Commonly around 0.01-0.02 per update; much larger means the update left the trust region.
    """

    clip_fraction: float
    approx_kl: float


def policy_gradient_loss(
    logp: torch.Tensor, adv: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Vanilla policy-gradient (REINFORCE / A2C) loss: ``-mean(logp * A)``.

    Its gradient is ``-mean(grad log pi(a|s) * A)``, minus the policy-gradient estimate. ``adv`` is detached: the
    advantage is a weight, not something to differentiate (errata 9).

    Args:
        logp: log pi(a_t|s_t) of the taken actions, shape (B,) (or (T, N)), with gradient.
        adv: advantage estimates A_t, same shape.
        valid: optional mask, same shape.
    Returns:
        scalar loss.
    Raises:
        ValueError: on mismatched shapes or an empty mask.
    """
    _check_samples(logp=logp, adv=adv)
    check_same_shape("logp", logp, "adv", adv)
    # L_PG = -E[log pi(a|s) * A]
    return -masked_mean(logp * adv.detach(), valid)


def ppo_clip_loss(
    logp: torch.Tensor,
    logp_old: torch.Tensor,
    adv: torch.Tensor,
    clip_eps: float,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, ClipStats]:
    """PPO's clipped surrogate loss (Schulman et al. 2017, eq. 7), negated for minimisation.

        ratio_t = exp(logp_t - logp_old_t)
        L_clip  = E[min(ratio_t * A_t, clip(ratio_t, 1 - eps, 1 + eps) * A_t)]

    The min makes L_clip a pessimistic bound: once a sample's ratio has moved past the clip *in the direction that
    helps* (A > 0 and ratio > 1 + eps, or A < 0 and ratio < 1 - eps) its gradient is zero; a move that makes the
    objective worse is always counted in full (errata 13).

    Args:
        logp: log pi_theta(a|s) under the current parameters, shape (B,), with gradient.
        logp_old: log pi_old(a|s) recorded at collection time, same shape.
        adv: advantages, same shape.
        clip_eps: eps > 0, e.g. 0.2.
        valid: optional mask, same shape.
    Returns:
        (loss = -L_clip as a scalar tensor, ClipStats(clip_fraction, approx_kl)).
    Raises:
        ValueError: clip_eps <= 0; mismatched shapes; an empty mask.
    """
    clip_eps = check_positive("clip_eps", clip_eps)
    _check_samples(logp=logp, logp_old=logp_old, adv=adv)
    check_same_shape("logp", logp, "logp_old", logp_old)
    check_same_shape("logp", logp, "adv", adv)
    logp_old, adv = logp_old.detach(), adv.detach()
    # ratio = pi_theta(a|s) / pi_old(a|s) = exp(logp - logp_old)
    ratio = torch.exp(logp - logp_old)
    surr = ratio * adv
    surr_clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
    # L_clip = E[min(ratio A, clip(ratio, 1 - eps, 1 + eps) A)]
    loss = -masked_mean(torch.minimum(surr, surr_clipped), valid)
    with torch.no_grad():
        clipped = ((ratio - 1.0).abs() > clip_eps).to(ratio.dtype)
        stats = ClipStats(
            clip_fraction=masked_mean(clipped, valid).item(),
            approx_kl=masked_mean(kl_k3(logp_old, logp), valid).item(),
        )
    return loss, stats


def kl_penalty_loss(
    logp: torch.Tensor,
    logp_old: torch.Tensor,
    adv: torch.Tensor,
    beta: float,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """PPO's KL-penalised surrogate (Schulman et al. 2017, sec. 4), negated for minimisation.

        L_KLPEN = E[ratio_t * A_t - beta * KL(pi_old(.|s_t) || pi_theta(.|s_t))]

    The KL of each state is estimated from its sampled action with k3 (:func:`kl_k3`), whose gradient in
    expectation is the gradient of the exact KL. If you have the full distributions, the exact KL works too:
    ``-(masked_mean(ratio * adv) - beta * kl_exact(...).mean())``. Adapt beta between updates with
    :func:`adapt_kl_beta`.

    Args:
        logp: log pi_theta(a|s), shape (B,), with gradient.
        logp_old: log pi_old(a|s), same shape.
        adv: advantages, same shape.
        beta: penalty coefficient >= 0 (0 gives the unclipped surrogate).
        valid: optional mask, same shape.
    Returns:
        scalar loss.
    Raises:
        ValueError: beta < 0; mismatched shapes; an empty mask.
    """
    beta = check_non_negative("beta", beta)
    _check_samples(logp=logp, logp_old=logp_old, adv=adv)
    check_same_shape("logp", logp, "logp_old", logp_old)
    check_same_shape("logp", logp, "adv", adv)
    logp_old, adv = logp_old.detach(), adv.detach()
    # ratio = exp(logp - logp_old)
    ratio = torch.exp(logp - logp_old)
    # L_KLPEN = E[ratio * A - beta * KL_k3]
    return -masked_mean(ratio * adv - beta * kl_k3(logp_old, logp), valid)


def adapt_kl_beta(beta: float, kl: float, d_targ: float, factor: float = 2.0, tolerance: float = 1.5) -> float:
    """The adaptive KL coefficient rule of Schulman et al. 2017, sec. 4, applied after each policy update.

        d < d_targ / tolerance  ->  beta / factor   (the policy moved too little: penalise less)
        d > d_targ * tolerance  ->  beta * factor   (it moved too much: penalise more)
        otherwise                  ->  beta

    Args:
        beta: current coefficient, > 0.
        kl: the measured mean KL(pi_old || pi_new) of the update, >= 0.
        d_targ: the target KL, > 0 (PPOConfig.kl_penalty_target).
        factor: multiplicative step, > 0 (the paper uses 2).
        tolerance: band around the target, > 0 (the paper uses 1.5).
    Returns:
        the new beta.
    Raises:
        ValueError: any argument out of its range.
    """
    beta = check_positive("beta", beta)
    kl = check_non_negative("kl", kl)
    d_targ = check_positive("d_targ", d_targ)
    factor = check_positive("factor", factor)
    tolerance = check_positive("tolerance", tolerance)
    if kl < d_targ / tolerance:
        return beta / factor
    if kl > d_targ * tolerance:
        return beta * factor
    return beta


def value_loss(
    values: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor | None = None,
    clip_eps: float | None = None,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Critic loss: half the mean squared error to the value targets, optionally clipped as in PPO code.

    Unclipped:
        L_VF = 0.5 * E[(V(s) - R)^2]
    Clipped (OpenAI baselines / CleanRL / SB3's ``clip_range_vf``), with V_old the values at collection time:
        V_clip = V_old + clip(V(s) - V_old, -eps, eps)
        L_VF   = 0.5 * E[max((V(s) - R)^2, (V_clip - R)^2)]
    The max is pessimistic like PPO's policy clip: moving V more than eps away from V_old stops paying off.
    Note that eps is in the units of the returns, so it interacts with reward scaling.

    Args:
        values: V(s) under the current critic, shape (B,), with gradient.
        returns: value targets R, same shape.
        old_values: V_old(s), same shape; give it together with ``clip_eps`` or not at all.
        clip_eps: eps > 0 for value clipping, or None.
        valid: optional mask, same shape.
    Returns:
        scalar loss.
    Raises:
        ValueError: only one of old_values / clip_eps given; clip_eps <= 0; mismatched shapes; an empty mask.
    """
    _check_samples(values=values, returns=returns, old_values=old_values)
    check_same_shape("values", values, "returns", returns)
    returns = returns.detach()
    # (V(s) - R)^2
    sq_err = (values - returns) ** 2
    if old_values is None and clip_eps is None:
        # L_VF = 0.5 * E[(V - R)^2]
        return 0.5 * masked_mean(sq_err, valid)
    if old_values is None or clip_eps is None:
        raise ValueError(
            "value clipping needs both old_values and clip_eps; got "
            f"old_values={'None' if old_values is None else 'a tensor'} and clip_eps={clip_eps!r}"
        )
    clip_eps = check_positive("clip_eps", clip_eps)
    check_same_shape("values", values, "old_values", old_values)
    old_values = old_values.detach()
    # V_clip = V_old + clip(V - V_old, -eps, eps)
    v_clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
    # L_VF = 0.5 * E[max((V - R)^2, (V_clip - R)^2)]
    return 0.5 * masked_mean(torch.maximum(sq_err, (v_clipped - returns) ** 2), valid)


def entropy_bonus(entropy: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean policy entropy H = E[H(pi(.|s))], the bonus PPO adds to its objective (subtract ``c2 * H`` from a loss).

    Args:
        entropy: per-state entropies, shape (B,), with gradient.
        valid: optional mask, same shape.
    Returns:
        scalar mean entropy.
    """
    _check_samples(entropy=entropy)
    # H = E[H(pi(.|s))]
    return masked_mean(entropy, valid)
