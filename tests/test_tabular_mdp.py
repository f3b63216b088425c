"""course_lib.tabular_mdp: exact values against closed forms and sampling, the performance-difference lemma,
and TRPO's bound with its constant."""
import math

import pytest
import torch

from course_lib import tabular_mdp as tm

torch.set_num_threads(1)


def two_state_mdp(gamma: float = 0.5) -> tm.TabularMDP:
    """State 0 --a0--> 0 (reward 1), 0 --a1--> 1 (reward 0); state 1 -> 0 with reward 2 (both actions)."""
    P = torch.zeros(2, 2, 2, dtype=torch.float64)
    P[0, 0, 0] = P[0, 1, 1] = P[1, 0, 0] = P[1, 1, 0] = 1.0
    r = torch.tensor([[1.0, 0.0], [2.0, 2.0]], dtype=torch.float64)
    return tm.TabularMDP(P, r, torch.tensor([1.0, 0.0], dtype=torch.float64), gamma)


def random_policy(S: int, A: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return tm.softmax_policy(scale * torch.randn(S, A, generator=g, dtype=torch.float64))


def test_two_state_values_by_hand():
    mdp = two_state_mdp(gamma=0.5)
    # pi(a0|0) = p: V0 = p (1 + g V0) + (1 - p) g V1, V1 = 2 + g V0
    p, g = 0.25, 0.5
    pi = torch.tensor([[p, 1 - p], [0.5, 0.5]], dtype=torch.float64)
    V0 = (p + (1 - p) * g * 2) / (1 - p * g - (1 - p) * g * g)
    V1 = 2 + g * V0
    V, Q = tm.exact_values(mdp, pi)
    assert torch.allclose(V, torch.tensor([V0, V1], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(Q[0], torch.tensor([1 + g * V0, g * V1], dtype=torch.float64), atol=1e-12)
    assert tm.expected_return(mdp, pi).item() == pytest.approx(V0, abs=1e-12)
    A = tm.advantages(mdp, pi)
    assert torch.allclose((pi * A).sum(-1), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    # d = (1 - g) sum_t g^t Pr(s_t): solve d0 = (1 - g) + g (p d0 + d1), d1 = g (1 - p) d0
    d0 = (1 - g) / (1 - g * p - g * g * (1 - p))
    d = tm.discounted_state_distribution(mdp, pi)
    assert torch.allclose(d, torch.tensor([d0, g * (1 - p) * d0], dtype=torch.float64), atol=1e-12)
    assert d.sum().item() == pytest.approx(1.0, abs=1e-12)


def test_sampled_return_and_state_distribution_match_the_exact_ones():
    mdp = tm.random_mdp(4, 2, seed=3, gamma=0.8)
    pi = random_policy(4, 2, seed=4)
    returns, stopped = tm.sample_returns(mdp, pi, 40_000, seed=5)
    J = tm.expected_return(mdp, pi).item()
    stderr = returns.std().item() / math.sqrt(len(returns))
    assert abs(returns.mean().item() - J) < 4 * stderr
    d = tm.discounted_state_distribution(mdp, pi)
    freq = torch.bincount(stopped, minlength=4).double() / len(stopped)
    assert torch.all((freq - d).abs() < 4 * torch.sqrt(d * (1 - d) / len(stopped)))


def test_sampled_surrogate_matches_the_exact_one():
    """L from the old policy's data: states ~ d^pi (where episodes stop), actions ~ pi, weighted by the ratio."""
    mdp = tm.random_mdp(4, 3, seed=8, gamma=0.8)
    pi, pi_new = random_policy(4, 3, seed=9), random_policy(4, 3, seed=10)
    _, states = tm.sample_returns(mdp, pi, 40_000, seed=11)
    actions = torch.multinomial(pi[states], 1, generator=torch.Generator().manual_seed(12)).squeeze(-1)
    adv = tm.advantages(mdp, pi)
    # L = 1/(1 - gamma) E_{s ~ d^pi, a ~ pi}[pi'(a|s) / pi(a|s) A^pi(s, a)]
    terms = (pi_new[states, actions] / pi[states, actions]) * adv[states, actions] / (1 - mdp.gamma)
    stderr = terms.std().item() / math.sqrt(len(terms))
    assert abs(terms.mean().item() - tm.surrogate(mdp, pi, pi_new).item()) < 4 * stderr


@pytest.mark.parametrize("seed", range(20))
def test_performance_difference_lemma_holds_exactly(seed):
    mdp = tm.random_mdp(6, 3, seed=seed, gamma=0.9, n_successors=2 if seed % 2 else None)
    pi, pi_new = random_policy(6, 3, 100 + seed, 2.0), random_policy(6, 3, 200 + seed, 2.0)
    gap = tm.expected_return(mdp, pi_new) - tm.expected_return(mdp, pi)
    assert gap.item() == pytest.approx(tm.performance_difference(mdp, pi, pi_new).item(), abs=1e-12)
    # the surrogate uses the old states: a different number for a large change of policy
    assert abs(tm.surrogate(mdp, pi, pi_new).item() - gap.item()) > 1e-6


def test_surrogate_matches_the_return_to_first_order():
    """L and J - J_old agree in value (0) and gradient at pi_new = pi: the gap shrinks like the step squared."""
    mdp = tm.random_mdp(5, 3, seed=1, gamma=0.9)
    theta = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    pi = tm.softmax_policy(theta)
    x = tm.advantages(mdp, pi)
    gaps = []
    for h in (1e-2, 1e-3):
        pi_h = tm.softmax_policy(theta + h * x)
        gaps.append(abs((tm.expected_return(mdp, pi_h) - tm.expected_return(mdp, pi)
                         - tm.surrogate(mdp, pi, pi_h)).item()))
    assert gaps[1] < gaps[0] / 50  # second order: a 10x smaller step, about a 100x smaller gap


def test_penalty_coefficient_closed_form():
    # C = 4 eps gamma / (1 - gamma)^2
    assert tm.trpo_penalty_coefficient(1.0, 0.5) == pytest.approx(8.0)
    assert tm.trpo_penalty_coefficient(0.5, 0.9) == pytest.approx(180.0)
    with pytest.raises(ValueError):
        tm.trpo_penalty_coefficient(1.0, 1.0)


def test_kl_and_tv_per_state():
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64)
    q = torch.tensor([[0.8, 0.2], [0.5, 0.5]], dtype=torch.float64)
    kl = tm.kl_per_state(p, q)
    assert kl[0].item() == pytest.approx(0.5 * math.log(0.5 / 0.8) + 0.5 * math.log(0.5 / 0.2))
    assert kl[1].item() == pytest.approx(math.log(2.0))  # 0 log 0 counts as 0
    assert torch.allclose(tm.tv_per_state(p, q), torch.tensor([0.3, 0.5], dtype=torch.float64))
    # Pinsker: TV^2 <= KL / 2, the step from TRPO's Theorem 1 (TV) to its KL form
    assert torch.all(tm.tv_per_state(p, q) ** 2 <= kl / 2)


def test_trpo_bound_holds_on_random_cases():
    alphas = torch.logspace(-3, 1.5, 40, dtype=torch.float64)
    for seed in range(30):
        mdp = tm.random_mdp(6, 3, seed=seed, gamma=(0.5, 0.9, 0.95)[seed % 3],
                            n_successors=2 if seed % 2 else None)
        theta = 2 * torch.randn(6, 3, generator=torch.Generator().manual_seed(seed + 50), dtype=torch.float64)
        x = torch.randn(6, 3, generator=torch.Generator().manual_seed(seed + 80), dtype=torch.float64)
        pi = tm.softmax_policy(theta)
        pis = tm.softmax_policy(theta + alphas[:, None, None] * x)   # (40, S, A): one policy per step size
        gain = tm.expected_return(mdp, pis) - tm.expected_return(mdp, pi)
        assert torch.all(tm.trpo_lower_bound(mdp, pi, pis) <= gain + 1e-12)


def test_the_bound_is_not_vacuous_the_surrogate_alone_is_no_bound():
    """Without the penalty (C = 0) the 'bound' L <= J - J_old fails on some case, so the bound test can fail."""
    failures = 0
    for seed in range(30):
        mdp = tm.random_mdp(6, 3, seed=seed, gamma=0.9)
        pi, pi_new = random_policy(6, 3, seed + 300, 2.0), random_policy(6, 3, seed + 400, 2.0)
        gain = tm.expected_return(mdp, pi_new) - tm.expected_return(mdp, pi)
        failures += int(tm.surrogate(mdp, pi, pi_new) > gain)
    assert failures > 0


def test_mean_kl_version_and_bad_arguments():
    mdp = tm.random_mdp(4, 2, seed=0)
    pi, pi_new = random_policy(4, 2, 1), random_policy(4, 2, 2)
    # mean KL <= max KL, so the mean-KL 'bound' is never below the max-KL one
    assert tm.trpo_lower_bound(mdp, pi, pi_new, "mean") >= tm.trpo_lower_bound(mdp, pi, pi_new, "max")
    with pytest.raises(ValueError):
        tm.trpo_lower_bound(mdp, pi, pi_new, "median")
    with pytest.raises(ValueError):
        tm.TabularMDP(mdp.P * 2, mdp.r, mdp.mu0, 0.9)
    with pytest.raises(ValueError):
        tm.random_mdp(4, 2, seed=0, n_successors=5)


def test_random_mdp_is_reproducible_and_sparse_when_asked():
    a, b = tm.random_mdp(5, 2, seed=7), tm.random_mdp(5, 2, seed=7)
    assert torch.equal(a.P, b.P) and torch.equal(a.r, b.r)
    sparse = tm.random_mdp(5, 2, seed=7, n_successors=2)
    assert torch.all((sparse.P > 0).sum(-1) == 2)
    # the dense MDP's first draws are P then r from one generator (notebook 01's random_mdp)
    g = torch.Generator().manual_seed(7)
    P = -torch.log(torch.rand(5, 2, 5, generator=g, dtype=torch.float64))
    assert torch.allclose(a.P, P / P.sum(-1, keepdim=True))
    assert torch.equal(a.r, torch.randn(5, 2, generator=g, dtype=torch.float64))
