"""Returns and advantage estimates: Monte Carlo, TD targets and errors, n-step returns and GAE(lambda).

Conventions (see course_lib/README.md, "Contracts"):

* Time-major: every input is ``(T, N)`` (T rollout steps, N parallel envs) or ``(T,)`` for a single env;
  the output has the same shape.
* ``terminated`` and ``truncated`` are float flags (0.0/1.0; bool tensors are accepted and converted);
  ``done = max(terminated, truncated)``.
* ``next_values[t] = V(s_{t+1})``, the value of the observation that step ``t`` returned. On a truncated step
  that is V(final obs); build it from a rollout with :func:`next_values_from_rollout`.
* ``terminated`` means the task really ended: what follows is worth 0, never bootstrap.
  ``truncated`` means a time limit cut the episode: the state still has value, bootstrap from V(final obs).
  Either way, the return of one episode never leaks into the previous one.
* The returned returns and advantages carry no gradient (inputs are detached): regression targets and
  advantage weights must be constants. :func:`td_errors` alone stays differentiable, so it can also serve in a
  critic loss.

Rewards and values must be finite and flags 0/1 (ValueError naming the input otherwise: a NaN would silently
spread backwards through every return). Inputs may be torch tensors or anything ``torch.as_tensor`` accepts; outputs are tensors with the dtype and
device of ``rewards`` (float32 if ``rewards`` is an integer type).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch

from course_lib.validation import (
    check_all_finite,
    check_flags,
    check_positive_int,
    check_same_shape,
    check_time_major,
    check_unit_interval,
)

__all__ = [
    "AdvantageEstimate",
    "discounted_returns",
    "td_target",
    "td_errors",
    "n_step_returns",
    "gae",
    "next_values_from_rollout",
]


class AdvantageEstimate(NamedTuple):
    """Result of :func:`gae` and :func:`n_step_returns`; both fields have the inputs' shape ``(T, N)`` or ``(T,)``.

    Attributes:
        advantages: A_t, the weight of log pi(a_t|s_t) in the policy loss.
        returns: R_t = A_t + V(s_t), the regression target of the critic.
    """

    advantages: torch.Tensor
    returns: torch.Tensor


def _as_rewards(rewards: Any) -> torch.Tensor:
    """``rewards`` as a floating tensor of shape (T, N) or (T,); raises ValueError otherwise."""
    r = torch.as_tensor(rewards)
    if not torch.is_floating_point(r):
        r = r.to(torch.get_default_dtype())
    check_time_major("rewards", r)
    check_all_finite("rewards", r)
    return r


def _like(name: str, x: Any, ref: torch.Tensor, ref_name: str = "rewards") -> torch.Tensor:
    """``x`` converted to ``ref``'s dtype and device (bool flags become 0.0/1.0), with ``ref``'s exact shape.

    Flags (``terminated``, ``truncated``) must be 0/1; everything else finite.
    """
    t = torch.as_tensor(x, device=ref.device)
    if name in ("terminated", "truncated"):
        check_flags(name, t)
    t = t.to(ref.dtype)
    check_same_shape(name, t, ref_name, ref)
    if name not in ("terminated", "truncated"):
        check_all_finite(name, t)
    return t


def discounted_returns(
    rewards: Any,
    terminated: Any,
    truncated: Any,
    gamma: float,
    next_values: Any | None = None,
) -> torch.Tensor:
    """Monte Carlo discounted returns, computed backwards in time and cut at episode ends.

    Within an episode ``G_t = r_t + gamma * G_{t+1}``. At an episode end:

    * terminated step: ``G_t = r_t`` (nothing follows);
    * truncated step: ``G_t = r_t + gamma * next_values[t]`` if ``next_values`` is given (bootstrap from
      V(final obs)), else ``G_t = r_t`` (the plain, un-bootstrapped return of the episode piece);
    * last step of the batch, episode still running: ``G_{T-1} = r_{T-1} + gamma * next_values[T-1]`` if
      ``next_values`` is given, else ``r_{T-1}``.

    With ``next_values`` this equals ``gae(..., lam=1).returns`` whenever ``next_values`` comes from
    :func:`next_values_from_rollout` (then V(s_{t+1}) cancels inside episodes).

    Args:
        rewards: r_t, shape (T, N) or (T,).
        terminated: float flags, same shape.
        truncated: float flags, same shape.
        gamma: discount in [0, 1].
        next_values: V(s_{t+1}), same shape, or None for no bootstrapping at all.
    Returns:
        G_t, same shape as ``rewards``, detached.
    Raises:
        ValueError: gamma outside [0, 1]; inputs not (T, N)/(T,); shapes that differ.
    """
    gamma = check_unit_interval("gamma", gamma)
    r = _as_rewards(rewards).detach()
    term = _like("terminated", terminated, r)
    trunc = _like("truncated", truncated, r)
    if next_values is None:
        v_next = torch.zeros_like(r)
    else:
        v_next = _like("next_values", next_values, r).detach()

    returns = torch.empty_like(r)
    # G_T: what the batch's last step bootstraps from (0 without next_values)
    future = v_next[-1]
    for t in reversed(range(r.shape[0])):
        # continuation after step t: V(final obs) if truncated, G_{t+1} otherwise ...
        cont = trunc[t] * v_next[t] + (1.0 - trunc[t]) * future
        # ... and nothing at all if terminated:  G_t = r_t + gamma * (1 - terminated_t) * cont
        future = r[t] + gamma * (1.0 - term[t]) * cont
        returns[t] = future
    return returns


def td_target(reward: Any, gamma: float, next_value: Any, terminated: Any) -> Any:
    """One-step TD target ``y = r + gamma * (1 - terminated) * V(s')``, bootstrapped unless the task really ended.

    The one formula behind :func:`td_errors`, tabular Q-learning/SARSA and DQN's targets. Elementwise on Python
    floats, numpy arrays and torch tensors, unchecked (it runs once per step in tabular loops):

    Args:
        reward: ``r``, scalar or shape ``(B,)`` (or ``(T, N)``).
        gamma: discount factor in [0, 1].
        next_value: value of the next state, ``V(s')``, ``max_a' Q(s', a')`` or ``Q(s', a')``, same shape.
        terminated: ``1.0`` where the task ended (no bootstrap), ``0.0`` otherwise; a truncated step has
            ``terminated = 0`` and is bootstrapped. Bools are accepted for Python/numpy inputs; torch
            flags must be float tensors.
    Returns:
        ``y``, same shape as ``reward``.
    """
    # y = r + gamma * (1 - terminated) * V(s')
    return reward + gamma * (1.0 - terminated) * next_value


def td_errors(
    rewards: Any,
    values: Any,
    next_values: Any,
    terminated: Any,
    gamma: float,
) -> torch.Tensor:
    """One-step temporal-difference errors ``delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)``.

    Only ``terminated`` matters here: on a truncated step ``next_values[t]`` is V(final obs), a valid bootstrap.
    This function is differentiable (nothing is detached): detach ``next_values`` yourself for a semi-gradient
    critic loss, and the whole result before using it as an advantage.

    Args:
        rewards: r_t, shape (T, N) or (T,).
        values: V(s_t), same shape.
        next_values: V(s_{t+1}), same shape.
        terminated: float flags, same shape.
        gamma: discount in [0, 1].
    Returns:
        delta_t, same shape.
    Raises:
        ValueError: gamma outside [0, 1]; inputs not (T, N)/(T,); shapes that differ; a non-finite reward or
            value; a flag that is not 0/1.
    """
    gamma = check_unit_interval("gamma", gamma)
    r = _as_rewards(rewards)
    v = _like("values", values, r)
    v_next = _like("next_values", next_values, r)
    term = _like("terminated", terminated, r)
    # delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t) = y_t - V(s_t)
    return td_target(r, gamma, v_next, term) - v


def n_step_returns(
    rewards: Any,
    values: Any,
    next_values: Any,
    terminated: Any,
    truncated: Any,
    gamma: float,
    n: int,
) -> AdvantageEstimate:
    """n-step bootstrapped returns and the matching advantages.

    ``G_t^(n) = r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1} + gamma^k V(s_{t+k})`` with ``k = n``, or
    fewer steps when the episode (or the batch) ends first: a terminated step adds no bootstrap, a truncated
    step and the last step of the window (or of the batch) bootstrap from their ``next_values``.

    Computed as n applications of the one-step backup, vectorised over T and N:

        G^(1)_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1})
        G^(m)_t = r_t + gamma * (1 - terminated_t) * [truncated_t * V(s_{t+1}) + (1 - truncated_t) * G^(m-1)_{t+1}]

    with ``G^(m-1)_T = next_values[T-1]``. For ``n = 1`` this is the TD target; for ``n >= T`` it equals
    :func:`discounted_returns` with ``next_values`` (the bootstrapped Monte Carlo return).

    Args:
        rewards: r_t, shape (T, N) or (T,).
        values: V(s_t), same shape (used for the advantages only).
        next_values: V(s_{t+1}), same shape.
        terminated: float flags, same shape.
        truncated: float flags, same shape.
        gamma: discount in [0, 1].
        n: number of reward steps before bootstrapping, an integer >= 1.
    Returns:
        AdvantageEstimate(advantages = G^(n) - V, returns = G^(n)), each of the inputs' shape, detached.
    Raises:
        ValueError: gamma outside [0, 1]; n not an integer >= 1; inputs not (T, N)/(T,); shapes that differ.
    """
    gamma = check_unit_interval("gamma", gamma)
    n = check_positive_int("n", n)
    r = _as_rewards(rewards).detach()
    v = _like("values", values, r).detach()
    v_next = _like("next_values", next_values, r).detach()
    term = _like("terminated", terminated, r)
    trunc = _like("truncated", truncated, r)

    # G^(1)_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1})
    ret = r + gamma * (1.0 - term) * v_next
    # after T backups every window already reaches the end of the batch: more would change nothing
    for _ in range(min(n, r.shape[0]) - 1):
        # G^(m-1)_{t+1}, with the batch's final bootstrap V(s_T) = next_values[T-1] past the end
        shifted = torch.cat([ret[1:], v_next[-1:]])
        # G^(m)_t = r_t + gamma (1 - term_t) [trunc_t V(s_{t+1}) + (1 - trunc_t) G^(m-1)_{t+1}]
        ret = r + gamma * (1.0 - term) * (trunc * v_next + (1.0 - trunc) * shifted)
    return AdvantageEstimate(advantages=ret - v, returns=ret)


def gae(
    rewards: Any,
    values: Any,
    next_values: Any,
    terminated: Any,
    truncated: Any,
    gamma: float,
    lam: float,
) -> AdvantageEstimate:
    """Generalised advantage estimation, GAE(gamma, lambda) (Schulman et al. 2016), with both end flags.

        delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},   A_T = 0,   done_t = max(terminated_t, truncated_t)
        R_t     = A_t + V(s_t)

    ``lam = 0`` gives the TD errors (low variance, biased by the critic); ``lam = 1`` gives Monte Carlo
    advantages bootstrapped only at truncations and at the end of the batch (high variance). At ``lam = 1`` the
    critic adds no bias only where it acts as a pure baseline, i.e. for steps whose episode terminates inside
    the batch. Where the return is bootstrapped (a truncated step, or an episode still running at the batch end,
    k steps ahead), ``A_t`` contains ``gamma**k * V(s_{t+k})``, so the critic's error there, discounted by
    ``gamma**k``, stays in the advantage; the smaller k, the larger that bias.

    Args:
        rewards: r_t, shape (T, N) or (T,).
        values: V(s_t), same shape.
        next_values: V(s_{t+1}), same shape (see :func:`next_values_from_rollout`).
        terminated: float flags, same shape.
        truncated: float flags, same shape.
        gamma: discount in [0, 1].
        lam: GAE lambda in [0, 1].
    Returns:
        AdvantageEstimate(advantages=A, returns=A + V), each of the inputs' shape, detached.
    Raises:
        ValueError: gamma or lam outside [0, 1]; inputs not (T, N)/(T,); shapes that differ.
    """
    gamma = check_unit_interval("gamma", gamma)
    lam = check_unit_interval("lam", lam)
    r = _as_rewards(rewards).detach()
    v = _like("values", values, r).detach()
    v_next = _like("next_values", next_values, r).detach()
    term = _like("terminated", terminated, r)
    trunc = _like("truncated", truncated, r)

    delta = td_errors(r, v, v_next, term, gamma)
    # done_t = max(terminated_t, truncated_t): the advantage never flows back across an episode end
    not_done = 1.0 - torch.maximum(term, trunc)

    adv = torch.empty_like(r)
    next_adv = torch.zeros_like(r[0])  # A_T = 0, shape (N,) or ()
    for t in reversed(range(r.shape[0])):
        # A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
        next_adv = delta[t] + gamma * lam * not_done[t] * next_adv
        adv[t] = next_adv
    # R_t = A_t + V(s_t)
    return AdvantageEstimate(advantages=adv, returns=adv + v)


def next_values_from_rollout(values: Any, last_values: Any) -> torch.Tensor:
    """``next_values[t] = V(s_{t+1})`` from the values a rollout stored: ``values`` shifted by one step.

    With Gymnasium's next-step autoreset the step after an episode end stores V(final obs) (see
    course_lib/README.md), so the shift gives the right bootstrap for truncated steps too.

        next_values[t] = values[t + 1]  for t < T - 1,     next_values[T - 1] = last_values

    Args:
        values: V(s_t), shape (T, N) or (T,).
        last_values: V of the observation after the last step, shape (N,) (or () / (1,) when values is (T,)).
    Returns:
        next_values, shape (T, N) or (T,) like ``values``.
    Raises:
        ValueError: ``values`` not (T, N)/(T,); ``last_values`` not of shape values.shape[1:].
    """
    v = torch.as_tensor(values)
    check_time_major("values", v)
    last = torch.as_tensor(last_values, device=v.device).to(v.dtype)
    if v.dim() == 1 and last.shape == (1,):
        last = last.reshape(())
    if tuple(last.shape) != tuple(v.shape[1:]):
        raise ValueError(
            f"last_values has shape {tuple(last.shape)} but values has shape {tuple(v.shape)}; "
            f"last_values must have shape {tuple(v.shape[1:])} (one value per env)"
        )
    # next_values = [values[1], ..., values[T-1], last_values]
    return torch.cat([v[1:], last.unsqueeze(0)])
