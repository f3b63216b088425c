"""Exact policy evaluation on small tabular MDPs, and the two results behind TRPO.

Everything is computed exactly (linear solves, no sampling), so identities can be checked to rounding error:

- ``exact_values``: V^pi (S,) and Q^pi (S, A) from V = r_pi + gamma P_pi V;
- ``discounted_state_distribution``: d^pi_gamma = (1 - gamma) mu0^T (I - gamma P_pi)^{-1};
- ``performance_difference``: the right-hand side of Kakade & Langford's (2002) lemma,
  J(pi') - J(pi) = 1/(1 - gamma) E_{s ~ d^{pi'}} E_{a ~ pi'}[A^pi(s, a)];
- ``surrogate``: the same with d^pi in place of d^{pi'}, TRPO's L_pi(pi') (Schulman et al. 2015);
- ``trpo_penalty_coefficient`` and ``trpo_lower_bound``: J(pi') - J(pi) >= L_pi(pi') - C max_s KL(pi(.|s) || pi'(.|s))
  with C = 4 eps gamma / (1 - gamma)^2, eps = max_{s,a} |A^pi(s, a)| (the KL form of their Theorem 1).

Conventions (the TRPO paper's, up to naming): J(pi) = E_{s0 ~ mu0}[sum_t gamma^t r_t] is the *unnormalised*
discounted return (the paper's eta); d^pi_gamma is a probability distribution (sums to 1), so the paper's
unnormalised visitation rho_pi = d^pi_gamma / (1 - gamma). ``surrogate`` returns the paper's L_pi(pi') - eta(pi),
the predicted *improvement*. With these, the bound's constant is exactly the paper's C.

Shapes: S states, A actions. A policy is a tensor of probabilities ``pi`` of shape (..., S, A) (rows sum to 1);
leading batch dimensions ``...`` are allowed everywhere a policy is an argument (e.g. one policy per step size),
and every result carries them. All tensors are float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib.validation import check_non_negative, check_open_unit_interval, check_positive_int, check_seed

__all__ = ["TabularMDP", "random_mdp", "softmax_policy", "policy_dynamics", "exact_values", "expected_return",
           "advantages", "discounted_state_distribution", "performance_difference", "surrogate",
           "kl_per_state", "tv_per_state", "trpo_penalty_coefficient", "trpo_lower_bound", "sample_returns"]


@dataclass(frozen=True)
class TabularMDP:
    """A finite discounted MDP.

    P: (S, A, S) transition probabilities P(s' | s, a), each row P[s, a] sums to 1.
    r: (S, A) expected reward r(s, a).
    mu0: (S,) start distribution.
    gamma: discount in (0, 1).
    """

    P: Tensor
    r: Tensor
    mu0: Tensor
    gamma: float

    def __post_init__(self) -> None:
        check_open_unit_interval("gamma", self.gamma)
        S, A = self.r.shape
        if self.P.shape != (S, A, S) or self.mu0.shape != (S,):
            raise ValueError(f"TabularMDP: P must be (S, A, S) = ({S}, {A}, {S}) and mu0 ({S},); got P "
                             f"{tuple(self.P.shape)}, mu0 {tuple(self.mu0.shape)}")
        if (self.P < 0).any() or not torch.allclose(self.P.sum(-1), torch.ones_like(self.r), atol=1e-9):
            raise ValueError("TabularMDP: every row P[s, a] must be a probability distribution over s'")
        if (self.mu0 < 0).any() or abs(self.mu0.sum().item() - 1.0) > 1e-9:
            raise ValueError("TabularMDP: mu0 must be a probability distribution over the states")

    @property
    def n_states(self) -> int:
        return self.r.shape[0]

    @property
    def n_actions(self) -> int:
        return self.r.shape[1]


def random_mdp(n_states: int, n_actions: int, seed: int, gamma: float = 0.9, mu0: Tensor | None = None,
               n_successors: int | None = None) -> TabularMDP:
    """A random MDP: rows P[s, a] uniform on the simplex (Dirichlet(1)), rewards r(s, a) ~ N(0, 1).

    With ``n_successors = k`` each (s, a) can lead to only k states, drawn at random (a sparse MDP, where some
    states are rarely visited). ``mu0`` defaults to starting every episode in state 0. Float64, reproducible
    from ``seed``; without ``n_successors`` the draws are P first, then r, from one torch generator.
    """
    check_positive_int("n_states", n_states)
    check_positive_int("n_actions", n_actions)
    check_seed("seed", seed)
    g = torch.Generator().manual_seed(seed)
    # -log U with U ~ Uniform(0, 1) is Exponential(1); normalised, a row is Dirichlet(1, ..., 1)
    P = -torch.log(torch.rand(n_states, n_actions, n_states, generator=g, dtype=torch.float64))
    r = torch.randn(n_states, n_actions, generator=g, dtype=torch.float64)
    if n_successors is not None:
        check_positive_int("n_successors", n_successors)
        if n_successors > n_states:
            raise ValueError(f"n_successors must be at most n_states = {n_states}, got {n_successors}")
        keep = torch.rand(n_states, n_actions, n_states, generator=g).argsort(dim=-1)[..., :n_successors]
        P = P * torch.zeros_like(P).scatter_(-1, keep, 1.0)
    P = P / P.sum(dim=-1, keepdim=True)
    if mu0 is None:
        mu0 = torch.zeros(n_states, dtype=torch.float64)
        mu0[0] = 1.0
    return TabularMDP(P, r, mu0.to(torch.float64), gamma)


def softmax_policy(logits: Tensor) -> Tensor:
    """pi(a|s) = softmax(logits[s])_a: (..., S, A) logits -> (..., S, A) probabilities."""
    return torch.softmax(logits, dim=-1)


def policy_dynamics(mdp: TabularMDP, pi: Tensor) -> tuple[Tensor, Tensor]:
    """The Markov chain that pi induces: P_pi (..., S, S) and r_pi (..., S) for pi (..., S, A)."""
    # P_pi(s' | s) = sum_a pi(a|s) P(s' | s, a)
    P_pi = torch.einsum("...sa,sat->...st", pi, mdp.P)
    # r_pi(s) = sum_a pi(a|s) r(s, a)
    r_pi = (pi * mdp.r).sum(dim=-1)
    return P_pi, r_pi


def exact_values(mdp: TabularMDP, pi: Tensor) -> tuple[Tensor, Tensor]:
    """V^pi (..., S) and Q^pi (..., S, A) for pi (..., S, A), by one linear solve (differentiable)."""
    P_pi, r_pi = policy_dynamics(mdp, pi)
    eye = torch.eye(mdp.n_states, dtype=P_pi.dtype)
    # V = r_pi + gamma P_pi V  <=>  (I - gamma P_pi) V = r_pi
    V = torch.linalg.solve(eye - mdp.gamma * P_pi, r_pi.unsqueeze(-1)).squeeze(-1)
    # Q(s, a) = r(s, a) + gamma sum_s' P(s' | s, a) V(s')
    Q = mdp.r + mdp.gamma * torch.einsum("sat,...t->...sa", mdp.P, V)
    return V, Q


def expected_return(mdp: TabularMDP, pi: Tensor) -> Tensor:
    """J(pi) = sum_s mu0(s) V^pi(s), the unnormalised discounted return (TRPO's eta): (..., S, A) -> (...)."""
    return exact_values(mdp, pi)[0] @ mdp.mu0


def advantages(mdp: TabularMDP, pi: Tensor) -> Tensor:
    """A^pi(s, a) = Q^pi(s, a) - V^pi(s): (..., S, A) -> (..., S, A); sum_a pi(a|s) A^pi(s, a) = 0."""
    V, Q = exact_values(mdp, pi)
    return Q - V.unsqueeze(-1)


def discounted_state_distribution(mdp: TabularMDP, pi: Tensor) -> Tensor:
    """d^pi_gamma (..., S): (1 - gamma) sum_t gamma^t Pr(s_t = s | mu0, pi), a distribution over states."""
    P_pi, _ = policy_dynamics(mdp, pi)
    eye = torch.eye(mdp.n_states, dtype=P_pi.dtype)
    # d = (1 - gamma) mu0^T (I - gamma P_pi)^{-1}  <=>  (I - gamma P_pi)^T d = (1 - gamma) mu0
    rhs = ((1 - mdp.gamma) * mdp.mu0).expand(*P_pi.shape[:-1]).unsqueeze(-1)
    return torch.linalg.solve((eye - mdp.gamma * P_pi).transpose(-1, -2), rhs).squeeze(-1)


def _expected_advantage(d: Tensor, pi_new: Tensor, adv_old: Tensor, gamma: float) -> Tensor:
    # 1/(1 - gamma) sum_s d(s) sum_a pi'(a|s) A^pi(s, a)
    return (d * (pi_new * adv_old).sum(dim=-1)).sum(dim=-1) / (1 - gamma)


def performance_difference(mdp: TabularMDP, pi_old: Tensor, pi_new: Tensor) -> Tensor:
    """Kakade & Langford's (2002) expression for J(pi_new) - J(pi_old), with the *new* policy's states.

    1/(1 - gamma) E_{s ~ d^{pi_new}} E_{a ~ pi_new}[A^{pi_old}(s, a)]. pi_old (S, A); pi_new (..., S, A) -> (...).
    """
    return _expected_advantage(discounted_state_distribution(mdp, pi_new), pi_new, advantages(mdp, pi_old),
                               mdp.gamma)


def surrogate(mdp: TabularMDP, pi_old: Tensor, pi_new: Tensor) -> Tensor:
    """TRPO's surrogate improvement L_pi(pi') - J(pi): the lemma with the *old* policy's states.

    1/(1 - gamma) E_{s ~ d^{pi_old}} E_{a ~ pi_new}[A^{pi_old}(s, a)]; computable from pi_old's data alone.
    pi_old (S, A); pi_new (..., S, A) -> (...).
    """
    return _expected_advantage(discounted_state_distribution(mdp, pi_old), pi_new, advantages(mdp, pi_old),
                               mdp.gamma)


def kl_per_state(pi_old: Tensor, pi_new: Tensor) -> Tensor:
    """KL(pi_old(.|s) || pi_new(.|s)) for every state: (..., S, A) x (..., S, A) -> (..., S); 0 log 0 = 0."""
    # KL = sum_a p(a) (log p(a) - log q(a))
    terms = pi_old * (torch.log(pi_old) - torch.log(pi_new))
    return torch.where(pi_old > 0, terms, torch.zeros_like(terms)).sum(dim=-1)


def tv_per_state(pi_old: Tensor, pi_new: Tensor) -> Tensor:
    """Total variation distance 1/2 sum_a |pi_old(a|s) - pi_new(a|s)| per state: (..., S, A) -> (..., S)."""
    return 0.5 * (pi_old - pi_new).abs().sum(dim=-1)


def trpo_penalty_coefficient(eps: float | Tensor, gamma: float) -> float | Tensor:
    """C = 4 eps gamma / (1 - gamma)^2 of TRPO's KL bound (Schulman et al. 2015, Theorem 1 with TV^2 <= KL).

    eps = max_{s,a} |A^pi(s, a)|; the C that multiplies max_s KL(pi(.|s) || pi'(.|s)) when J is the
    unnormalised discounted return and L the surrogate improvement of ``surrogate``.
    """
    check_open_unit_interval("gamma", gamma)
    if not isinstance(eps, Tensor):
        check_non_negative("eps", eps)
    # C = 4 eps gamma / (1 - gamma)^2
    return 4 * eps * gamma / (1 - gamma) ** 2


def trpo_lower_bound(mdp: TabularMDP, pi_old: Tensor, pi_new: Tensor, divergence: str = "max") -> Tensor:
    """L_pi(pi') - C KL, a lower bound on J(pi_new) - J(pi_old) when ``divergence = "max"`` (the theorem).

    divergence: "max" uses max_s KL(pi_old(.|s) || pi_new(.|s)), as the theorem requires; "mean" uses the
    d^{pi_old}-weighted mean KL that practical TRPO constrains. The "mean" version is NOT a bound in general;
    it is here to measure how often it fails. pi_old (S, A); pi_new (..., S, A) -> (...).
    """
    if divergence not in ("max", "mean"):
        raise ValueError(f"divergence must be 'max' or 'mean', got {divergence!r}")
    eps = advantages(mdp, pi_old).abs().max()
    C = trpo_penalty_coefficient(eps, mdp.gamma)
    kl = kl_per_state(pi_old, pi_new)
    if divergence == "max":
        kl_term = kl.max(dim=-1).values
    else:
        # mean KL = sum_s d^{pi_old}(s) KL(s)
        kl_term = kl @ discounted_state_distribution(mdp, pi_old)
    # J(pi') - J(pi) >= L_pi(pi') - C max_s KL
    return surrogate(mdp, pi_old, pi_new) - C * kl_term


def sample_returns(mdp: TabularMDP, pi: Tensor, n_episodes: int, seed: int) -> tuple[Tensor, Tensor]:
    """Monte Carlo: (discounted returns (n,), states where the episodes stopped (n,)) for pi (S, A).

    Each episode starts from mu0 and, after every step, continues with probability gamma; the sum of its
    *undiscounted* rewards then has expectation J(pi), and the state in which it stops is distributed as
    d^pi_gamma. (Pr(still running at step t) = gamma^t, and it stops at step t with probability (1 - gamma).)
    Used by the tests to check the exact formulas against sampling.
    """
    check_positive_int("n_episodes", n_episodes)
    check_seed("seed", seed)
    g = torch.Generator().manual_seed(seed)
    s = torch.multinomial(mdp.mu0, n_episodes, replacement=True, generator=g)
    total = torch.zeros(n_episodes, dtype=torch.float64)
    stopped_at = torch.full((n_episodes,), -1, dtype=torch.long)
    running = torch.ones(n_episodes, dtype=torch.bool)
    while running.any():
        idx = running.nonzero().squeeze(-1)
        a = torch.multinomial(pi[s[idx]], 1, generator=g).squeeze(-1)
        total[idx] += mdp.r[s[idx], a]
        stop = torch.rand(len(idx), generator=g, dtype=torch.float64) > mdp.gamma
        stopped_at[idx[stop]] = s[idx[stop]]
        running[idx[stop]] = False
        go = idx[~stop]
        s[go] = torch.multinomial(mdp.P[s[go], a[~stop]], 1, generator=g).squeeze(-1)
    return total, stopped_at
