"""The actor-critic agent: actor + critic (optionally on a shared trunk) + observation normaliser.

One object holds everything a trained on-policy agent needs, so it can be saved, loaded and evaluated as a
unit: the networks *and* the running observation statistics (an agent trained on normalised observations is
useless without them).

    features = trunk(normalise(obs))          trunk = identity unless shared_network
    pi(.|s)  = actor(features)                V(s) = critic(features)

With ``shared_network=False`` (the default, and what Huang et al. 2022 found better for continuous control)
actor and critic are two separate MLPs on the observation. With ``shared_network=True`` they are one linear
head each on top of a shared MLP trunk, so the policy and value losses shape the same features.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from course_lib.envs import check_spaces
from course_lib.networks import CategoricalActor, Critic, GaussianActor, layer_init
from course_lib.normalisation import ObsNormaliser

__all__ = ["AgentSpec", "ActorCriticAgent"]


@dataclass(frozen=True)
class AgentSpec:
    """Everything needed to rebuild an agent's architecture (saved next to its weights).

    Attributes:
        obs_dim: observation length.
        act_dim: number of discrete actions, or length of a continuous action.
        discrete: True for a ``Discrete`` action space, False for a 1-D ``Box``.
        action_low, action_high: the Box bounds (``act_dim`` floats each) that ``act`` clips to; None if discrete.
        hidden: hidden layer sizes (of each network, or of the shared trunk).
        shared_network: one trunk for actor and critic (True) or two separate networks (False).
        ortho_init: orthogonal initialisation (True) or PyTorch's default initialisation (False).
        log_std_init: initial log standard deviation of a Gaussian actor.
        norm_obs: keep running observation statistics and feed the networks normalised observations.
    """

    obs_dim: int
    act_dim: int
    discrete: bool
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    hidden: tuple[int, ...] = (64, 64)
    shared_network: bool = False
    ortho_init: bool = True
    log_std_init: float = 0.0
    norm_obs: bool = False

    @classmethod
    def from_spaces(cls, obs_space: gym.Space, act_space: gym.Space, **kwargs: Any) -> AgentSpec:
        """The spec for these spaces (pass a vector env's ``single_*_space``); ``kwargs`` set the other fields."""
        info = check_spaces(obs_space, act_space)
        low = high = None
        if not info.discrete:
            low = tuple(float(x) for x in act_space.low)
            high = tuple(float(x) for x in act_space.high)
        return cls(info.obs_dim, info.act_dim, info.discrete, low, high, **kwargs)


class ActorCriticAgent(nn.Module):
    """Actor, critic and observation normaliser in one module (see the module docstring for the layout).

    Args:
        spec: the architecture (``AgentSpec.from_spaces(env.observation_space, env.action_space, ...)``).

    Attributes:
        trunk: ``nn.Identity`` or the shared MLP body, ``(B, obs_dim) -> (B, feat_dim)``.
        actor: a ``CategoricalActor`` or ``GaussianActor`` on the features.
        critic: a ``Critic`` on the features, ``(B, feat_dim) -> (B,)``.
        obs_normaliser: an ``ObsNormaliser`` or None.
    """

    def __init__(self, spec: AgentSpec) -> None:
        super().__init__()
        self.spec = spec
        hidden = tuple(spec.hidden)
        if spec.shared_network:
            if not hidden:
                raise ValueError("hidden must name at least one layer when shared_network=True; got ()")
            # shared body: obs -> hidden[0] -> ... -> hidden[-1], tanh after every layer
            layers: list[nn.Module] = []
            for a, b in zip((spec.obs_dim,) + hidden[:-1], hidden):
                layers += [layer_init(nn.Linear(a, b)), nn.Tanh()]
            self.trunk: nn.Module = nn.Sequential(*layers)
            feat_dim, head_hidden = hidden[-1], ()
        else:
            self.trunk = nn.Identity()
            feat_dim, head_hidden = spec.obs_dim, hidden
        if spec.discrete:
            self.actor: CategoricalActor | GaussianActor = CategoricalActor(feat_dim, spec.act_dim, head_hidden)
        else:
            self.actor = GaussianActor(feat_dim, spec.act_dim, head_hidden, spec.log_std_init)
        self.critic = Critic(feat_dim, head_hidden)
        if not spec.ortho_init:
            # PyTorch's default (Kaiming-uniform) initialisation, for the ablation of orthogonal init
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    m.reset_parameters()
        self.obs_normaliser = ObsNormaliser(spec.obs_dim) if spec.norm_obs else None
        if not spec.discrete:
            self.register_buffer("action_low", torch.tensor(spec.action_low, dtype=torch.float32))
            self.register_buffer("action_high", torch.tensor(spec.action_high, dtype=torch.float32))

    # -- the pieces the algorithms use (obs are already normalised: they come from the rollout) ----------------

    def distribution(self, obs: Tensor) -> Distribution:
        """pi(.|s) for normalised ``obs`` ``(B, obs_dim)``, with gradient."""
        return self.actor.distribution(self.trunk(obs))

    def value(self, obs: Tensor) -> Tensor:
        """V(s) for normalised ``obs`` ``(B, obs_dim)`` -> ``(B,)``, with gradient."""
        return self.critic(self.trunk(obs))

    def distribution_and_value(self, obs: Tensor) -> tuple[Distribution, Tensor]:
        """pi(.|s) and V(s) from one trunk pass, ``obs`` ``(B, obs_dim)`` -> (distribution, ``(B,)``)."""
        feat = self.trunk(obs)
        return self.actor.distribution(feat), self.critic(feat)

    @torch.no_grad()
    def policy_step(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The rollout's policy function: normalised ``obs`` ``(N, obs_dim)`` -> (actions, logp ``(N,)``, V ``(N,)``).

        Actions are sampled and unclipped: ``(N,)`` int64 or ``(N, act_dim)``.
        """
        feat = self.trunk(obs)
        actions, logp = self.actor.act(feat)
        return actions, logp, self.critic(feat)

    # -- acting in an environment (raw observations in, env actions out) ------------------------------------------

    def normalise(self, obs: Tensor) -> Tensor:
        """Normalise raw ``obs`` ``(N, obs_dim)`` with the current statistics, without updating them."""
        if self.obs_normaliser is None:
            return obs
        return self.obs_normaliser(obs, update=False)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for raw observations: ``obs`` ``(N, obs_dim)`` -> ``(N,)`` ints or ``(N, act_dim)`` floats.

        The observation statistics are frozen here (evaluation never changes the agent). ``deterministic``:
        the most likely action (discrete) or the mean (continuous) instead of a sample. Continuous actions are
        clipped to the action bounds, as the environment would.
        """
        obs_t = self.normalise(torch.as_tensor(np.asarray(obs), dtype=torch.float32))
        actions, _ = self.actor.act(self.trunk(obs_t), deterministic=deterministic)
        if not self.spec.discrete:
            actions = torch.clamp(actions, self.action_low, self.action_high)
        return actions.numpy()

    # -- save / load ----------------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the spec, the weights and the observation statistics to ``path`` (a torch file)."""
        obs_stats = None if self.obs_normaliser is None else self.obs_normaliser.state_dict()
        torch.save({"spec": asdict(self.spec), "state_dict": self.state_dict(), "obs_normaliser": obs_stats}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ActorCriticAgent:
        """Rebuild an agent written by ``save``; its observation statistics are frozen (ready to evaluate)."""
        try:
            blob = torch.load(path, weights_only=True)
        except Exception as err:  # torch raises many kinds (UnpicklingError, RuntimeError, EOFError...)
            raise ValueError(f"path must be a file written by ActorCriticAgent.save; {str(path)!r:.80} could not "
                             f"be read as one ({type(err).__name__})") from None
        if not isinstance(blob, dict) or not {"spec", "state_dict", "obs_normaliser"} <= set(blob):
            raise ValueError(f"path must be a file written by ActorCriticAgent.save; {str(path)!r:.80} holds "
                             f"a {type(blob).__name__} without the keys 'spec', 'state_dict', 'obs_normaliser'")
        spec_d = dict(blob["spec"])
        for key in ("hidden", "action_low", "action_high"):
            if spec_d[key] is not None:
                spec_d[key] = tuple(spec_d[key])
        agent = cls(AgentSpec(**spec_d))
        agent.load_state_dict(blob["state_dict"])
        if agent.obs_normaliser is not None:
            agent.obs_normaliser.load_state_dict(blob["obs_normaliser"])
            agent.obs_normaliser.freeze()
        return agent
