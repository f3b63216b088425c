"""Maths checks for course_lib.advantages: closed forms, hand-computed examples and plain-loop references."""
import pytest
import torch

from course_lib.advantages import (
    AdvantageEstimate,
    discounted_returns,
    gae,
    n_step_returns,
    next_values_from_rollout,
    td_errors,
)

f64 = torch.float64


# ---------------------------------------------------------------------------------------------------------------
# Independent references: one env at a time, one element at a time, *forward* sums (the library recurses backwards)
# ---------------------------------------------------------------------------------------------------------------
def ref_gae_1d(r, v, vn, term, trunc, gamma, lam):
    """A_t = sum_k (gamma lam)^k delta_{t+k}, the sum stopping after the first step that ends the episode."""
    T = len(r)
    delta = [r[j] + gamma * vn[j] * (1 - term[j]) - v[j] for j in range(T)]
    adv = []
    for t in range(T):
        a, c = 0.0, 1.0
        for j in range(t, T):
            a += c * delta[j]
            if term[j] or trunc[j]:
                break
            c *= gamma * lam
        adv.append(a)
    return adv


def ref_nstep_1d(r, vn, term, trunc, gamma, n):
    """Sum of up to n discounted rewards, then one bootstrap unless the episode terminated."""
    T = len(r)
    out = []
    for t in range(T):
        g, disc = 0.0, 1.0
        for k in range(n):
            j = t + k
            g += disc * r[j]
            if term[j]:
                break
            if trunc[j] or k == n - 1 or j == T - 1:
                g += disc * gamma * vn[j]
                break
            disc *= gamma
        out.append(g)
    return out


def ref_mc_1d(r, term, trunc, gamma):
    """Plain Monte Carlo return of each episode piece, no bootstrap anywhere (forward sums)."""
    T = len(r)
    out = []
    for t in range(T):
        g, disc = 0.0, 1.0
        for j in range(t, T):
            g += disc * r[j]
            if term[j] or trunc[j]:
                break
            disc *= gamma
        out.append(g)
    return out


def per_env(ref, *arrays, **kw):
    """Apply a 1-D reference to each column of (T, N) tensors; returns a (T, N) float64 tensor."""
    n_envs = arrays[0].shape[1]
    cols = [ref(*[a[:, i].tolist() for a in arrays], **kw) for i in range(n_envs)]
    return torch.tensor(cols, dtype=f64).T


def random_batch(T, N, seed, p_term=0.15, p_trunc=0.15):
    """Random rewards, values, next values and independent end flags (both flags can be 1 on one step)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(T, N, generator=g, dtype=f64)
    v = torch.randn(T, N, generator=g, dtype=f64)
    vn = torch.randn(T, N, generator=g, dtype=f64)
    term = (torch.rand(T, N, generator=g, dtype=f64) < p_term).to(f64)
    trunc = (torch.rand(T, N, generator=g, dtype=f64) < p_trunc).to(f64)
    return r, v, vn, term, trunc


# ---------------------------------------------------------------------------------------------------------------
# GAE
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.5), (1.0, 1.0), (0.8, 0.0)])
def test_gae_constant_critic_closed_form(gamma, lam):
    # constant reward r and constant critic c, no episode end: delta = r + gamma c - c for every step and
    # A_t = delta * sum_{k=0}^{T-1-t} (gamma lam)^k = delta * (1 - (gamma lam)^(T-t)) / (1 - gamma lam)
    T, N, r, c = 12, 3, 1.0, 2.5
    rewards = torch.full((T, N), r, dtype=f64)
    values = torch.full((T, N), c, dtype=f64)
    zeros = torch.zeros(T, N, dtype=f64)
    out = gae(rewards, values, values, zeros, zeros, gamma, lam)
    delta = r + gamma * c - c
    gl = gamma * lam
    steps_left = torch.arange(T, 0, -1, dtype=f64)
    if gl == 1.0:
        expected = delta * steps_left
    else:
        expected = delta * (1 - gl**steps_left) / (1 - gl)
    torch.testing.assert_close(out.advantages, expected.unsqueeze(1).expand(T, N))
    torch.testing.assert_close(out.returns, out.advantages + c)


@pytest.mark.parametrize("shape", [(40, 5), (40,)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_equals_plain_loop_reference(shape, seed):
    T, N = 40, 5
    gamma, lam = 0.97, 0.9
    r, v, vn, term, trunc = random_batch(T, N, seed)
    expected = per_env(ref_gae_1d, r, v, vn, term, trunc, gamma=gamma, lam=lam)
    if shape == (T,):  # a single env: column 0, given as (T,)
        r, v, vn, term, trunc, expected = (x[:, 0] for x in (r, v, vn, term, trunc, expected))
    out = gae(r, v, vn, term, trunc, gamma, lam)
    assert isinstance(out, AdvantageEstimate)
    assert out.advantages.shape == shape and out.returns.shape == shape
    torch.testing.assert_close(out.advantages, expected)
    torch.testing.assert_close(out.returns, expected + v)


@pytest.mark.parametrize("seed", [3, 4])
def test_gae_lam0_is_td_error(seed):
    r, v, vn, term, trunc = random_batch(30, 4, seed)
    out = gae(r, v, vn, term, trunc, 0.95, 0.0)
    torch.testing.assert_close(out.advantages, td_errors(r, v, vn, term, 0.95))
    # written out: delta_t = r_t + gamma V(s_{t+1}) (1 - term_t) - V(s_t)
    torch.testing.assert_close(out.advantages, r + 0.95 * vn * (1 - term) - v)


@pytest.mark.parametrize("shape", [(30, 4), (30,)])
@pytest.mark.parametrize("seed", [5, 6])
def test_gae_lam1_is_monte_carlo_advantage(shape, seed):
    # with next_values taken from the rollout (values shifted), GAE(lam = 1) telescopes to the bootstrapped
    # Monte Carlo return minus the baseline
    r, v, _, term, trunc = random_batch(30, 4, seed)
    last = torch.randn(4, dtype=f64)
    if shape == (30,):
        r, v, term, trunc, last = r[:, 0], v[:, 0], term[:, 0], trunc[:, 0], last[0]
    vn = next_values_from_rollout(v, last)
    gamma = 0.9
    out = gae(r, v, vn, term, trunc, gamma, 1.0)
    mc = discounted_returns(r, term, trunc, gamma, next_values=vn)
    torch.testing.assert_close(out.advantages, mc - v)
    torch.testing.assert_close(out.returns, mc)


def test_gae_truncation_bootstraps_termination_does_not_by_hand():
    # one env, T = 3, gamma = 0.5, lam = 1
    r = torch.tensor([1.0, 2.0, 3.0], dtype=f64)
    v = torch.tensor([0.5, 1.0, 1.5], dtype=f64)
    vn = torch.tensor([4.0, 10.0, 6.0], dtype=f64)  # vn[1] = V(final obs) of the episode cut at t = 1
    zero = torch.zeros(3, dtype=f64)
    ends_at_1 = torch.tensor([0.0, 1.0, 0.0], dtype=f64)
    # truncated at t = 1:
    #   delta = [1 + 0.5*4 - 0.5, 2 + 0.5*10 - 1, 3 + 0.5*6 - 1.5] = [2.5, 6.0, 4.5]
    #   A_2 = 4.5; A_1 = 6.0 (episode cut, nothing from t = 2); A_0 = 2.5 + 0.5 * 6.0 = 5.5
    out = gae(r, v, vn, zero, ends_at_1, 0.5, 1.0)
    torch.testing.assert_close(out.advantages, torch.tensor([5.5, 6.0, 4.5], dtype=f64))
    torch.testing.assert_close(out.returns, torch.tensor([6.0, 7.0, 6.0], dtype=f64))
    # terminated at t = 1: delta_1 = 2 - 1 = 1 (no bootstrap); A_0 = 2.5 + 0.5 * 1 = 3.0
    out = gae(r, v, vn, ends_at_1, zero, 0.5, 1.0)
    torch.testing.assert_close(out.advantages, torch.tensor([3.0, 1.0, 4.5], dtype=f64))
    # both flags on the same step: terminated wins (no bootstrap)
    out_both = gae(r, v, vn, ends_at_1, ends_at_1, 0.5, 1.0)
    torch.testing.assert_close(out_both.advantages, out.advantages)


def test_gae_accepts_bool_flags_and_int_rewards():
    r, v, vn, term, trunc = random_batch(10, 2, 7)
    ref = gae(r, v, vn, term, trunc, 0.9, 0.8)
    out = gae(r, v, vn, term.bool(), trunc.bool(), 0.9, 0.8)
    torch.testing.assert_close(out.advantages, ref.advantages)
    z = torch.zeros(4)
    ints = gae(torch.ones(4, dtype=torch.int64), z, z, z, z, 1.0, 1.0)
    assert ints.advantages.dtype == torch.get_default_dtype()
    torch.testing.assert_close(ints.advantages, torch.tensor([4.0, 3.0, 2.0, 1.0]))


def test_gae_targets_carry_no_gradient():
    v = torch.randn(5, 2, requires_grad=True)
    out = gae(torch.randn(5, 2), v, v * 2, torch.zeros(5, 2), torch.zeros(5, 2), 0.9, 0.9)
    assert not out.advantages.requires_grad and not out.returns.requires_grad
    nstep = n_step_returns(torch.randn(5, 2), v, v * 2, torch.zeros(5, 2), torch.zeros(5, 2), 0.9, 2)
    assert not nstep.returns.requires_grad
    assert not discounted_returns(torch.randn(5, 2), torch.zeros(5, 2), torch.zeros(5, 2), 0.9, v).requires_grad


def test_td_errors_stays_differentiable():
    v = torch.tensor([1.0, 2.0], requires_grad=True)
    delta = td_errors(torch.tensor([0.0, 1.0]), v, torch.tensor([3.0, 0.0]), torch.tensor([0.0, 1.0]), 0.5)
    torch.testing.assert_close(delta.detach(), torch.tensor([0.5, -1.0]))
    delta.sum().backward()
    torch.testing.assert_close(v.grad, torch.tensor([-1.0, -1.0]))  # d delta_t / d V(s_t) = -1


# ---------------------------------------------------------------------------------------------------------------
# Monte Carlo returns
# ---------------------------------------------------------------------------------------------------------------
def test_discounted_returns_by_hand():
    r = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=f64)
    z = torch.zeros(4, dtype=f64)
    # no ends, no bootstrap: G = [1 + .5 + .25 + .125, 1.75, 1.5, 1]
    torch.testing.assert_close(discounted_returns(r, z, z, 0.5), torch.tensor([1.875, 1.75, 1.5, 1.0], dtype=f64))
    # end of batch bootstraps from next_values[-1] = 8: G_3 = 1 + 0.5 * 8 = 5, G_2 = 3.5, G_1 = 2.75, G_0 = 2.375
    vn = torch.tensor([100.0, 100.0, 100.0, 8.0], dtype=f64)
    torch.testing.assert_close(
        discounted_returns(r, z, z, 0.5, next_values=vn), torch.tensor([2.375, 2.75, 3.5, 5.0], dtype=f64)
    )
    flag1 = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=f64)
    vn = torch.tensor([100.0, 6.0, 100.0, 8.0], dtype=f64)
    # truncated at t = 1 with V(final obs) = 6: G_1 = 1 + 0.5 * 6 = 4, G_0 = 1 + 0.5 * 4 = 3
    torch.testing.assert_close(
        discounted_returns(r, z, flag1, 0.5, next_values=vn), torch.tensor([3.0, 4.0, 3.5, 5.0], dtype=f64)
    )
    # truncated at t = 1 without next_values: the episode piece's plain return, G_1 = 1
    torch.testing.assert_close(discounted_returns(r, z, flag1, 0.5), torch.tensor([1.5, 1.0, 1.5, 1.0], dtype=f64))
    # terminated at t = 1: never bootstrap, even with next_values
    torch.testing.assert_close(
        discounted_returns(r, flag1, z, 0.5, next_values=vn), torch.tensor([1.5, 1.0, 3.5, 5.0], dtype=f64)
    )


@pytest.mark.parametrize("seed", [8, 9])
def test_discounted_returns_equal_plain_loop(seed):
    r, _, _, term, trunc = random_batch(25, 3, seed)
    expected = per_env(ref_mc_1d, r, term, trunc, gamma=0.93)
    torch.testing.assert_close(discounted_returns(r, term, trunc, 0.93), expected)


def test_discounted_returns_counting_env_time_limit():
    # reward 1 each step, truncated every k steps, bootstrap V(final obs) = 1 / (1 - gamma) (the true value of the
    # infinite-horizon task): every return equals 1 / (1 - gamma)
    gamma, k, T = 0.9, 5, 20
    r = torch.ones(T, dtype=f64)
    trunc = torch.tensor([1.0 if (t + 1) % k == 0 else 0.0 for t in range(T)], dtype=f64)
    vn = torch.full((T,), 1 / (1 - gamma), dtype=f64)
    out = discounted_returns(r, torch.zeros(T, dtype=f64), trunc, gamma, next_values=vn)
    torch.testing.assert_close(out, torch.full((T,), 1 / (1 - gamma), dtype=f64))
    # treating the time limit as termination gives the finite-horizon values (1 - gamma^(k - t)) / (1 - gamma)
    wrong = discounted_returns(r, trunc, torch.zeros(T, dtype=f64), gamma, next_values=vn)
    steps_left = torch.tensor([k - (t % k) for t in range(T)], dtype=f64)
    torch.testing.assert_close(wrong, (1 - gamma**steps_left) / (1 - gamma))


# ---------------------------------------------------------------------------------------------------------------
# n-step returns
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [10, 11])
def test_n_step_one_is_td_target(seed):
    r, v, vn, term, trunc = random_batch(20, 3, seed)
    out = n_step_returns(r, v, vn, term, trunc, 0.9, 1)
    torch.testing.assert_close(out.returns, r + 0.9 * (1 - term) * vn)
    torch.testing.assert_close(out.advantages, td_errors(r, v, vn, term, 0.9))


@pytest.mark.parametrize("n", [20, 21, 100])
def test_n_step_long_is_bootstrapped_monte_carlo(n):
    r, v, vn, term, trunc = random_batch(20, 3, 12)
    out = n_step_returns(r, v, vn, term, trunc, 0.95, n)
    torch.testing.assert_close(out.returns, discounted_returns(r, term, trunc, 0.95, next_values=vn))
    torch.testing.assert_close(out.advantages, out.returns - v)


@pytest.mark.parametrize("n", [2, 3, 7])
@pytest.mark.parametrize("shape", [(25, 4), (25,)])
def test_n_step_equals_plain_loop(n, shape):
    r, v, vn, term, trunc = random_batch(25, 4, 13 + n)
    expected = per_env(ref_nstep_1d, r, vn, term, trunc, gamma=0.9, n=n)
    if shape == (25,):
        r, v, vn, term, trunc, expected = (x[:, 0] for x in (r, v, vn, term, trunc, expected))
    out = n_step_returns(r, v, vn, term, trunc, 0.9, n)
    assert out.returns.shape == shape
    torch.testing.assert_close(out.returns, expected)


def test_n_step_by_hand():
    # gamma = 0.5, n = 2, rewards 1, 2, 3, 4; V(s_{t+1}) = 10, 20, 30, 40
    r = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=f64)
    v = torch.zeros(4, dtype=f64)
    vn = torch.tensor([10.0, 20.0, 30.0, 40.0], dtype=f64)
    z = torch.zeros(4, dtype=f64)
    # no ends: G_0 = 1 + .5*2 + .25*20 = 7; G_1 = 2 + 1.5 + 7.5 = 11; G_2 = 3 + 2 + 10 = 15; G_3 = 4 + 20 = 24
    out = n_step_returns(r, v, vn, z, z, 0.5, 2).returns
    torch.testing.assert_close(out, torch.tensor([7.0, 11, 15, 24], dtype=f64))
    # truncated at t = 0: G_0 = 1 + .5*10 = 6 (bootstrap from V(final obs), not from the next episode)
    trunc0 = torch.tensor([1.0, 0, 0, 0], dtype=f64)
    out = n_step_returns(r, v, vn, z, trunc0, 0.5, 2).returns
    torch.testing.assert_close(out, torch.tensor([6.0, 11, 15, 24], dtype=f64))
    # terminated at t = 1: G_0 = 1 + .5*2 = 2, G_1 = 2
    term1 = torch.tensor([0.0, 1, 0, 0], dtype=f64)
    out = n_step_returns(r, v, vn, term1, z, 0.5, 2).returns
    torch.testing.assert_close(out, torch.tensor([2.0, 2, 15, 24], dtype=f64))


# ---------------------------------------------------------------------------------------------------------------
# next_values_from_rollout
# ---------------------------------------------------------------------------------------------------------------
def test_next_values_from_rollout():
    values = torch.arange(6.0).reshape(3, 2)
    out = next_values_from_rollout(values, torch.tensor([10.0, 11.0]))
    torch.testing.assert_close(out, torch.tensor([[2.0, 3.0], [4.0, 5.0], [10.0, 11.0]]))
    one_env = next_values_from_rollout(torch.tensor([1.0, 2.0, 3.0]), torch.tensor(9.0))
    torch.testing.assert_close(one_env, torch.tensor([2.0, 3.0, 9.0]))
    one_env = next_values_from_rollout(torch.tensor([1.0, 2.0]), torch.tensor([9.0]))
    torch.testing.assert_close(one_env, torch.tensor([2.0, 9.0]))
    msg = r"last_values has shape \(3,\) but values has shape \(3, 2\); .* shape \(2,\)"
    with pytest.raises(ValueError, match=msg):
        next_values_from_rollout(values, torch.zeros(3))
    with pytest.raises(ValueError, match=r"values must have shape \(T, N\) or \(T,\)"):
        next_values_from_rollout(torch.zeros(2, 2, 2), torch.zeros(2, 2))


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------
def test_bad_gamma_lam_n():
    r, v, vn, term, trunc = random_batch(5, 2, 0)
    for gamma in (-0.1, 1.1):
        with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
            gae(r, v, vn, term, trunc, gamma, 0.95)
        with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
            discounted_returns(r, term, trunc, gamma)
        with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
            td_errors(r, v, vn, term, gamma)
        with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
            n_step_returns(r, v, vn, term, trunc, gamma, 3)
    for lam in (-0.5, 1.5):
        with pytest.raises(ValueError, match=r"lam must be in \[0, 1\]"):
            gae(r, v, vn, term, trunc, 0.99, lam)
    for n in (0, -1, 2.5):
        with pytest.raises(ValueError, match=r"n must be an integer >= 1"):
            n_step_returns(r, v, vn, term, trunc, 0.99, n)


def test_mismatched_shapes():
    r, v, vn, term, trunc = random_batch(5, 2, 0)
    with pytest.raises(ValueError, match=r"values has shape \(5, 1\) but rewards has shape \(5, 2\); they must match"):
        gae(r, v[:, :1], vn, term, trunc, 0.99, 0.95)
    with pytest.raises(ValueError, match=r"truncated has shape \(5,\) but rewards has shape \(5, 2\)"):
        gae(r, v, vn, term, trunc[:, 0], 0.99, 0.95)
    with pytest.raises(ValueError, match=r"next_values has shape \(4, 2\) but rewards has shape \(5, 2\)"):
        discounted_returns(r, term, trunc, 0.99, next_values=vn[:4])
    with pytest.raises(ValueError, match=r"terminated has shape \(2, 5\) but rewards has shape \(5, 2\)"):
        td_errors(r, v, vn, term.T, 0.99)
    with pytest.raises(ValueError, match=r"rewards must have shape \(T, N\) or \(T,\)"):
        gae(torch.zeros(2, 2, 2), v, vn, term, trunc, 0.99, 0.95)
