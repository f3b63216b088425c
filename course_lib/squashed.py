"""A tanh-squashed Gaussian policy for bounded (Box) actions, with the change-of-variables correction.

Instead of clipping a Gaussian sample at the bounds, draw ``u ~ N(mu, sigma^2)`` and squash it into the box:

    a = low + (high - low) * (tanh(u) + 1) / 2  =  centre + scale * tanh(u),
    centre = (high + low) / 2,  scale = (high - low) / 2.

The map ``u -> a`` is smooth and strictly increasing in each dimension, so every ``a`` strictly inside the box
has exactly one ``u`` and the density of ``a`` follows from the change of variables (as in SAC, Haarnoja et al.
2018, appendix C):

    log pi(a|s) = sum_j [ log N(u_j; mu_j, sigma_j^2) - log(1 - tanh(u_j)^2) - log(scale_j) ].

The log-det-Jacobian term ``log(1 - tanh(u)^2)`` underflows to ``-inf`` in float32 once ``|u|`` exceeds about 9
(``tanh(u)`` rounds to 1). It is evaluated with the identity

    log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)),

which is exact and finite for every finite ``u`` (for large ``|u|`` it tends to ``log 4 - 2|u|``).

Store ``u`` (the pre-squash sample) in the rollout buffer: inverting ``a`` with ``atanh`` is ill-conditioned
next to the bounds. ``log_prob`` (from ``a``) exists for tests and evaluation and clamps ``a`` just inside.

Shapes: ``mean``, ``std`` and ``u`` are ``(B, act_dim)`` (or broadcastable to it); ``low``/``high`` are
``(act_dim,)``; log-probabilities are ``(B,)``, summed over the action dimensions.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Normal
from torch.nn import functional as F

__all__ = ["log_one_minus_tanh_sq", "TanhGaussian"]

_LOG2 = math.log(2.0)


def log_one_minus_tanh_sq(u: Tensor) -> Tensor:
    """``log(1 - tanh(u)^2)`` = log |d tanh(u) / du|, elementwise and finite for every finite ``u``.

    Args:
        u: any shape.
    Returns:
        the same shape as ``u``.
    """
    # 1 - tanh(u)^2 = 4 e^{-2u} / (1 + e^{-2u})^2  =>  log(1 - tanh^2 u) = 2 (log 2 - u - softplus(-2u))
    return 2.0 * (_LOG2 - u - F.softplus(-2.0 * u))


class TanhGaussian:
    """``a = centre + scale * tanh(u)``, ``u ~ N(mean, std^2)`` independently per action dimension.

    Args:
        mean: ``(B, act_dim)`` mean of ``u`` (the actor's output; it may lie anywhere on the real line).
        std: ``(B, act_dim)`` or ``(act_dim,)`` standard deviation of ``u``, positive.
        low, high: ``(act_dim,)`` action bounds (tensors or floats), ``low < high``.
    """

    def __init__(self, mean: Tensor, std: Tensor, low: Tensor | float, high: Tensor | float) -> None:
        low_t = torch.as_tensor(low, dtype=mean.dtype)
        high_t = torch.as_tensor(high, dtype=mean.dtype)
        if not bool(torch.all(high_t > low_t)):
            raise ValueError(f"TanhGaussian needs low < high in every dimension, got low={low_t}, high={high_t}")
        self.base = Normal(mean, std.expand_as(mean) if std.dim() < mean.dim() else std, validate_args=False)
        self.centre = (high_t + low_t) / 2
        self.scale = (high_t - low_t) / 2

    @property
    def mean_action(self) -> Tensor:
        """``centre + scale * tanh(mean)``: the squashed mean of ``u``, used as the deterministic action."""
        return self.squash(self.base.loc)

    def squash(self, u: Tensor) -> Tensor:
        """``u -> a = centre + scale * tanh(u)``, ``(B, act_dim)`` -> ``(B, act_dim)``."""
        return self.centre + self.scale * torch.tanh(u)

    def unsquash(self, a: Tensor, eps: float = 1e-6) -> Tensor:
        """The inverse map ``a -> u = atanh((a - centre) / scale)``; ``a`` is clamped to ``eps`` inside the box."""
        y = ((a - self.centre) / self.scale).clamp(-1.0 + eps, 1.0 - eps)
        return torch.atanh(y)

    def rsample(self) -> tuple[Tensor, Tensor]:
        """A reparameterised sample (gradients flow to mean and std): ``(a, u)``, each ``(B, act_dim)``."""
        u = self.base.rsample()
        return self.squash(u), u

    def sample(self) -> tuple[Tensor, Tensor]:
        """A sample without gradient: ``(a, u)``, each ``(B, act_dim)``."""
        with torch.no_grad():
            return self.rsample()

    def log_det_jacobian(self, u: Tensor) -> Tensor:
        """``log |det da/du| = sum_j [log(1 - tanh(u_j)^2) + log scale_j]``, ``(B, act_dim)`` -> ``(B,)``."""
        return (log_one_minus_tanh_sq(u) + torch.log(self.scale)).sum(dim=-1)

    def log_prob_u(self, u: Tensor) -> Tensor:
        """``log pi(a(u))``, the log-density of the squashed action, from the stored pre-squash ``u``.

        ``(B, act_dim)`` -> ``(B,)``.
        """
        # log pi(a) = sum_j log N(u_j; mu_j, sigma_j) - log |det da/du|
        return self.base.log_prob(u).sum(dim=-1) - self.log_det_jacobian(u)

    def log_prob(self, a: Tensor) -> Tensor:
        """``log pi(a)`` from an action inside the box (via ``atanh``), ``(B, act_dim)`` -> ``(B,)``."""
        return self.log_prob_u(self.unsquash(a))

    def entropy_estimate(self) -> Tensor:
        """A one-sample reparameterised estimate of ``H(pi) = -E[log pi(a)]`` per row, ``(B,)``.

        The squashed Gaussian has no closed-form entropy; ``-log pi(a(u))`` at ``u = mean + std * eps`` is an
        unbiased estimate whose gradient flows to ``mean`` and ``std``.
        """
        _, u = self.rsample()
        return -self.log_prob_u(u)
