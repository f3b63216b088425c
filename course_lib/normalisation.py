"""Normalisation for on-policy RL: running moments, observation normalisation, reward scaling, advantages.

* :class:`RunningMeanStd` tracks the mean and (population) variance of a stream of batches by merging moments
  (Chan, Golub and LeVeque 1979), so the result equals the moments of everything seen, in any chunking.
* :class:`ObsNormaliser` standardises observations with running moments. Its statistics are part of the trained
  agent: save them with the networks (:meth:`ObsNormaliser.state_dict`) and :meth:`~ObsNormaliser.freeze` them
  for evaluation, or the agent sees differently scaled inputs than it learned on.
* :class:`RewardScaler` divides rewards by the running std of the discounted return (never shifts them).
* :func:`normalise_advantages` centres and scales a (mini)batch of advantages.

Array types: :class:`ObsNormaliser` and :class:`RewardScaler` are built for the rollout loop, which gets numpy
arrays from the environment: numpy in, numpy out. They also accept torch tensors and then return tensors of the
same dtype and device. Statistics are kept in float64 numpy arrays; ``state_dict()`` returns float64 torch
tensors, so it can be saved with ``torch.save`` and loaded with ``torch.load(..., weights_only=True)``.
:func:`normalise_advantages` is torch in, torch out.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from course_lib.masking import masked_mean
from course_lib.validation import check_positive, check_positive_int, check_unit_interval

__all__ = ["RunningMeanStd", "ObsNormaliser", "RewardScaler", "normalise_advantages"]


def _to_numpy(x: Any) -> np.ndarray:
    """A float64 numpy copy/view of a numpy array, torch tensor or nested list."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _like_input(out: np.ndarray, original: Any) -> Any:
    """``out`` (float64 numpy) converted back to the kind of array ``original`` was.

    torch tensor -> tensor with its dtype (float32 for integer inputs) and device; numpy float array -> same
    float dtype; anything else (ints, lists) -> float32 numpy, the dtype gymnasium uses for observations.
    """
    if isinstance(original, torch.Tensor):
        dtype = original.dtype if original.is_floating_point() else torch.float32
        return torch.as_tensor(out, dtype=dtype, device=original.device)
    dtype = original.dtype if isinstance(original, np.ndarray) and original.dtype.kind == "f" else np.float32
    return out.astype(dtype, copy=False)


def _as_shape(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    """An int or a tuple of ints as a tuple; every size must be an integer >= 1 (``()`` is a scalar)."""
    if hasattr(shape, "__index__") and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise ValueError(f"shape must be an integer >= 1 or a tuple of them; got {shape!r} of type "
                         f"{type(shape).__name__}")
    return tuple(check_positive_int(f"shape[{i}]", d) for i, d in enumerate(shape))


class RunningMeanStd:
    """Running mean and population variance of samples of shape ``shape``, merged batch by batch.

    Merging moments (mean_a, var_a, n_a) and (mean_b, var_b, n_b), with delta = mean_b - mean_a, n = n_a + n_b:

        mean = mean_a + delta * n_b / n
        var  = (var_a * n_a + var_b * n_b + delta^2 * n_a * n_b / n) / n

    This is exact (not an approximation): after any sequence of updates ``mean`` and ``var`` equal
    ``np.mean`` and ``np.var`` of all samples seen. Before the first update ``mean = 0``, ``var = 1``, ``count = 0``
    (so a normaliser leaves data unscaled until it has seen some).

    Attributes:
        mean: float64 array of shape ``shape``.
        var: float64 array of shape ``shape`` (population variance, ddof = 0).
        count: number of samples seen (float).
    """

    def __init__(self, shape: int | tuple[int, ...] = ()) -> None:
        self.shape = _as_shape(shape)
        self.mean = np.zeros(self.shape, dtype=np.float64)
        self.var = np.ones(self.shape, dtype=np.float64)
        self.count = 0.0

    @property
    def std(self) -> np.ndarray:
        """sqrt(var), shape ``shape``."""
        return np.sqrt(self.var)

    def update(self, batch: Any) -> None:
        """Add a batch of samples, shape ``(B, *shape)`` (numpy array or torch tensor). An empty batch is a no-op.

        Raises:
            ValueError: if the batch's trailing dimensions are not ``shape``.
        """
        x = _to_numpy(batch)
        if x.shape[1:] != self.shape or x.ndim != len(self.shape) + 1:
            raise ValueError(
                f"batch has shape {x.shape} but this RunningMeanStd tracks samples of shape {self.shape}; "
                f"a batch must have shape (B, *{self.shape})"
            )
        if x.shape[0] == 0:
            return
        self._merge_moments(x.mean(axis=0), x.var(axis=0), float(x.shape[0]))

    def merge(self, other: RunningMeanStd) -> None:
        """Fold the moments of ``other`` (e.g. from another worker) into this one; ``other`` is unchanged.

        Raises:
            ValueError: if the two track different shapes.
        """
        if other.shape != self.shape:
            raise ValueError(f"cannot merge a RunningMeanStd of shape {other.shape} into one of shape {self.shape}")
        self._merge_moments(other.mean, other.var, other.count)

    def _merge_moments(self, mean_b: np.ndarray, var_b: np.ndarray, n_b: float) -> None:
        """Chan et al.'s parallel merge of (mean_b, var_b, n_b) into (self.mean, self.var, self.count)."""
        if n_b == 0:
            return
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean
        # mean = mean_a + delta * n_b / n
        new_mean = self.mean + delta * (n_b / n)
        # var = (var_a n_a + var_b n_b + delta^2 n_a n_b / n) / n
        m2 = self.var * n_a + var_b * n_b + delta**2 * (n_a * n_b / n)
        self.mean, self.var, self.count = new_mean, m2 / n, n

    def state_dict(self) -> dict[str, torch.Tensor]:
        """``{"mean", "var", "count"}`` as float64 tensors of shapes ``shape``, ``shape``, ``()`` (torch.save-safe)."""
        return {
            "mean": torch.tensor(self.mean, dtype=torch.float64),
            "var": torch.tensor(self.var, dtype=torch.float64),
            "count": torch.tensor(self.count, dtype=torch.float64),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (tensors or arrays).

        Raises:
            ValueError: on missing keys, wrong shapes, a negative count or a negative variance.
        """
        missing = {"mean", "var", "count"} - set(state)
        if missing:
            raise ValueError(f"state is missing {sorted(missing)}; expected the keys 'mean', 'var' and 'count'")
        mean, var, count = _to_numpy(state["mean"]), _to_numpy(state["var"]), float(_to_numpy(state["count"]))
        for key, arr in (("mean", mean), ("var", var)):
            if arr.shape != self.shape:
                raise ValueError(f"state['{key}'] has shape {arr.shape} but this RunningMeanStd has shape {self.shape}")
        if count < 0 or np.any(var < 0):
            raise ValueError(f"state has count {count} and min var {var.min() if var.size else 0}; both must be >= 0")
        self.mean, self.var, self.count = mean.copy(), var.copy(), count


class ObsNormaliser:
    """Standardise observations with running moments, then clip.

        obs_norm = clip((obs - mean) / sqrt(var + eps), -clip, clip)

    ``__call__(obs)`` first adds ``obs`` to the statistics (unless frozen or ``update=False``), then normalises it.
    Freeze for evaluation (the agent was trained on inputs scaled by its training statistics); ``frozen`` is a
    mode like ``nn.Module.train/eval`` and is not part of ``state_dict()``.

    Args:
        shape: observation shape, e.g. ``(obs_dim,)`` or ``obs_dim``.
        clip: bound on the normalised values (> 0), or None for no clipping.
        eps: added to the variance (> 0), so a constant feature does not divide by zero.
    """

    def __init__(self, shape: int | tuple[int, ...], clip: float | None = 10.0, eps: float = 1e-8) -> None:
        self.rms = RunningMeanStd(shape)
        self.clip = None if clip is None else check_positive("clip", clip)
        self.eps = check_positive("eps", eps)
        self.frozen = False

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one observation."""
        return self.rms.shape

    def freeze(self) -> None:
        """Stop updating the statistics (evaluation)."""
        self.frozen = True

    def unfreeze(self) -> None:
        """Resume updating the statistics (training)."""
        self.frozen = False

    def __call__(self, obs: Any, update: bool = True) -> Any:
        """Normalise a batch ``(N, *shape)`` or one observation ``shape``; numpy in numpy out, torch in torch out.

        Args:
            obs: observations (numpy array or torch tensor).
            update: add ``obs`` to the statistics first (ignored while frozen).
        Returns:
            normalised observations, same shape; float dtype of the input (float32 for integer inputs).
        Raises:
            ValueError: if ``obs`` has neither shape ``shape`` nor ``(N, *shape)``.
        """
        x = _to_numpy(obs)
        single = x.shape == self.shape
        batch = x[None] if single else x
        if batch.shape[1:] != self.shape or batch.ndim != len(self.shape) + 1:
            raise ValueError(
                f"obs has shape {x.shape} but this ObsNormaliser expects {self.shape} or (N, *{self.shape})"
            )
        if update and not self.frozen:
            self.rms.update(batch)
        # obs_norm = (obs - mean) / sqrt(var + eps), clipped to [-clip, clip]
        out = (x - self.rms.mean) / np.sqrt(self.rms.var + self.eps)
        if self.clip is not None:
            out = np.clip(out, -self.clip, self.clip)
        return _like_input(out, obs)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The running statistics (see :meth:`RunningMeanStd.state_dict`)."""
        return self.rms.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the running statistics (see :meth:`RunningMeanStd.load_state_dict`)."""
        self.rms.load_state_dict(state)


class RewardScaler:
    """Scale rewards by the running std of the discounted return, per env, without shifting them.

    Per env it keeps the discounted return of the current episode (reset after an episode ends):

        G_t = gamma * G_{t-1} * (1 - done_{t-1}) + r_t          (G_{-1} = 0)
        r_scaled_t = clip(r_t / sqrt(Var[G] + eps), -clip, clip)

    where Var[G] is the running variance of all G seen. Why the return's std and not the rewards' own: the critic
    regresses on returns, so this keeps value targets of order 1 whatever the reward scale; and ``gamma`` must
    be the algorithm's gamma, the horizon over which returns actually accumulate. Why no shift (errata 12):
    subtracting a mean would change what the agent is paid just for staying alive; in an episodic task with
    rewards of +1 per step, centring makes them about 0 and the incentive to survive disappears (or turns
    negative and the agent learns to end episodes early). Scaling by a positive number keeps every preference.

    Call it once per environment step, on the rewards of all envs. With next-step autoreset pass ``valid``
    (False on the fake step after an episode end) so those steps stay out of the statistics.

    The first few steps are scaled by a std estimated from very few returns. If those are all equal (e.g. CartPole's
    reward 1 in every env at step 0) the std is ~sqrt(eps) and the scaled reward hits the clip; this transient is
    shared by gymnasium's ``NormalizeReward`` and SB3's ``VecNormalize`` and fades within a few steps.

    Args:
        gamma: discount in [0, 1], the same as the algorithm's.
        num_envs: number of parallel envs N (>= 1).
        clip: bound on the scaled rewards (> 0), or None for no clipping.
        eps: added to the variance (> 0).
    """

    def __init__(self, gamma: float, num_envs: int, clip: float | None = 10.0, eps: float = 1e-8) -> None:
        self.gamma = check_unit_interval("gamma", gamma)
        self.num_envs = check_positive_int("num_envs", num_envs)
        self.clip = None if clip is None else check_positive("clip", clip)
        self.eps = check_positive("eps", eps)
        self.rms = RunningMeanStd(())
        self.returns = np.zeros(self.num_envs, dtype=np.float64)  # G per env

    @property
    def std(self) -> float:
        """sqrt(Var[G] + eps), the current divisor."""
        return float(np.sqrt(self.rms.var + self.eps))

    def __call__(
        self, rewards: Any, terminated: Any, truncated: Any, valid: Any | None = None, update: bool = True
    ) -> Any:
        """Scale one step of rewards, shape ``(N,)`` (numpy or torch; flags may be bool or 0/1 floats).

        Args:
            rewards: r_t of every env, shape (N,).
            terminated, truncated: the flags returned with those rewards, shape (N,).
            valid: optional bool mask (N,); invalid envs leave G and the statistics untouched.
            update: add the new G values to the running variance (set False to only scale).
        Returns:
            scaled rewards, shape (N,), same array type as ``rewards``.
        Raises:
            ValueError: if an input does not have shape (num_envs,).
        """
        r = _to_numpy(rewards)
        term, trunc = _to_numpy(terminated), _to_numpy(truncated)
        ok = np.ones(self.num_envs, dtype=bool) if valid is None else _to_numpy(valid).astype(bool)
        for name, arr in (("rewards", r), ("terminated", term), ("truncated", trunc), ("valid", ok)):
            self._check_per_env(name, arr)
        # G_t = gamma * G_{t-1} + r_t   (G was already reset to 0 after the previous episode end)
        self.returns = np.where(ok, self.gamma * self.returns + r, self.returns)
        if update:
            self.rms.update(self.returns[ok])
        # r_scaled = clip(r / sqrt(Var[G] + eps), -clip, clip)
        out = r / self.std
        if self.clip is not None:
            out = np.clip(out, -self.clip, self.clip)
        # an episode that ended at this step starts from G = 0: the (1 - done_{t-1}) factor of the next step
        done = np.maximum(term, trunc) > 0
        self.returns = np.where(ok & done, 0.0, self.returns)
        return _like_input(out, rewards)

    def _check_per_env(self, name: str, arr: np.ndarray) -> None:
        """Raise ValueError unless ``arr`` has shape (num_envs,)."""
        if arr.shape != (self.num_envs,):
            raise ValueError(
                f"{name} has shape {arr.shape} but this RewardScaler was built for num_envs={self.num_envs}; "
                f"expected shape ({self.num_envs},)"
            )

    def state_dict(self) -> dict[str, Any]:
        """``{"rms": RunningMeanStd state, "returns": (N,) float64 tensor}`` to resume training exactly."""
        return {"rms": self.rms.state_dict(), "returns": torch.tensor(self.returns, dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output.

        Raises:
            ValueError: on a missing key or a returns vector of the wrong length.
        """
        if "rms" not in state or "returns" not in state:
            raise ValueError(f"state has keys {sorted(state)}; expected 'rms' and 'returns'")
        returns = _to_numpy(state["returns"])
        self._check_per_env("state['returns']", returns)
        self.rms.load_state_dict(state["rms"])
        self.returns = returns.copy()


def normalise_advantages(
    adv: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-8
) -> torch.Tensor:
    """Centre and scale a (mini)batch of advantages: ``(A - mean(A)) / (std(A) + eps)``.

    Mean and std are taken over the valid entries only and the std is the population one (ddof = 0), so the result
    is finite for every batch: one sample gives 0 (not the NaN that torch's default Bessel-corrected ``std()`` gives
    for one sample), a constant batch gives zeros. All entries are transformed; invalid ones with the valid
    entries' statistics.

    Args:
        adv: advantages, any shape, e.g. (B,) or (T, N).
        valid: optional mask of the same shape.
        eps: > 0, keeps the division finite.
    Returns:
        normalised advantages, same shape; on the valid entries mean 0 and std 1 (up to eps) unless all are equal.
    Raises:
        ValueError: eps <= 0; a mask of another shape or with no valid entry.
    """
    eps = check_positive("eps", eps)
    # mean = E[A],  std = sqrt(E[(A - mean)^2])   over the valid entries
    mean = masked_mean(adv, valid)
    std = torch.sqrt(masked_mean((adv - mean) ** 2, valid))
    # A_norm = (A - mean) / (std + eps)
    return (adv - mean) / (std + eps)
