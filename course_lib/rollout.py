"""Fixed-length, time-major experience collection from a vector env with next-step autoreset.

``RolloutCollector.collect()`` steps ``N`` environments ``T`` times and returns a ``Rollout``: torch tensors
of shape ``(T, N, ...)``. The rules it follows (``course_lib/README.md``, "Contracts"):

- Gymnasium 1.x vector envs reset an ended sub-env on the *next* ``step()``: that step ignores the action
  and returns ``(reset_obs, 0, False, False)``. The collector stores it with ``valid = False``. Its stored
  observation is the ended episode's final observation, so its stored value is ``V(final obs)``: the
  bootstrap a truncated step needs, found by shifting ``values`` one step (``Rollout.next_values``).
- The ``prev_done`` mask lives in the collector, not in one rollout: an episode that ends on the last step
  of one rollout makes ``t = 0`` of the next rollout invalid.
- Continuous actions are stored exactly as sampled (``log_prob`` is the density of the sample) and only
  clipped to the action bounds on their way to the environment.
- ``episode_returns`` / ``episode_lengths`` count raw rewards of valid steps, before any reward scaling.
- A non-finite reward from the environment raises ValueError naming the environment at once.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from torch import Tensor

from course_lib.advantages import next_values_from_rollout
from course_lib.envs import check_next_step_autoreset, check_spaces
from course_lib.networks import Actor
from course_lib.validation import check_positive_int, check_same_shape

__all__ = [
    "PolicyFn",
    "Rollout",
    "FlatBatch",
    "RolloutCollector",
    "actor_critic_step",
]

PolicyFn = Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]
"""``obs (N, obs_dim) -> (actions (N,) or (N, act_dim), logp (N,), values (N,))``, called without grad."""


class ObsTransform(Protocol):
    """What the collector needs from an observation normaliser, e.g. ``normalisation.ObsNormaliser``."""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Normalise a batch ``(N, obs_dim) -> (N, obs_dim)`` (updating running statistics unless frozen)."""
        ...


class RewardTransform(Protocol):
    """What the collector needs from a reward scaler, e.g. ``normalisation.RewardScaler``: one call per step."""

    def __call__(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                 valid: np.ndarray) -> np.ndarray:
        """Scale one step's rewards ``(N,)`` float32; flags and ``valid`` are bool ``(N,)`` (autoreset steps
        have ``valid = False`` and stay out of the statistics)."""
        ...


def actor_critic_step(actor: Actor, critic: Callable[[Tensor], Tensor]) -> PolicyFn:
    """Combine a separate actor and critic into the one ``PolicyFn`` the collector takes.

    Returns:
        ``obs (N, obs_dim) -> (actions, logp, values)`` using ``actor.act(obs)`` and ``critic(obs)``.
    """

    @torch.no_grad()
    def step(obs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        actions, logp = actor.act(obs)
        return actions, logp, critic(obs)

    return step


@dataclass
class FlatBatch:
    """The valid steps of a rollout, flattened to one batch dimension ``B`` (``B = rollout.num_valid``).

    Attributes:
        obs: ``(B, obs_dim)``.
        actions: ``(B,)`` int64 (discrete) or ``(B, act_dim)`` (continuous, unclipped).
        logp_old: ``(B,)`` log pi_old(a|s) at collection time.
        values: ``(B,)`` V_old(s) at collection time.
        adv: ``(B,)`` advantages, if given to ``Rollout.flat``.
        ret: ``(B,)`` value targets, if given to ``Rollout.flat``.
    """

    obs: Tensor
    actions: Tensor
    logp_old: Tensor
    values: Tensor
    adv: Tensor | None = None
    ret: Tensor | None = None

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    def select(self, idx: Tensor) -> FlatBatch:
        """A minibatch: every field indexed by ``idx`` (a ``(b,)`` index tensor or a boolean mask)."""
        return FlatBatch(
            obs=self.obs[idx],
            actions=self.actions[idx],
            logp_old=self.logp_old[idx],
            values=self.values[idx],
            adv=None if self.adv is None else self.adv[idx],
            ret=None if self.ret is None else self.ret[idx],
        )


@dataclass
class Rollout:
    """``T`` steps of ``N`` environments, time-major. Flags are float 0.0/1.0; ``valid`` is bool.

    Attributes:
        obs: ``(T, N, obs_dim)`` observations the policy saw (normalised if a normaliser was used).
        actions: ``(T, N)`` int64 or ``(T, N, act_dim)`` float, as sampled (never clipped).
        logp: ``(T, N)`` log pi(a_t|s_t) of the sampled actions.
        values: ``(T, N)`` V(s_t); on an invalid step this is V(final obs of the episode that just ended).
        rewards: ``(T, N)`` rewards as the learner should see them (scaled if a reward scaler was used).
        terminated: ``(T, N)`` 1.0 where the episode really ended on that step.
        truncated: ``(T, N)`` 1.0 where a time limit cut the episode on that step.
        valid: ``(T, N)`` False on the autoreset step after an episode end (its action was ignored).
        last_obs: ``(N, obs_dim)`` the observation after the last step.
        last_values: ``(N,)`` V(last_obs).
        episode_returns: raw (unscaled) return of every episode that ended during this rollout.
        episode_lengths: number of (valid) steps of those episodes.
        episode_env_steps: the collector's ``total_steps`` counter when each of them ended.
    """

    obs: Tensor
    actions: Tensor
    logp: Tensor
    values: Tensor
    rewards: Tensor
    terminated: Tensor
    truncated: Tensor
    valid: Tensor
    last_obs: Tensor
    last_values: Tensor
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    episode_env_steps: list[int] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        """``T``."""
        return int(self.rewards.shape[0])

    @property
    def num_envs(self) -> int:
        """``N``."""
        return int(self.rewards.shape[1])

    @property
    def num_valid(self) -> int:
        """Number of valid steps (what losses and statistics average over)."""
        return int(self.valid.sum())

    @property
    def dones(self) -> Tensor:
        """``(T, N)`` done_t = max(terminated_t, truncated_t)."""
        return torch.maximum(self.terminated, self.truncated)

    def next_values(self) -> Tensor:
        """``(T, N)`` V(s_{t+1}): ``values`` shifted by one step, ``last_values`` appended.

        Correct at truncations too: the step after an episode end stored V(final obs).
        """
        return next_values_from_rollout(self.values, self.last_values)

    def flatten_valid(self, x: Tensor) -> Tensor:
        """Keep the valid steps of a ``(T, N, ...)`` tensor: returns ``(num_valid, ...)`` in time-major order."""
        if tuple(x.shape[:2]) != tuple(self.valid.shape):
            raise ValueError(
                f"x has shape {tuple(x.shape)}; its first two dimensions must be (T, N) = {tuple(self.valid.shape)}"
            )
        return x[self.valid]

    def flat(self, adv: Tensor | None = None, ret: Tensor | None = None) -> FlatBatch:
        """The valid steps as one flat batch, e.g. ``rollout.flat(*advantages_and_returns(rollout, config))``.

        Args:
            adv: optional ``(T, N)`` advantages.
            ret: optional ``(T, N)`` value targets.
        Returns:
            ``FlatBatch`` whose fields have first dimension ``B = num_valid``.
        """
        if adv is not None:
            check_same_shape("adv", adv, "rollout.rewards", self.rewards)
        if ret is not None:
            check_same_shape("ret", ret, "rollout.rewards", self.rewards)
        return FlatBatch(
            obs=self.obs[self.valid],
            actions=self.actions[self.valid],
            logp_old=self.logp[self.valid],
            values=self.values[self.valid],
            adv=None if adv is None else adv[self.valid],
            ret=None if ret is None else ret[self.valid],
        )


class RolloutCollector:
    """Collects fixed-length rollouts from a vector env, carrying episodes over from one call to the next.

    Args:
        envs: a vector env with next-step autoreset (e.g. from ``make_vec_env``), a 1-D ``Box`` observation
            space and a ``Discrete`` or 1-D ``Box`` action space. It is reset once here (without a seed: a
            seeded env continues its seeded stream).
        policy: a ``PolicyFn`` ``obs (N, obs_dim) -> (actions, logp (N,), values (N,))`` called without
            grad, e.g. ``ActorCriticAgent.policy_step`` or ``actor_critic_step(actor, critic)``.
        num_steps: ``T``, steps per env per rollout.
        obs_normaliser: optional, e.g. ``ObsNormaliser((obs_dim,))``: called on every observation batch
            (numpy ``(N, obs_dim)``) the env returns, before the policy sees it; the rollout stores the
            normalised observations. Freeze it for evaluation.
        reward_scaler: optional, e.g. ``RewardScaler(gamma, N)``, called once per step as
            ``reward_scaler(rewards, terminated, truncated, valid)`` (see ``RewardTransform``) with the
            collector's own ``valid`` mask. The rollout stores the scaled rewards; ``episode_returns`` stay raw.

    Attributes:
        total_steps: environment steps taken so far, all envs counted (including autoreset steps).
        total_valid_steps: the same without the autoreset steps.
    """

    def __init__(
        self,
        envs: VectorEnv,
        policy: PolicyFn,
        num_steps: int,
        obs_normaliser: ObsTransform | None = None,
        reward_scaler: RewardTransform | None = None,
    ) -> None:
        check_next_step_autoreset(envs)
        info = check_spaces(envs.single_observation_space, envs.single_action_space)
        self.envs = envs
        self.num_envs = int(envs.num_envs)
        self.num_steps = check_positive_int("num_steps", num_steps)
        self.obs_dim = info.obs_dim
        self.discrete = info.discrete
        self.act_dim = info.act_dim
        if isinstance(policy, Actor) or not callable(policy):
            raise ValueError(
                "policy must be a function obs -> (actions, logp, values), e.g. agent.policy_step or "
                "actor_critic_step(actor, critic); "
                f"got {type(policy).__name__}"
            )
        self._step = policy
        spec = getattr(envs, "spec", None)
        self.env_id = getattr(spec, "id", None) or type(envs).__name__
        self.obs_normaliser = obs_normaliser
        self.reward_scaler = reward_scaler
        if isinstance(envs.single_action_space, spaces.Box):
            self._low = envs.single_action_space.low
            self._high = envs.single_action_space.high

        self.total_steps = 0
        self.total_valid_steps = 0
        obs, _ = envs.reset()
        self._obs = self._to_policy_obs(obs)  # (N, obs_dim), what the policy sees next
        # prev_done[i]: sub-env i ended on the previous step, so its next step is an autoreset step
        self._prev_done = np.zeros(self.num_envs, dtype=bool)
        self._ep_return = np.zeros(self.num_envs, dtype=np.float64)
        self._ep_length = np.zeros(self.num_envs, dtype=np.int64)

    def _to_policy_obs(self, obs: np.ndarray) -> Tensor:
        """Env observations ``(N, obs_dim)`` -> float32 tensor, normalised if there is a normaliser."""
        if self.obs_normaliser is not None:
            obs = self.obs_normaliser(obs)
        # a copy: a vector env made with copy=False overwrites the array it returned on its next step
        return torch.tensor(obs, dtype=torch.float32)

    @torch.no_grad()
    def _values(self, obs: Tensor) -> Tensor:
        """V(obs), ``(N,)``: the value output of the ``PolicyFn``."""
        return self._step(obs)[2]

    @torch.no_grad()
    def collect(self) -> Rollout:
        """Step every env ``num_steps`` times and return the rollout (see ``Rollout`` for the shapes)."""
        # per-step results go into lists and are stacked once at the end: cheaper than writing into
        # preallocated tensors step by step (this loop is the hot path of every on-policy algorithm)
        obs_l, act_l, logp_l, val_l = [], [], [], []
        rew_l, term_l, trunc_l, valid_l = [], [], [], []
        ep_returns: list[float] = []
        ep_lengths: list[int] = []
        ep_env_steps: list[int] = []
        N = self.num_envs

        obs = self._obs
        for _ in range(self.num_steps):
            actions, logp, values = self._step(obs)
            obs_l.append(obs)
            act_l.append(actions)
            logp_l.append(logp)
            val_l.append(values)

            env_actions = actions.numpy()
            if not self.discrete:
                # the env gets the action clipped to its bounds; the rollout keeps the sample
                env_actions = np.clip(env_actions, self._low, self._high)
            next_obs, rewards, terminated, truncated, _ = self.envs.step(env_actions)
            if not np.all(np.isfinite(rewards)):
                raise ValueError(
                    f"the environment {self.env_id} returned a non-finite reward {rewards.tolist()!r:.80} at env "
                    f"step {self.total_steps + N}; rewards must be finite numbers"
                )

            # a step right after an episode end is the autoreset step: action ignored, reward 0
            valid = ~self._prev_done
            done = terminated | truncated
            valid_l.append(valid)
            term_l.append(terminated)
            trunc_l.append(truncated)
            self.total_steps += N

            self._ep_return += rewards * valid
            self._ep_length += valid
            if done.any():
                for i in np.flatnonzero(done):
                    ep_returns.append(float(self._ep_return[i]))
                    ep_lengths.append(int(self._ep_length[i]))
                    ep_env_steps.append(self.total_steps)
                self._ep_return[done] = 0.0
                self._ep_length[done] = 0

            if self.reward_scaler is not None:
                rewards = self.reward_scaler(rewards.astype(np.float32), terminated, truncated, valid)
            rew_l.append(rewards)
            self._prev_done = done
            obs = self._to_policy_obs(next_obs)

        self._obs = obs
        valid_np = np.stack(valid_l)
        self.total_valid_steps += int(valid_np.sum())
        return Rollout(
            obs=torch.stack(obs_l),
            actions=torch.stack(act_l).to(torch.int64 if self.discrete else torch.float32),
            logp=torch.stack(logp_l).float(),
            values=torch.stack(val_l).float(),
            rewards=torch.as_tensor(np.stack(rew_l), dtype=torch.float32),
            terminated=torch.as_tensor(np.stack(term_l), dtype=torch.float32),
            truncated=torch.as_tensor(np.stack(trunc_l), dtype=torch.float32),
            valid=torch.from_numpy(valid_np),
            last_obs=obs.clone(),
            last_values=self._values(obs).float(),
            episode_returns=ep_returns,
            episode_lengths=ep_lengths,
            episode_env_steps=ep_env_steps,
        )
