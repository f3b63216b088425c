"""How an update went, in numbers: KL estimators between the old and new policy, and the critic's explained variance.

None of these is minimised; they are logged (``UpdateRow.approx_kl``, ``explained_variance``), used to stop an
update early (PPO's ``target_kl``) or to adapt a penalty (PPO's adaptive KL ``beta``).
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Normal, kl_divergence

from course_lib.validation import check_same_shape

__all__ = ["kl_k1", "kl_k3", "kl_exact", "explained_variance"]


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


def explained_variance(values: Tensor, returns: Tensor) -> float | None:
    """How much of the returns' variance the critic explains: ``1 - Var[R - V] / Var[R]``.

    1 = perfect predictions, 0 = no better than predicting the mean, negative = worse than that.
    ``values`` and ``returns`` have shape ``(B,)``. Returns None when ``Var[R] = 0`` (undefined).
    """
    check_same_shape("values", values, "returns", returns)
    var_ret = torch.var(returns, unbiased=False)
    if var_ret.item() == 0.0:
        return None
    # EV = 1 - Var[R - V] / Var[R]
    return float(1.0 - torch.var(returns - values, unbiased=False) / var_ret)
