"""Maths checks for course_lib.losses: known values, gradients of the clipped surrogate, KL estimators by sampling."""
import math

import pytest
import torch
from torch.distributions import Categorical, Normal

from course_lib.losses import (
    ClipStats,
    adapt_kl_beta,
    entropy_bonus,
    kl_penalty_loss,
    policy_gradient_loss,
    ppo_clip_loss,
    value_loss,
)
from course_lib.diagnostics import kl_exact, kl_k1, kl_k3
from course_lib.masking import masked_mean

f64 = torch.float64


def logp_with_ratios(ratios, seed=0):
    """(logp leaf with grad, logp_old) such that exp(logp - logp_old) equals the given ratios."""
    g = torch.Generator().manual_seed(seed)
    ratios = torch.as_tensor(ratios, dtype=f64)
    logp_old = -torch.rand(ratios.shape, generator=g, dtype=f64) * 3
    logp = (logp_old + torch.log(ratios)).requires_grad_(True)
    return logp, logp_old


# ---------------------------------------------------------------------------------------------------------------
# masked mean
# ---------------------------------------------------------------------------------------------------------------
def test_masked_mean():
    x = torch.tensor([1.0, 2.0, 3.0, 10.0])
    assert masked_mean(x).item() == pytest.approx(4.0)
    assert masked_mean(x, torch.tensor([True, True, True, False])).item() == pytest.approx(2.0)
    assert masked_mean(x, torch.tensor([0.0, 1.0, 0.0, 1.0])).item() == pytest.approx(6.0)
    with pytest.raises(ValueError, match=r"valid marks no sample as valid \(all 4 entries are False\)"):
        masked_mean(x, torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"valid has shape \(4, 1\) but x has shape \(4,\); they must match"):
        masked_mean(x, torch.ones(4, 1, dtype=torch.bool))


# ---------------------------------------------------------------------------------------------------------------
# policy gradient loss
# ---------------------------------------------------------------------------------------------------------------
def test_policy_gradient_loss_value_and_gradient():
    logp = torch.tensor([-1.0, -0.5, -2.0], requires_grad=True)
    adv = torch.tensor([2.0, -1.0, 0.5], requires_grad=True)
    loss = policy_gradient_loss(logp, adv)
    # -mean(logp * A) = -(-2 + 0.5 - 1) / 3
    assert loss.item() == pytest.approx(2.5 / 3)
    loss.backward()
    torch.testing.assert_close(logp.grad, -adv.detach() / 3)  # d/dlogp_i = -A_i / B
    assert adv.grad is None  # the advantage is a constant weight
    # masking equals the loss on the valid samples alone
    valid = torch.tensor([True, False, True])
    masked = policy_gradient_loss(logp, adv, valid)
    assert masked.item() == pytest.approx(policy_gradient_loss(logp[valid], adv[valid]).item())


# ---------------------------------------------------------------------------------------------------------------
# PPO clipped surrogate
# ---------------------------------------------------------------------------------------------------------------
def test_ppo_clip_known_value():
    # eps = 0.2, (r, A) -> min(rA, clip(r)A):  (1.5, 2) -> 2.4;  (0.5, -1) -> -0.8;  (0.5, 1) -> 0.5;  (1.5, -1) -> -1.5
    logp, logp_old = logp_with_ratios([1.5, 0.5, 0.5, 1.5])
    adv = torch.tensor([2.0, -1.0, 1.0, -1.0], dtype=f64)
    loss, stats = ppo_clip_loss(logp, logp_old, adv, 0.2)
    assert loss.item() == pytest.approx(-(2.4 - 0.8 + 0.5 - 1.5) / 4)
    assert isinstance(stats, ClipStats) and isinstance(stats.clip_fraction, float)
    assert stats.clip_fraction == 1.0


def test_ppo_clip_equals_plain_surrogate_inside_clip_range():
    g = torch.Generator().manual_seed(1)
    ratios = 1 + (torch.rand(50, generator=g, dtype=f64) - 0.5) * 0.38  # within [0.81, 1.19]
    logp, logp_old = logp_with_ratios(ratios)
    adv = torch.randn(50, generator=g, dtype=f64)
    loss, stats = ppo_clip_loss(logp, logp_old, adv, 0.2)
    (grad,) = torch.autograd.grad(loss, logp)
    logp2 = logp.detach().clone().requires_grad_(True)
    plain = -(torch.exp(logp2 - logp_old) * adv).mean()
    (grad_plain,) = torch.autograd.grad(plain, logp2)
    torch.testing.assert_close(loss, plain)
    torch.testing.assert_close(grad, grad_plain)
    assert stats.clip_fraction == 0.0


def test_ppo_clip_gradient_zero_only_on_profitable_side():
    eps = 0.2
    #            A > 0, r > 1+eps | A < 0, r < 1-eps | A > 0, r < 1-eps | A < 0, r > 1+eps | inside
    ratios = [1.5, 1.3, 0.5, 0.7, 0.5, 0.7, 1.5, 1.3, 1.05]
    adv = torch.tensor([1.0, 2.0, -1.0, -3.0, 1.0, 2.0, -1.0, -3.0, 0.7], dtype=f64)
    logp, logp_old = logp_with_ratios(ratios)
    loss, stats = ppo_clip_loss(logp, logp_old, adv, eps)
    loss.backward()
    grad = logp.grad
    # clipped where moving further would help: the objective ignores the move, the gradient is exactly zero
    assert torch.all(grad[:4] == 0.0)
    # where the ratio moved the wrong way, the unclipped term r*A is the min: d(-rA/B)/dlogp = -r*A/B
    r = torch.tensor(ratios, dtype=f64)
    torch.testing.assert_close(grad[4:], -(r * adv)[4:] / len(ratios))
    assert torch.all(grad[4:] != 0.0)
    # clip_fraction counts every ratio outside [0.8, 1.2], whichever side: 8 of 9
    assert stats.clip_fraction == pytest.approx(8 / 9)


def test_ppo_clip_fraction_counts_exactly_and_respects_valid():
    ratios = [0.5, 0.9, 1.0, 1.1, 1.3, 2.0, 0.79, 1.21]
    logp, logp_old = logp_with_ratios(ratios)
    adv = torch.ones(8, dtype=f64)
    _, stats = ppo_clip_loss(logp, logp_old, adv, 0.2)
    assert stats.clip_fraction == pytest.approx(5 / 8)  # 0.5, 1.3, 2.0, 0.79, 1.21
    valid = torch.tensor([True, True, True, True, True, False, False, False])
    loss_v, stats_v = ppo_clip_loss(logp, logp_old, adv, 0.2, valid)
    assert stats_v.clip_fraction == pytest.approx(2 / 5)  # 0.5 and 1.3 among the five valid ones
    loss_sub, _ = ppo_clip_loss(logp[:5], logp_old[:5], adv[:5], 0.2)
    torch.testing.assert_close(loss_v, loss_sub)
    # approx_kl is the mean k3 of the valid samples: sum of (r - 1 - log r) / 5
    r = torch.tensor(ratios[:5], dtype=f64)
    assert stats_v.approx_kl == pytest.approx(((r - 1) - torch.log(r)).mean().item())


def test_ppo_clip_detaches_old_logp_and_adv():
    logp, logp_old = logp_with_ratios([1.1, 0.9])
    logp_old.requires_grad_(True)
    adv = torch.tensor([1.0, -1.0], dtype=f64, requires_grad=True)
    loss, _ = ppo_clip_loss(logp, logp_old, adv, 0.2)
    loss.backward()
    assert logp_old.grad is None and adv.grad is None and logp.grad is not None


# ---------------------------------------------------------------------------------------------------------------
# KL penalty
# ---------------------------------------------------------------------------------------------------------------
def test_kl_penalty_loss_value_and_gradient_at_old_policy():
    logp, logp_old = logp_with_ratios([1.2, 0.6, 1.0])
    adv = torch.tensor([1.0, -2.0, 0.5], dtype=f64)
    r = torch.tensor([1.2, 0.6, 1.0], dtype=f64)
    k3 = (r - 1) - torch.log(r)
    loss = kl_penalty_loss(logp, logp_old, adv, beta=0.7)
    # -(E[r A] - beta E[k3])
    assert loss.item() == pytest.approx(-((r * adv).mean() - 0.7 * k3.mean()).item())
    assert kl_penalty_loss(logp, logp_old, adv, beta=0.0).item() == pytest.approx(-(r * adv).mean().item())
    # at the old policy (r = 1) the penalty's gradient vanishes: the gradient is the plain -A / B
    logp_at_old = logp_old.clone().requires_grad_(True)
    kl_penalty_loss(logp_at_old, logp_old, adv, beta=5.0).backward()
    torch.testing.assert_close(logp_at_old.grad, -adv / 3)


def test_k3_penalty_gradient_matches_exact_kl_gradient():
    # E_{a ~ old}[grad k3] = grad KL(old || new): check by sampling for a Categorical parameterised by logits
    torch.manual_seed(0)
    logits_old = torch.tensor([0.3, -1.0, 1.2, 0.0], dtype=f64)
    logits_new = (logits_old + torch.tensor([0.4, 0.2, -0.5, 0.1], dtype=f64)).requires_grad_(True)
    old = Categorical(logits=logits_old)
    a = old.sample((400_000,))
    new = Categorical(logits=logits_new)
    (g_est,) = torch.autograd.grad(kl_k3(old.log_prob(a), new.log_prob(a)).mean(), logits_new)
    (g_exact,) = torch.autograd.grad(kl_exact(old, Categorical(logits=logits_new)), logits_new)
    torch.testing.assert_close(g_est, g_exact, atol=5e-3, rtol=0)


def test_adapt_kl_beta():
    assert adapt_kl_beta(1.0, kl=0.001, d_targ=0.01) == 0.5  # < 0.01 / 1.5
    assert adapt_kl_beta(1.0, kl=0.02, d_targ=0.01) == 2.0  # > 0.01 * 1.5
    assert adapt_kl_beta(1.0, kl=0.01, d_targ=0.01) == 1.0
    assert adapt_kl_beta(1.0, kl=0.0149, d_targ=0.01) == 1.0
    with pytest.raises(ValueError, match=r"d_targ must be > 0"):
        adapt_kl_beta(1.0, kl=0.01, d_targ=0.0)
    with pytest.raises(ValueError, match=r"kl must be >= 0"):
        adapt_kl_beta(1.0, kl=-0.1, d_targ=0.01)


# ---------------------------------------------------------------------------------------------------------------
# KL estimators
# ---------------------------------------------------------------------------------------------------------------
def sampled_logps(dist_old, dist_new, n_samples, sum_last):
    """log pi_old(a), log pi_new(a) for a ~ pi_old, shape (n_samples, B)."""
    a = dist_old.sample((n_samples,))
    lo, ln = dist_old.log_prob(a), dist_new.log_prob(a)
    if sum_last:
        lo, ln = lo.sum(-1), ln.sum(-1)
    return lo, ln


def categorical_pair():
    g = torch.Generator().manual_seed(3)
    logits_old = torch.randn(3, 5, generator=g, dtype=f64)
    logits_new = logits_old + 0.8 * torch.randn(3, 5, generator=g, dtype=f64)
    return Categorical(logits=logits_old), Categorical(logits=logits_new), False


def normal_pair():
    g = torch.Generator().manual_seed(4)
    mean_old = torch.randn(3, 2, generator=g, dtype=f64)
    std_old = torch.rand(3, 2, generator=g, dtype=f64) + 0.5
    mean_new = mean_old + 0.5 * torch.randn(3, 2, generator=g, dtype=f64)
    std_new = std_old * (1 + 0.3 * torch.rand(3, 2, generator=g, dtype=f64))
    return Normal(mean_old, std_old), Normal(mean_new, std_new), True


@pytest.mark.parametrize("make_pair", [categorical_pair, normal_pair], ids=["categorical", "diag_normal"])
@pytest.mark.parametrize("estimator", [kl_k1, kl_k3], ids=["k1", "k3"])
def test_kl_estimators_converge_to_exact(make_pair, estimator):
    torch.manual_seed(0)
    old, new, sum_last = make_pair()
    exact = kl_exact(old, new)  # (3,)
    lo, ln = sampled_logps(old, new, 200_000, sum_last)
    est = estimator(lo, ln)  # (M, 3)
    mean = est.mean(0)
    stderr = est.std(0) / math.sqrt(est.shape[0])
    assert torch.all(exact > 0.01)  # a real difference to estimate
    # unbiased: within 4 standard errors of the exact KL for each of the 3 states
    assert torch.all((mean - exact).abs() < 4 * stderr), (mean, exact, stderr)


def test_k3_has_lower_variance_than_k1_here():
    torch.manual_seed(1)
    old, new, _ = categorical_pair()
    lo, ln = sampled_logps(old, new, 50_000, False)
    assert torch.all(kl_k3(lo, ln).var(0) < kl_k1(lo, ln).var(0))


def test_notes_kl_formula_does_not_converge_to_exact_kl():
    # errata 2: mean(exp(logp_old) * (logp_old - logp_new)) over a ~ pi_old weights each sample by pi_old(a) a second
    # time: it converges to sum_a pi_old(a)^2 log(pi_old(a)/pi_new(a)), not to the KL
    torch.manual_seed(2)
    old, new, _ = categorical_pair()
    exact = kl_exact(old, new)
    lo, ln = sampled_logps(old, new, 200_000, False)
    wrong = torch.exp(lo) * (lo - ln)
    stderr = wrong.std(0) / math.sqrt(wrong.shape[0])
    # it does converge, but to the double-weighted sum ...
    p_old, p_new = old.probs, new.probs
    double_weighted = (p_old**2 * torch.log(p_old / p_new)).sum(-1)
    assert torch.all((wrong.mean(0) - double_weighted).abs() < 4 * stderr)
    # ... which is far from the KL: off by more than 20 standard errors (and by > 30 % of the KL) in every state
    gap = (wrong.mean(0) - exact).abs()
    assert torch.all(gap > 20 * stderr) and torch.all(gap > 0.3 * exact), (wrong.mean(0), exact)


def test_k3_never_negative_per_sample_even_for_tiny_differences():
    g = torch.Generator().manual_seed(5)
    logp_old = -torch.rand(100_000, generator=g) * 5  # float32
    for scale in (3.0, 1e-2, 1e-5, 1e-8):
        logp_new = logp_old + scale * torch.randn(100_000, generator=g)
        assert torch.all(kl_k3(logp_old, logp_new) >= 0)
    # k1 does go negative per sample
    assert torch.any(kl_k1(logp_old, logp_old + torch.randn(100_000, generator=g)) < 0)


def test_k1_k3_known_values():
    logp_old = torch.log(torch.tensor([0.5, 0.2], dtype=f64))
    logp_new = torch.log(torch.tensor([0.25, 0.4], dtype=f64))  # r = 0.5, 2
    torch.testing.assert_close(kl_k1(logp_old, logp_new), torch.tensor([math.log(2), -math.log(2)], dtype=f64))
    expected_k3 = torch.tensor([-0.5 + math.log(2), 1 - math.log(2)], dtype=f64)
    torch.testing.assert_close(kl_k3(logp_old, logp_new), expected_k3)


def test_kl_exact_closed_forms():
    # Categorical: sum_a p log(p / q)
    p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=f64)
    q = torch.tensor([[0.2, 0.2, 0.6], [0.3, 0.3, 0.4]], dtype=f64)
    torch.testing.assert_close(kl_exact(Categorical(probs=p), Categorical(probs=q)), (p * torch.log(p / q)).sum(-1))
    # diagonal Normal, batch (B, A): sum over dims of log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
    m1, s1 = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=f64), torch.tensor([[1.0, 0.5], [2.0, 1.0]], dtype=f64)
    m2, s2 = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=f64), torch.tensor([[2.0, 0.5], [1.0, 3.0]], dtype=f64)
    per_dim = torch.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    out = kl_exact(Normal(m1, s1), Normal(m2, s2))
    assert out.shape == (2,)
    torch.testing.assert_close(out, per_dim.sum(-1))
    # a Normal with batch (B,) is one 1-D action per state: no sum
    torch.testing.assert_close(kl_exact(Normal(m1[:, 0], s1[:, 0]), Normal(m2[:, 0], s2[:, 0])), per_dim[:, 0])


# ---------------------------------------------------------------------------------------------------------------
# value loss and entropy
# ---------------------------------------------------------------------------------------------------------------
def test_value_loss_unclipped_known_value_and_gradient():
    values = torch.tensor([1.0, 2.0], requires_grad=True)
    returns = torch.tensor([0.0, 4.0], requires_grad=True)
    loss = value_loss(values, returns)
    assert loss.item() == pytest.approx(0.5 * (1 + 4) / 2)  # 0.5 * mean((V - R)^2)
    loss.backward()
    torch.testing.assert_close(values.grad, torch.tensor([0.5, -1.0]))  # (V - R) / B
    assert returns.grad is None
    valid = torch.tensor([False, True])
    assert value_loss(values, returns, valid=valid).item() == pytest.approx(2.0)


def test_value_loss_clipped_known_values():
    # eps = 0.5, V_old = 1:  V = 3 -> V_clip = 1.5, R = 0: max(9, 2.25) = 9;   V = 1.5 -> V_clip = 1.5, R = 4: 6.25
    values = torch.tensor([3.0, 1.5], requires_grad=True)
    old = torch.tensor([1.0, 1.0])
    returns = torch.tensor([0.0, 4.0])
    loss = value_loss(values, returns, old_values=old, clip_eps=0.5)
    assert loss.item() == pytest.approx(0.5 * (9 + 6.25) / 2)
    # V = 1.2, V_old = 1, eps = 0.1: V_clip = 1.1 and R = 2: max(0.64, 0.81) = 0.81, the clipped term wins ...
    v = torch.tensor([1.2], requires_grad=True)
    loss = value_loss(v, torch.tensor([2.0]), old_values=torch.tensor([1.0]), clip_eps=0.1)
    assert loss.item() == pytest.approx(0.5 * 0.81)
    loss.backward()
    assert v.grad.item() == 0.0  # ... and it does not depend on V: no gradient
    # with every V within eps of V_old, clipping changes nothing
    v = torch.tensor([1.05, 0.97])
    old = torch.tensor([1.0, 1.0])
    ret = torch.tensor([3.0, -1.0])
    assert value_loss(v, ret, old, 0.1).item() == pytest.approx(value_loss(v, ret).item())


def test_entropy_bonus():
    ent = torch.tensor([0.5, 1.0, 1.5], requires_grad=True)
    assert entropy_bonus(ent).item() == pytest.approx(1.0)
    assert entropy_bonus(ent, torch.tensor([1.0, 1.0, 0.0])).item() == pytest.approx(0.75)
    entropy_bonus(ent).backward()
    torch.testing.assert_close(ent.grad, torch.full((3,), 1 / 3))


# ---------------------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------------------
def test_bad_clip_eps_and_beta():
    logp, logp_old = logp_with_ratios([1.0, 1.0])
    adv = torch.ones(2, dtype=f64)
    for eps in (0.0, -0.2):
        with pytest.raises(ValueError, match=r"clip_eps must be > 0"):
            ppo_clip_loss(logp, logp_old, adv, eps)
        with pytest.raises(ValueError, match=r"clip_eps must be > 0"):
            value_loss(logp, adv, old_values=logp_old, clip_eps=eps)
    with pytest.raises(ValueError, match=r"beta must be >= 0"):
        kl_penalty_loss(logp, logp_old, adv, -1.0)
    with pytest.raises(ValueError, match=r"value clipping needs both old_values and clip_eps; got old_values=a tensor"):
        value_loss(logp, adv, old_values=logp_old)
    with pytest.raises(ValueError, match=r"got old_values=None and clip_eps=0.2"):
        value_loss(logp, adv, clip_eps=0.2)


def test_mismatched_shapes_name_both():
    a, b = torch.zeros(4), torch.zeros(4, 1)
    with pytest.raises(ValueError, match=r"^logp has shape \(4,\) but adv has shape \(4, 1\); they must match$"):
        policy_gradient_loss(a, b)
    with pytest.raises(ValueError, match=r"logp has shape \(4,\) but adv has shape \(4, 1\)"):
        ppo_clip_loss(a, a, b, 0.2)
    with pytest.raises(ValueError, match=r"logp has shape \(4,\) but logp_old has shape \(4, 1\)"):
        ppo_clip_loss(a, b, a, 0.2)
    with pytest.raises(ValueError, match=r"logp has shape \(4,\) but adv has shape \(4, 1\)"):
        kl_penalty_loss(a, a, b, 0.1)
    with pytest.raises(ValueError, match=r"logp has shape \(4,\) but logp_old has shape \(4, 1\)"):
        kl_penalty_loss(a, b, a, 0.1)
    with pytest.raises(ValueError, match=r"values has shape \(4,\) but returns has shape \(4, 1\)"):
        value_loss(a, b)
    with pytest.raises(ValueError, match=r"values has shape \(4,\) but old_values has shape \(4, 1\)"):
        value_loss(a, a, old_values=b, clip_eps=0.2)
    with pytest.raises(ValueError, match=r"logp_old has shape \(4,\) but logp_new has shape \(4, 1\)"):
        kl_k1(a, b)
    with pytest.raises(ValueError, match=r"logp_old has shape \(4,\) but logp_new has shape \(4, 1\)"):
        kl_k3(a, b)
    with pytest.raises(ValueError, match=r"valid has shape \(3,\) but x has shape \(4,\)"):
        entropy_bonus(a, torch.ones(3))
