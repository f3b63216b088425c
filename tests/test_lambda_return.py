"""The λ-return identity: GAE(gamma, lambda) advantages plus V(s_t) equal the λ-return, computed here straight
from its definition (a weighted average of n-step returns, written forward in time) on random batches with
terminations, truncations and episodes still running at the batch end."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.advantages import discounted_returns, gae


def lambda_returns(rewards, next_values, terminated, truncated, gamma, lam):
    """G^lambda_t for a (T, N) batch from the definition, column by column, in plain Python.

    G^(n)_t = sum_{l<n} gamma^l r_{t+l} + gamma^n (1 - terminated_{t+n-1}) V(s_{t+n}), for n = 1..k, where k counts
    the steps from t to the end of its episode (or the batch); G^lambda_t = (1 - lam) sum_{n<k} lam^(n-1) G^(n)_t
    + lam^(k-1) G^(k)_t. next_values[t] = V(s_{t+1}) (V of the final observation after an episode end).
    """
    T, N = rewards.shape
    out = np.zeros((T, N))
    for i in range(N):
        for t in range(T):
            k = 1
            while t + k - 1 < T - 1 and not (terminated[t + k - 1, i] or truncated[t + k - 1, i]):
                k += 1
            total = 0.0
            for n in range(1, k + 1):
                last = t + n - 1
                g = sum(gamma**l * rewards[t + l, i] for l in range(n))
                g += gamma**n * (1.0 - terminated[last, i]) * next_values[last, i]
                weight = (1.0 - lam) * lam ** (n - 1) if n < k else lam ** (k - 1)
                total += weight * g
            out[t, i] = total
    return out


def random_batch(seed, T=30, N=4, p_end=0.12):
    """Random rewards and values, episode ends at random (each end a termination or a truncation), consistent
    next values: V(s_{t+1}) = values[t+1] inside an episode, a separate number (V of the final obs) at an end."""
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, N))
    values = rng.normal(size=(T, N))
    ends = rng.random((T, N)) < p_end
    kind = rng.random((T, N)) < 0.5
    terminated = (ends & kind).astype(float)
    truncated = (ends & ~kind).astype(float)
    following = np.concatenate([values[1:], rng.normal(size=(1, N))])
    next_values = np.where(ends, rng.normal(size=(T, N)), following)
    return rewards, values, next_values, terminated, truncated


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lam", [0.0, 0.3, 0.9, 0.97, 1.0])
def test_gae_plus_values_is_the_lambda_return(seed, lam):
    gamma = 0.95
    r, v, nv, term, trunc = random_batch(seed)
    assert term.sum() > 0 and trunc.sum() > 0  # both kinds of end are exercised
    expected = lambda_returns(r, nv, term, trunc, gamma, lam)
    est = gae(*(torch.tensor(x) for x in (r, v, nv, term, trunc)), gamma, lam)
    np.testing.assert_allclose(est.returns.numpy(), expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(est.advantages.numpy(), expected - v, rtol=0, atol=1e-10)


def test_single_env_shape_and_the_two_ends_of_the_dial():
    gamma = 0.9
    r, v, nv, term, trunc = random_batch(7, T=25, N=1)
    flat = [torch.tensor(x[:, 0]) for x in (r, v, nv, term, trunc)]
    # (T,) input gives the same numbers as the (T, 1) batch
    for lam in (0.0, 0.8, 1.0):
        np.testing.assert_allclose(gae(*flat, gamma, lam).returns.numpy(),
                                   lambda_returns(r, nv, term, trunc, gamma, lam)[:, 0], rtol=0, atol=1e-10)
    # lam = 0: the one-step TD target; lam = 1: the return bootstrapped at truncations and the batch end
    td_target = r + gamma * (1 - term) * nv
    np.testing.assert_allclose(lambda_returns(r, nv, term, trunc, gamma, 0.0), td_target, atol=1e-12)
    boot = discounted_returns(torch.tensor(r), torch.tensor(term), torch.tensor(trunc), gamma,
                              next_values=torch.tensor(nv))
    np.testing.assert_allclose(lambda_returns(r, nv, term, trunc, gamma, 1.0), boot.numpy(), atol=1e-10)


def test_the_forward_definition_by_hand_on_three_steps():
    # one episode of 3 steps that terminates: G^lambda_0 = (1-lam) G1 + (1-lam) lam G2 + lam^2 G3
    gamma, lam = 0.5, 0.5
    r = np.array([[1.0], [2.0], [4.0]])
    nv = np.array([[10.0], [20.0], [99.0]])  # V(s_1), V(s_2); 99 is ignored (terminated)
    term = np.array([[0.0], [0.0], [1.0]])
    trunc = np.zeros_like(term)
    g1 = 1.0 + 0.5 * 10.0
    g2 = 1.0 + 0.5 * 2.0 + 0.25 * 20.0
    g3 = 1.0 + 0.5 * 2.0 + 0.25 * 4.0
    expected0 = 0.5 * g1 + 0.25 * g2 + 0.25 * g3
    assert lambda_returns(r, nv, term, trunc, gamma, lam)[0, 0] == pytest.approx(expected0)
    v = np.array([[3.0], [10.0], [20.0]])  # consistent: values[t+1] = next_values[t] inside the episode
    est = gae(*(torch.tensor(x) for x in (r, v, nv, term, trunc)), gamma, lam)
    assert est.returns[0, 0].item() == pytest.approx(expected0)
