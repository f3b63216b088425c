"""The tanh-squashed Gaussian: its log-density is a density (integrates to 1), agrees with sampling, with the
derivative of its CDF and with torch's own change-of-variables distribution, stays finite far into the tanh's
saturation, and the checks here would catch a missing Jacobian."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

from course_lib.squashed import TanhGaussian, log_one_minus_tanh_sq

torch.set_num_threads(1)
D = torch.float64

# (mu, sigma, low, high): centred, off-centre with a narrow spread, and piled up against a bound
PARAMS = [(0.0, 1.0, -2.0, 2.0), (0.7, 0.4, -1.0, 3.0), (2.0, 1.5, -1.0, 1.0)]


def _dist(mu, sigma, low, high, n=1):
    return TanhGaussian(torch.full((n, 1), mu, dtype=D), torch.full((n, 1), sigma, dtype=D), low, high)


def _cdf(a, mu, sigma, low, high):
    """P(A <= a) in closed form: A <= a  <=>  u <= atanh((a - centre) / scale)."""
    y = (a - (high + low) / 2) / ((high - low) / 2)
    return Normal(torch.tensor(mu, dtype=D), torch.tensor(sigma, dtype=D)).cdf(torch.atanh(y))


def _integral_over_actions(log_density, mu, sigma, low, high, n=400_001):
    """Trapezoid rule of exp(log_density(a)) da over the box, on a grid of actions that is dense where the
    probability is (the squashed image of a uniform grid of u = mu +- 12 sigma, which reaches the bounds)."""
    u = torch.linspace(mu - 12 * sigma, mu + 12 * sigma, n, dtype=D)
    a = (high + low) / 2 + (high - low) / 2 * torch.tanh(u)
    keep = (a > low) & (a < high)  # a equals a bound in float64 far out, where the density has vanished
    p = log_density(a[keep][:, None]).exp()
    return float(torch.trapezoid(p, a[keep]))


@pytest.mark.parametrize("mu,sigma,low,high", PARAMS)
def test_density_integrates_to_one(mu, sigma, low, high):
    dist = _dist(mu, sigma, low, high)
    total = _integral_over_actions(lambda a: dist.log_prob(a), mu, sigma, low, high)
    assert abs(total - 1.0) < 1e-4, total


@pytest.mark.parametrize("mu,sigma,low,high", PARAMS)
def test_a_missing_jacobian_is_caught_by_the_integral(mu, sigma, low, high):
    """The Gaussian density of u = atanh(...) used as if it were the density of a does not integrate to 1."""
    dist = _dist(mu, sigma, low, high)
    total = _integral_over_actions(lambda a: dist.base.log_prob(dist.unsquash(a)).sum(-1), mu, sigma, low,
                                   high)
    assert abs(total - 1.0) > 0.1, total


@pytest.mark.parametrize("mu,sigma,low,high", PARAMS)
def test_density_is_the_derivative_of_the_cdf(mu, sigma, low, high):
    a = torch.linspace(low, high, 41, dtype=D)[1:-1]
    h = 1e-5 * (high - low)
    numeric = (_cdf(a + h, mu, sigma, low, high) - _cdf(a - h, mu, sigma, low, high)) / (2 * h)
    exact = _dist(mu, sigma, low, high).log_prob(a[:, None]).exp()
    assert torch.allclose(exact, numeric, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("mu,sigma,low,high", PARAMS)
def test_density_matches_a_histogram_of_samples(mu, sigma, low, high):
    """The change of variables, checked by sampling: the mean density over each bin is the share of samples in
    it divided by its width, within 6 standard errors of a binomial count."""
    n = 400_000
    torch.manual_seed(0)
    dist = _dist(mu, sigma, low, high, n)
    a, _ = dist.sample()
    edges = torch.linspace(low, high, 21, dtype=D)
    counts = torch.histc(a.flatten(), bins=20, min=low, max=high)
    width = float(edges[1] - edges[0])
    # the exact probability of each bin from the CDF, and a density that integrates to it over the bin
    p_bin = _cdf(edges[1:], mu, sigma, low, high) - _cdf(edges[:-1], mu, sigma, low, high)
    one = _dist(mu, sigma, low, high)
    by_quadrature = torch.stack([torch.trapezoid(one.log_prob(x[:, None]).exp(), x)
                                 for x in (torch.linspace(float(lo), float(hi), 4001, dtype=D)[1:-1]
                                           for lo, hi in zip(edges[:-1], edges[1:]))])
    inner = slice(1, -1)  # the end bins hold a spike at the bound that a uniform grid cannot resolve
    assert torch.allclose(by_quadrature[inner], p_bin[inner], rtol=1e-3, atol=1e-6)
    se = torch.sqrt(p_bin * (1 - p_bin) / n)
    assert torch.all((counts / n - p_bin).abs() <= 6 * se + 1e-9), (counts / n, p_bin)
    # at the bin centres the log-density is that of the histogram where the bins are well filled and narrow
    # compared with the density's curvature (tolerance 0.1 nats)
    full = counts > 5000
    full[0] = full[-1] = False
    assert int(full.sum()) >= 3
    centres = (edges[:-1] + edges[1:]) / 2
    got = torch.log(counts / (n * width))
    assert torch.allclose(one.log_prob(centres[full][:, None]), got[full], atol=0.1)


def test_log_prob_equals_torchs_transformed_distribution():
    torch.manual_seed(1)
    mean, std = torch.randn(6, 3, dtype=D), torch.rand(6, 3, dtype=D) + 0.2
    low, high = torch.tensor([-2.0, -1.0, 0.0], dtype=D), torch.tensor([2.0, 1.0, 5.0], dtype=D)
    ref = TransformedDistribution(Normal(mean, std), [TanhTransform(), AffineTransform((high + low) / 2,
                                                                                          (high - low) / 2)])
    ours = TanhGaussian(mean, std, low, high)
    u = mean + std * torch.randn(6, 3, dtype=D)
    a = ours.squash(u)
    assert torch.allclose(ours.log_prob_u(u), ref.log_prob(a).sum(-1), atol=1e-8)
    assert torch.allclose(ours.log_prob(a), ours.log_prob_u(u), atol=1e-6)
    assert torch.allclose(ours.squash(u), low + (high - low) * (torch.tanh(u) + 1) / 2)


def test_log_det_term_is_stable_far_into_saturation():
    u = torch.tensor([-100.0, -50.0, -20.0, -9.5, 0.0, 9.5, 20.0, 50.0, 100.0])
    got = log_one_minus_tanh_sq(u)
    assert torch.isfinite(got).all()
    # the naive formula is -inf in float32 beyond |u| ~ 9: the reason for the stable form
    assert not torch.isfinite(torch.log(1 - torch.tanh(u) ** 2)).all()
    # exact in float64 where the naive form is still accurate, and log 4 - 2|u| far out
    mid = torch.linspace(-8, 8, 33, dtype=D)
    assert torch.allclose(log_one_minus_tanh_sq(mid), torch.log(1 - torch.tanh(mid) ** 2), atol=1e-10)
    far = u[u.abs() >= 20]
    assert torch.allclose(log_one_minus_tanh_sq(far), math.log(4) - 2 * far.abs(), atol=1e-5)
    assert got[4] == 0.0
    # the gradient (d/du = -2 tanh u) is finite too
    x = u.clone().requires_grad_()
    log_one_minus_tanh_sq(x).sum().backward()
    assert torch.allclose(x.grad, -2 * torch.tanh(u), atol=1e-5)
    # and the whole log-density at saturated u stays finite
    dist = TanhGaussian(torch.full((9, 1), 30.0), torch.ones(9, 1), -2.0, 2.0)
    assert torch.isfinite(dist.log_prob_u(u[:, None])).all()


def test_shapes_and_independence_for_several_action_dims():
    torch.manual_seed(2)
    b, act_dim = 5, 3
    mean, std = torch.randn(b, act_dim, dtype=D), torch.rand(act_dim, dtype=D) + 0.3
    low, high = torch.tensor([-1.0, -2.0, 0.0], dtype=D), torch.tensor([1.0, 2.0, 1.0], dtype=D)
    dist = TanhGaussian(mean, std, low, high)
    a, u = dist.sample()
    assert a.shape == u.shape == (b, act_dim)
    assert torch.all((a > low) & (a < high))
    assert dist.log_prob_u(u).shape == (b,) and dist.entropy_estimate().shape == (b,)
    assert dist.log_det_jacobian(u).shape == (b,)
    # the joint log-density is the sum of the 1-D ones
    per_dim = sum(TanhGaussian(mean[:, j:j + 1], std[j:j + 1], low[j:j + 1], high[j:j + 1]).log_prob_u(u[:, j:j + 1])
                  for j in range(act_dim))
    assert torch.allclose(dist.log_prob_u(u), per_dim)
    assert dist.mean_action.shape == (b, act_dim)


def test_entropy_estimate_matches_quadrature_and_is_below_the_gaussians():
    """H(a) = H(u) + E[log |da/du|]; squashing into a box of width 2 can only lower it."""
    mu, sigma, low, high = 0.5, 1.2, -1.0, 1.0
    torch.manual_seed(3)
    est = float(_dist(mu, sigma, low, high, 200_000).entropy_estimate().mean())
    a = torch.linspace(low, high, 400_001, dtype=D)[1:-1]
    logp = _dist(mu, sigma, low, high).log_prob(a[:, None])
    exact = float(-torch.trapezoid(logp.exp() * logp, a))
    assert abs(est - exact) < 0.01, (est, exact)
    gaussian = 0.5 * math.log(2 * math.pi * math.e * sigma ** 2)
    assert exact < gaussian


def test_rsample_carries_gradients_and_bad_bounds_are_rejected():
    mean = torch.zeros(4, 1, requires_grad=True)
    log_std = torch.zeros(1, requires_grad=True)
    dist = TanhGaussian(mean, log_std.exp(), -1.0, 1.0)
    a, _ = dist.rsample()
    a.sum().backward()
    assert mean.grad is not None and log_std.grad is not None
    with pytest.raises(ValueError, match="low < high"):
        TanhGaussian(torch.zeros(1, 1), torch.ones(1), 1.0, 1.0)
    assert np.isclose(float(dist.log_det_jacobian(torch.zeros(1, 1))), 0.0)
