"""Tests for course_lib.networks: initialisation, MLP shape, the actors' maths against closed forms."""
import math

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Normal

from course_lib.networks import (
    Actor,
    CategoricalActor,
    Critic,
    GaussianActor,
    layer_init,
    make_actor,
    mlp,
)


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


# ------------------------------------------------------------------ initialisation
@pytest.mark.parametrize("std", [math.sqrt(2), 1.0, 0.01])
def test_layer_init_is_orthogonal_with_gain_and_bias(std):
    torch.manual_seed(0)
    wide = layer_init(nn.Linear(128, 32), std=std, bias=0.25)  # out <= in: orthonormal rows
    w = wide.weight.detach().double()
    torch.testing.assert_close(w @ w.T, std**2 * torch.eye(32, dtype=torch.float64), atol=1e-5 * std**2, rtol=0)
    assert torch.all(wide.bias == 0.25)
    tall = layer_init(nn.Linear(16, 64), std=std)  # out > in: orthonormal columns
    w = tall.weight.detach().double()
    torch.testing.assert_close(w.T @ w, std**2 * torch.eye(16, dtype=torch.float64), atol=1e-5 * std**2, rtol=0)
    assert torch.all(tall.bias == 0.0)


def test_layer_init_default_gain_is_sqrt2_and_rejects_bad_std():
    w = layer_init(nn.Linear(64, 8)).weight.detach().double()
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(8, dtype=torch.float64), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="std"):
        layer_init(nn.Linear(2, 2), std=0.0)


def test_mlp_layout_activations_and_output_gain():
    net = mlp(5, 3, hidden=(32, 16), activation=nn.ReLU, out_std=0.5)
    lin = _linears(net)
    assert [(m.in_features, m.out_features) for m in lin] == [(5, 32), (32, 16), (16, 3)]
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    w = lin[-1].weight.detach().double()
    torch.testing.assert_close(w @ w.T, 0.25 * torch.eye(3, dtype=torch.float64), atol=1e-6, rtol=0)
    w = lin[1].weight.detach().double()  # hidden: gain sqrt(2), 16 x 32
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(16, dtype=torch.float64), atol=1e-5, rtol=0)
    assert net(torch.zeros(7, 5)).shape == (7, 3)
    assert [type(m) for m in mlp(4, 2, hidden=())] == [nn.Linear]
    with pytest.raises(ValueError, match=r"hidden\[1\]"):
        mlp(4, 2, hidden=(8, 0))
    with pytest.raises(ValueError, match="out_dim"):
        mlp(4, 0)


def test_last_layers_use_the_documented_gains():
    for net, std in [(CategoricalActor(4, 2).net, 0.01), (GaussianActor(4, 2).net, 0.01), (Critic(4).net, 1.0)]:
        w = _linears(net)[-1].weight.detach().double()
        k = w.shape[0]
        torch.testing.assert_close(w @ w.T, std**2 * torch.eye(k, dtype=torch.float64), atol=1e-6, rtol=0)


def test_actor_is_abstract():
    with pytest.raises(TypeError):
        Actor()


# ------------------------------------------------------------------ categorical actor
def test_categorical_log_prob_and_entropy_closed_forms():
    torch.manual_seed(1)
    actor = CategoricalActor(3, 4, hidden=(16,))
    nn.init.normal_(actor.net[-1].weight, std=1.0)  # make the policy far from uniform
    obs = torch.randn(6, 3)
    logits = actor(obs).double()
    dist = actor.distribution(obs)
    actions = torch.tensor([0, 1, 2, 3, 1, 0])
    # log pi(a|s) = logit_a - log sum_b exp(logit_b)
    expected_logp = logits.gather(1, actions[:, None]).squeeze(1) - torch.log(torch.exp(logits).sum(1))
    torch.testing.assert_close(actor.log_prob(dist, actions).double(), expected_logp, atol=1e-6, rtol=0)
    # float-coded actions (as stored in some buffers) give the same answer
    torch.testing.assert_close(actor.log_prob(dist, actions.float()), actor.log_prob(dist, actions))
    p = torch.softmax(logits, 1)
    expected_entropy = -(p * torch.log(p)).sum(1)
    torch.testing.assert_close(actor.entropy(dist).double(), expected_entropy, atol=1e-6, rtol=0)
    assert actor.log_prob(dist, actions).shape == (6,) and actor.entropy(dist).shape == (6,)


def test_categorical_initial_policy_is_near_uniform():
    actor = CategoricalActor(4, 3)
    dist = actor.distribution(torch.randn(10, 4))
    torch.testing.assert_close(dist.probs, torch.full((10, 3), 1 / 3), atol=0.02, rtol=0)


def test_categorical_act_matches_distribution_and_samples_pi():
    torch.manual_seed(2)
    actor = CategoricalActor(2, 3, hidden=(8,))
    nn.init.normal_(actor.net[-1].weight, std=2.0)
    obs = torch.randn(1, 2).expand(20000, 2)
    actions, logp = actor.act(obs)
    assert actions.dtype == torch.int64 and actions.shape == (20000,) and logp.shape == (20000,)
    assert not logp.requires_grad
    dist = actor.distribution(obs)
    torch.testing.assert_close(logp, actor.log_prob(dist, actions))
    # sampled frequencies match pi(.|s) within 4 standard errors
    probs = dist.probs[0].double()
    freq = torch.bincount(actions, minlength=3).double() / 20000
    se = torch.sqrt(probs * (1 - probs) / 20000)
    assert torch.all((freq - probs).abs() < 4 * se)
    # deterministic: the most likely action, with its log-probability
    greedy, logp_greedy = actor.act(obs[:3], deterministic=True)
    assert torch.all(greedy == probs.argmax())
    torch.testing.assert_close(logp_greedy, torch.log(dist.probs[:3].max(1).values), atol=1e-6, rtol=0)


def test_categorical_act_same_seed_same_actions():
    actor = CategoricalActor(4, 2)
    obs = torch.randn(32, 4)
    torch.manual_seed(5)
    a1, _ = actor.act(obs)
    torch.manual_seed(5)
    a2, _ = actor.act(obs)
    assert torch.equal(a1, a2)


# ------------------------------------------------------------------ Gaussian actor
def test_gaussian_log_prob_is_sum_of_per_dimension_normals_and_closed_form():
    torch.manual_seed(3)
    actor = GaussianActor(3, 2, hidden=(16,), log_std_init=-0.5)
    with torch.no_grad():
        actor.log_std.copy_(torch.tensor([-0.5, 0.3]))
    obs = torch.randn(5, 3)
    actions = torch.randn(5, 2) * 2
    dist = actor.distribution(obs)
    logp = actor.log_prob(dist, actions)
    assert logp.shape == (5,)
    mean, std = actor(obs), actor.log_std.exp()
    per_dim = sum(Normal(mean[:, j], std[j]).log_prob(actions[:, j]) for j in range(2))
    torch.testing.assert_close(logp, per_dim)
    # log N(a; mu, sigma^2) = -(a - mu)^2 / (2 sigma^2) - log sigma - log sqrt(2 pi), summed over dims
    closed = (-((actions - mean) ** 2) / (2 * std**2) - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(1)
    torch.testing.assert_close(logp, closed)


def test_gaussian_entropy_closed_form_and_state_independent_std():
    actor = GaussianActor(4, 3, log_std_init=0.7)
    dist = actor.distribution(torch.randn(6, 4))
    # H = sum_j (1/2 + 1/2 log(2 pi) + log sigma_j) = act_dim * (1/2 + 1/2 log(2 pi) + 0.7)
    expected = torch.full((6,), 3 * (0.5 + 0.5 * math.log(2 * math.pi) + 0.7))
    torch.testing.assert_close(actor.entropy(dist), expected)
    torch.testing.assert_close(dist.stddev, torch.full((6, 3), math.exp(0.7)))
    assert isinstance(actor.log_std, nn.Parameter)


def test_gaussian_gradients_reach_log_std_and_mean():
    actor = GaussianActor(2, 2)
    obs, actions = torch.randn(4, 2), torch.randn(4, 2)
    actor.log_prob(actor.distribution(obs), actions).sum().backward()
    assert actor.log_std.grad is not None and torch.all(actor.log_std.grad != 0)
    assert _linears(actor.net)[-1].weight.grad.abs().sum() > 0


def test_gaussian_act_matches_distribution_and_samples_moments():
    torch.manual_seed(4)
    actor = GaussianActor(2, 2, hidden=(8,))
    with torch.no_grad():
        actor.log_std.copy_(torch.tensor([-1.0, 0.5]))
        actor.net[-1].bias.copy_(torch.tensor([0.3, -2.0]))
    obs = torch.randn(1, 2).expand(50000, 2)
    actions, logp = actor.act(obs)
    assert actions.shape == (50000, 2) and logp.shape == (50000,) and not logp.requires_grad
    torch.testing.assert_close(logp, actor.log_prob(actor.distribution(obs), actions), atol=1e-5, rtol=1e-5)
    mean, std = actor(obs[:1])[0].detach(), actor.log_std.exp().detach()
    se = std / math.sqrt(50000)
    assert torch.all((actions.mean(0) - mean).abs() < 4 * se)
    torch.testing.assert_close(actions.std(0), std, rtol=0.02, atol=0)
    det, logp_det = actor.act(obs[:2], deterministic=True)
    torch.testing.assert_close(det, actor(obs[:2]).detach())
    torch.testing.assert_close(logp_det, actor.log_prob(actor.distribution(obs[:2]), det).detach())


# ------------------------------------------------------------------ critic and factory
def test_critic_outputs_one_value_per_observation():
    critic = Critic(4, hidden=(8, 8))
    v = critic(torch.randn(9, 4))
    assert v.shape == (9,)
    assert critic(torch.randn(1, 4)).shape == (1,)


def test_make_actor_picks_the_actor_for_the_spaces():
    obs = spaces.Box(-1, 1, (4,), dtype=np.float32)
    cat = make_actor(obs, spaces.Discrete(5), hidden=(8,))
    assert isinstance(cat, CategoricalActor) and cat.n_actions == 5
    assert [m.out_features for m in _linears(cat)] == [8, 5]
    gauss = make_actor(obs, spaces.Box(-2, 2, (3,), dtype=np.float32), log_std_init=-1.0)
    assert isinstance(gauss, GaussianActor) and gauss.act_dim == 3
    torch.testing.assert_close(gauss.log_std.detach(), torch.full((3,), -1.0))
    with pytest.raises(ValueError, match="MultiDiscrete"):
        make_actor(obs, spaces.MultiDiscrete([2, 2]))
