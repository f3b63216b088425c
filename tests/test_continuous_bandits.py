"""The continuous bandits of notebook 07: closed forms (the best sigma per context, the expected reward at the
bound), the Jacobian cancelling in PPO's ratio, and small learning thresholds."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from course_lib.continuous_bandits import (
    BOUNDED_METHODS,
    BoundedConfig,
    ContextualConfig,
    expected_reward,
    optimal_sigmas,
    train_bounded,
    train_contextual,
)

torch.set_num_threads(1)


def test_optimal_sigmas_maximise_the_entropy_regularised_objective():
    cfg = ContextualConfig()
    per_context, shared = optimal_sigmas(cfg)
    grid = np.linspace(0.01, 3.0, 300_000)
    k, c2 = np.asarray(cfg.curvature), cfg.ent_coef
    # E[r] + c2 H for a Gaussian with the right mean: -k sigma^2 + c2 (log sigma + const)
    for kc, best in zip(k, per_context):
        assert abs(grid[np.argmax(-kc * grid ** 2 + c2 * np.log(grid))] - best) < 1e-4
    assert abs(grid[np.argmax(-k.mean() * grid ** 2 + c2 * np.log(grid))] - shared) < 1e-4
    assert np.allclose(per_context, [1.0, 0.1]) and abs(shared - np.sqrt(0.2 / 10.1)) < 1e-12


def test_expected_reward_closed_forms():
    cfg = BoundedConfig()
    # a clipped Gaussian far beyond the bound always plays the bound: r = -(high - target)^2
    assert np.isclose(expected_reward("clipped", np.array(9.0), np.array(0.3), cfg.target, cfg),
                      -(cfg.high - cfg.target) ** 2)
    # an unclipped N(0, s^2) inside wide bounds: E[-(a - t)^2] = -(s^2 + t^2), up to sampling error
    wide = dataclasses.replace(cfg, low=-50.0, high=50.0)
    got = expected_reward("clipped", np.array(0.0), np.array(0.5), 1.0, wide)
    assert abs(got + 1.25) < 0.02
    # a nearly deterministic tanh policy at u = 0 plays the centre of the box
    assert np.isclose(expected_reward("tanh", np.array(0.0), np.array(1e-9), 0.3, cfg), -0.09)


def test_without_an_entropy_bonus_the_jacobian_cancels_in_the_ratio():
    """log |da/du| depends on the stored u only, not on the parameters: pi_new / pi_old and the gradient of the
    clipped surrogate are the same with and without it, so the two runs coincide."""
    cfg = BoundedConfig(ent_coef=0.0, updates=15, switch_at=10)
    with_j, without = train_bounded("tanh", cfg, seed=3, n_runs=2), train_bounded("tanh_no_jacobian", cfg, 3, 2)
    assert np.allclose(with_j.mu, without.mu, atol=1e-5) and np.allclose(with_j.sigma, without.sigma, atol=1e-5)
    # with a bonus they differ: the entropy is where the Jacobian matters
    cfg = dataclasses.replace(cfg, ent_coef=0.5)
    with_j, without = train_bounded("tanh", cfg, seed=3, n_runs=2), train_bounded("tanh_no_jacobian", cfg, 3, 2)
    assert not np.allclose(with_j.sigma, without.sigma, atol=1e-3)


@pytest.mark.parametrize("method", BOUNDED_METHODS)
def test_every_method_learns_the_bound_action(method):
    cfg = BoundedConfig(updates=60, switch_at=60)
    run = train_bounded(method, cfg, seed=0, n_runs=4)
    assert run.mu.shape == run.sigma.shape == run.at_bound.shape == run.ret.shape == (60, 4)
    best = -(cfg.high - cfg.target) ** 2
    assert np.all(run.ret[-1] > best - 0.01), run.ret[-1]
    assert np.all(run.ret[0] < best - 0.1), run.ret[0]
    if method == "clipped":
        assert np.all(run.mu[-1] > cfg.high), "the mean leaves the box once the bound binds"


def test_state_dependent_sigma_learns_each_contexts_width_and_a_shared_one_cannot():
    cfg = ContextualConfig()
    per_context, shared = optimal_sigmas(cfg)
    dep = train_contextual(True, cfg, seed=0, n_runs=4).sigma[-20:].mean(axis=(0, 1))
    ind = train_contextual(False, cfg, seed=0, n_runs=4).sigma[-20:].mean(axis=(0, 1))
    assert np.all(np.abs(dep / per_context - 1) < 0.25), dep
    assert ind[0] == ind[1] and abs(ind[0] / shared - 1) < 0.25, ind


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="low < high"):
        BoundedConfig(low=1.0, high=1.0)
    with pytest.raises(ValueError, match="updates"):
        BoundedConfig(updates=0)
    with pytest.raises(ValueError, match="curvature"):
        ContextualConfig(curvature=(0.0, 1.0))
    with pytest.raises(ValueError, match="method"):
        train_bounded("beta", BoundedConfig(), 0)  # type: ignore[arg-type]
