"""Policy and value losses of actor-critic methods, and KL estimators.

Every loss is a scalar tensor to *minimise*. The PPO paper's objective (Schulman et al. 2017, eq. 9) is
maximised, ``L = L_clip - c1 * L_VF + c2 * H``, so a training step minimises

    loss = ppo_clip_loss(...) + c1 * value_loss(...) - c2 * entropy_bonus(...)

Shapes: per-sample inputs share one shape, usually a flat batch ``(B,)`` (``(T, N)`` works too). ``valid`` is an
optional mask of that shape (bool or 0/1 float); masked-out samples (e.g. next-step-autoreset steps) count
nowhere, neither in a loss nor in a statistic. Mismatched shapes raise ValueError: broadcasting ``(B,)`` against
``(B, 1)`` would silently give a ``(B, B)`` loss.

Advantages, returns, ``logp_old`` and ``old_values`` are treated as constants (detached inside): gradients flow only
through ``logp``, ``values`` and ``entropy``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch.distributions import Distribution, Normal, kl_divergence

from course_lib.validation import check_non_negative, check_positive, check_same_shape

__all__ = [
    "ClipStats",
    "masked_mean",
    "policy_gradient_loss",
    "ppo_clip_loss",
    "kl_penalty_loss",
    "adapt_kl_beta",
    "value_loss",
    "entropy_bonus",
    "kl_k1",
    "kl_k3",
    "kl_exact",
]


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


def masked_mean(x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``valid`` is true (all entries if ``valid`` is None).

        masked_mean(x, m) = sum_i m_i x_i / sum_i m_i

    Args:
        x: any shape.
        valid: None, or a bool / 0-1 float mask of ``x``'s shape.
    Returns:
        a scalar tensor (differentiable w.r.t. ``x``).
    Raises:
        ValueError: ``valid`` of another shape, or a mask with no valid entry (the mean would be 0/0).
    """
    if valid is None:
        return x.mean()
    check_same_shape("valid", valid, "x", x)
    m = valid.to(x.dtype)
    count = m.sum()
    if count.item() == 0:
        raise ValueError(f"valid marks no sample as valid (all {valid.numel()} entries are False); "
                         "a mean needs at least one valid sample")
    return (x * m).sum() / count


def kl_k1(logp_old: torch.Tensor, logp_new: torch.Tensor) -> torch.Tensor:
    """Per-sample k1 estimator of KL(pi_old || pi_new) from actions sampled from pi_old.

    With r = pi_new(a) / pi_old(a):  k1 = -log r = logp_old - logp_new. Unbiased (its mean over a ~ pi_old is the
    KL) but single samples can be negative, and its variance is high.

    Args:
        logp_old: log pi_old(a), any shape, e.g. (B,).
        logp_new: log pi_new(a), same shape.
    Returns:
        k1 per sample, same shape (differentiable w.r.t. both inputs).
    """
    check_same_shape("logp_old", logp_old, "logp_new", logp_new)
    # k1 = -log r = -(logp_new - logp_old)
    return logp_old - logp_new


def kl_k3(logp_old: torch.Tensor, logp_new: torch.Tensor) -> torch.Tensor:
    """Per-sample k3 estimator of KL(pi_old || pi_new) from actions sampled from pi_old (Schulman 2020).

    With r = pi_new(a) / pi_old(a):  k3 = (r - 1) - log r. Unbiased (E_old[r - 1] = 0, so it is k1 plus a zero-mean
    control variate), never negative (e^x >= 1 + x), and of lower variance than k1. This is PPO's ``approx_kl``.

    Args:
        logp_old: log pi_old(a), any shape, e.g. (B,).
        logp_new: log pi_new(a), same shape.
    Returns:
        k3 per sample, same shape, >= 0 (differentiable w.r.t. both inputs).
    """
    check_same_shape("logp_old", logp_old, "logp_new", logp_new)
    log_r = logp_new - logp_old
    # k3 = (r - 1) - log r, with r - 1 = expm1(log r): the naive exp(log r) - 1 loses the digits that matter when
    # r is near 1 and can come out below log r in float32. clamp_min(0) guards against any remaining rounding;
    # the exact value is never negative.
    return (torch.expm1(log_r) - log_r).clamp_min(0.0)


def kl_exact(dist_old: Distribution, dist_new: Distribution) -> torch.Tensor:
    """Exact KL(pi_old || pi_new) per state, from the two distributions.

    Uses ``torch.distributions.kl_divergence``. A diagonal ``Normal`` with batch shape ``(B, A)`` describes one
    A-dimensional action per state, so its per-dimension KLs are summed over the last dim (the KL of independent
    dimensions is the sum of theirs). A ``Normal`` with batch shape ``(B,)`` is read as one 1-D action per state.

    Args:
        dist_old, dist_new: distributions of the same family and batch shape, e.g. Categorical with batch (B,)
            or Normal with batch (B, A).
    Returns:
        KL per state, shape (B,).
    """
    kl = kl_divergence(dist_old, dist_new)
    if isinstance(dist_old, Normal) and kl.dim() >= 2:
        # KL(prod_i p_i || prod_i q_i) = sum_i KL(p_i || q_i)
        kl = kl.sum(-1)
    return kl


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
    check_same_shape("logp", logp, "logp_old", logp_old)
    check_same_shape("logp", logp, "adv", adv)
    logp_old, adv = logp_old.detach(), adv.detach()
    # ratio = exp(logp - logp_old)
    ratio = torch.exp(logp - logp_old)
    # L_KLPEN = E[ratio * A - beta * KL_k3]
    return -masked_mean(ratio * adv - beta * kl_k3(logp_old, logp), valid)


def adapt_kl_beta(beta: float, kl: float, kl_target: float, factor: float = 2.0, tolerance: float = 1.5) -> float:
    """The adaptive KL coefficient rule of Schulman et al. 2017, sec. 4, applied after each policy update.

        d < kl_target / tolerance  ->  beta / factor   (the policy moved too little: penalise less)
        d > kl_target * tolerance  ->  beta * factor   (it moved too much: penalise more)
        otherwise                  ->  beta

    Args:
        beta: current coefficient, > 0.
        kl: the measured mean KL(pi_old || pi_new) of the update, >= 0.
        kl_target: the target KL d_targ, > 0.
        factor: multiplicative step, > 0 (the paper uses 2).
        tolerance: band around the target, > 0 (the paper uses 1.5).
    Returns:
        the new beta.
    Raises:
        ValueError: any argument out of its range.
    """
    beta = check_positive("beta", beta)
    kl = check_non_negative("kl", kl)
    kl_target = check_positive("kl_target", kl_target)
    factor = check_positive("factor", factor)
    tolerance = check_positive("tolerance", tolerance)
    if kl < kl_target / tolerance:
        return beta / factor
    if kl > kl_target * tolerance:
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
    # H = E[H(pi(.|s))]
    return masked_mean(entropy, valid)
