"""Networks: orthogonal initialisation, an MLP builder, the two actors (discrete, Gaussian) and the critic.

Shapes: ``B`` = batch, ``obs_dim`` = observation length, ``n_actions`` = number of discrete actions,
``act_dim`` = length of a continuous action.

Every actor has the same four methods, so algorithm code never asks which kind it holds:

- ``distribution(obs)`` -> a ``torch.distributions.Distribution`` over actions (for losses, with grad);
- ``log_prob(dist, actions)`` -> ``(B,)`` log pi(a|s) (the Gaussian sums over action dimensions);
- ``entropy(dist)`` -> ``(B,)``;
- ``act(obs, deterministic=False)`` -> ``(actions, logp)`` without grad, for collecting experience. It is the
  hot path of a rollout, so it skips the ``Distribution`` object and samples directly (same maths, tested
  against ``distribution``).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import gymnasium as gym
import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Normal

from course_lib.envs import check_spaces
from course_lib.validation import check_positive, check_positive_int

__all__ = [
    "layer_init",
    "mlp",
    "Actor",
    "CategoricalActor",
    "GaussianActor",
    "Critic",
    "make_actor",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def layer_init(layer: nn.Linear, std: float = math.sqrt(2.0), bias: float = 0.0) -> nn.Linear:
    """Initialise a linear layer in place: orthogonal weights scaled by ``std``, constant ``bias``.

    Orthogonal weights keep the scale of signals and gradients through the layer. With
    ``W`` of shape ``(out, in)`` and ``out <= in`` the rows are orthonormal times ``std``:
    ``W W^T = std^2 I``. The usual choice (Huang et al. 2022, "37 implementation details of PPO"):
    ``sqrt(2)`` for hidden layers, ``0.01`` for the policy's last layer (near-uniform initial policy),
    ``1.0`` for the critic's last layer.

    Args:
        layer: an ``nn.Linear``.
        std: gain of the orthogonal matrix, ``> 0``.
        bias: value every bias entry is set to.
    Returns:
        the same layer (so it can be used inline).
    """
    std = check_positive("std", std)
    nn.init.orthogonal_(layer.weight, gain=std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(
    in_dim: int,
    out_dim: int,
    hidden: Sequence[int] = (64, 64),
    activation: type[nn.Module] = nn.Tanh,
    out_std: float = 1.0,
) -> nn.Sequential:
    """A multi-layer perceptron ``in_dim -> hidden... -> out_dim`` with orthogonally initialised layers.

    Hidden layers use ``layer_init(std=sqrt(2))`` followed by ``activation()``; the last layer is linear
    with ``layer_init(std=out_std)`` and no activation. ``hidden=()`` gives a single linear layer.

    Args:
        in_dim, out_dim: input and output sizes (``>= 1``).
        hidden: sizes of the hidden layers.
        activation: the activation's class, e.g. ``nn.Tanh`` or ``nn.ReLU``.
        out_std: gain of the last layer's initialisation.
    Returns:
        ``nn.Sequential`` mapping ``(B, in_dim) -> (B, out_dim)``.
    """
    sizes = [check_positive_int("in_dim", in_dim)]
    sizes += [check_positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden)]
    out_dim = check_positive_int("out_dim", out_dim)
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [layer_init(nn.Linear(a, b)), activation()]
    layers.append(layer_init(nn.Linear(sizes[-1], out_dim), std=out_std))
    return nn.Sequential(*layers)


class Actor(nn.Module, ABC):
    """What every actor offers; see the module docstring. Subclasses implement all four methods."""

    @abstractmethod
    def distribution(self, obs: Tensor) -> Distribution:
        """pi(.|s) for a batch ``obs`` of shape ``(B, obs_dim)``."""

    @abstractmethod
    def log_prob(self, dist: Distribution, actions: Tensor) -> Tensor:
        """log pi(a|s), shape ``(B,)``."""

    @abstractmethod
    def entropy(self, dist: Distribution) -> Tensor:
        """H(pi(.|s)), shape ``(B,)``."""

    @abstractmethod
    def act(self, obs: Tensor, deterministic: bool = False) -> tuple[Tensor, Tensor]:
        """Sample (or pick the most likely) actions without grad; returns ``(actions, logp)``."""


class CategoricalActor(Actor):
    """A policy over ``n_actions`` discrete actions: an MLP that outputs logits.

    ``pi(a|s) = softmax(logits(s))_a``. The distribution is built from logits
    (``Categorical(logits=...)``), which uses log-softmax and stays finite where ``softmax`` then ``log``
    would underflow. The last layer is initialised with std 0.01, so the initial policy is near uniform.

    Args:
        obs_dim: observation length.
        n_actions: number of actions (``>= 1``).
        hidden: hidden layer sizes.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.n_actions = check_positive_int("n_actions", n_actions)
        self.net = mlp(obs_dim, n_actions, hidden, out_std=0.01)

    def forward(self, obs: Tensor) -> Tensor:
        """Logits, ``(B, obs_dim) -> (B, n_actions)``."""
        return self.net(obs)

    def distribution(self, obs: Tensor) -> Categorical:
        """``Categorical(logits=logits(obs))`` with batch shape ``(B,)``."""
        return Categorical(logits=self.net(obs), validate_args=False)

    def log_prob(self, dist: Distribution, actions: Tensor) -> Tensor:
        """log pi(a|s) = log_softmax(logits)_a; ``actions`` ``(B,)`` of action indices (any dtype) -> ``(B,)``."""
        return dist.log_prob(actions.long())

    def entropy(self, dist: Distribution) -> Tensor:
        """H = -sum_a pi(a|s) log pi(a|s), shape ``(B,)``."""
        return dist.entropy()

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> tuple[Tensor, Tensor]:
        """Actions and their log-probabilities without grad.

        Args:
            obs: ``(B, obs_dim)``.
            deterministic: take ``argmax_a pi(a|s)`` instead of sampling.
        Returns:
            ``actions`` ``(B,)`` int64 and ``logp`` ``(B,)``.
        """
        # log pi(.|s) = logits - logsumexp(logits)
        log_pi = torch.log_softmax(self.net(obs), dim=-1)
        if deterministic:
            actions = log_pi.argmax(dim=-1, keepdim=True)
        else:
            # a ~ pi(.|s), the same call Categorical.sample makes
            actions = torch.multinomial(log_pi.exp(), 1, True)
        logp = log_pi.gather(-1, actions)
        return actions.squeeze(-1), logp.squeeze(-1)


class GaussianActor(Actor):
    """A policy over continuous actions: ``a ~ Normal(mu(s), diag(sigma^2))``.

    The mean ``mu(s)`` comes from an MLP (last layer std 0.01: initial means near 0); the log standard
    deviation is one learned parameter per action dimension that does not depend on the state
    (``log_std``, initialised to ``log_std_init``), as in the PPO paper's continuous-control experiments.
    Sampled actions are *not* squashed or clipped here: the rollout clips them only on their way to the
    environment and stores the sample itself, so ``log_prob`` stays the density of what was sampled.

    Args:
        obs_dim: observation length.
        act_dim: action length.
        hidden: hidden layer sizes.
        log_std_init: initial value of every ``log_std`` entry (0.0 means sigma = 1).
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64), log_std_init: float = 0.0
    ) -> None:
        super().__init__()
        self.act_dim = check_positive_int("act_dim", act_dim)
        self.net = mlp(obs_dim, act_dim, hidden, out_std=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    def forward(self, obs: Tensor) -> Tensor:
        """Mean action, ``(B, obs_dim) -> (B, act_dim)``."""
        return self.net(obs)

    def distribution(self, obs: Tensor) -> Normal:
        """``Normal(mu(obs), exp(log_std))`` with batch shape ``(B, act_dim)`` (independent dimensions)."""
        mean = self.net(obs)
        return Normal(mean, self.log_std.exp().expand_as(mean), validate_args=False)

    def log_prob(self, dist: Distribution, actions: Tensor) -> Tensor:
        """log pi(a|s) = sum_j log N(a_j; mu_j, sigma_j^2); ``actions`` ``(B, act_dim)`` -> ``(B,)``."""
        return dist.log_prob(actions).sum(dim=-1)

    def entropy(self, dist: Distribution) -> Tensor:
        """H = sum_j (1/2 + log(sqrt(2 pi)) + log sigma_j), shape ``(B,)``."""
        return dist.entropy().sum(dim=-1)

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> tuple[Tensor, Tensor]:
        """Actions and their log-densities without grad.

        Args:
            obs: ``(B, obs_dim)``.
            deterministic: return the mean ``mu(s)`` instead of a sample.
        Returns:
            ``actions`` ``(B, act_dim)`` (unclipped) and ``logp`` ``(B,)``.
        """
        mean = self.net(obs)
        std = self.log_std.exp()
        if deterministic:
            noise = torch.zeros_like(mean)
        else:
            noise = torch.randn_like(mean)
        # a = mu + sigma * eps,  eps ~ N(0, I)
        actions = mean + std * noise
        # log pi(a|s) = sum_j [ -eps_j^2 / 2 - log sigma_j - log sqrt(2 pi) ]
        logp = (-0.5 * noise.square() - self.log_std - _LOG_SQRT_2PI).sum(dim=-1)
        return actions, logp


class Critic(nn.Module):
    """State-value function ``V(s)``: an MLP with one output (last layer std 1.0).

    Args:
        obs_dim: observation length.
        hidden: hidden layer sizes.
    """

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.net = mlp(obs_dim, 1, hidden, out_std=1.0)

    def forward(self, obs: Tensor) -> Tensor:
        """Values, ``(B, obs_dim) -> (B,)``."""
        return self.net(obs).squeeze(-1)


def make_actor(
    obs_space: gym.Space,
    act_space: gym.Space,
    hidden: Sequence[int] = (64, 64),
    log_std_init: float = 0.0,
) -> CategoricalActor | GaussianActor:
    """The actor that fits the spaces: ``CategoricalActor`` for ``Discrete``, ``GaussianActor`` for ``Box``.

    For a vector env pass ``envs.single_observation_space`` and ``envs.single_action_space``.

    Args:
        obs_space: a 1-D ``Box``.
        act_space: ``Discrete(n)`` or a 1-D ``Box``.
        hidden: hidden layer sizes.
        log_std_init: initial log standard deviation (Gaussian actor only).
    Raises:
        ValueError: for unsupported spaces (see ``course_lib.envs.check_spaces``).
    """
    info = check_spaces(obs_space, act_space)
    if info.discrete:
        return CategoricalActor(info.obs_dim, info.act_dim, hidden)
    return GaussianActor(info.obs_dim, info.act_dim, hidden, log_std_init)
