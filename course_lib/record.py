"""The record of a training run: one `UpdateRow` per update, one `Episode` per finished episode, in a `History`.

Every algorithm in `course_lib.algos` (REINFORCE, A2C, PPO, TRPO, Q-learning, DQN) returns a `History`. Notebooks
plot its columns; tests compare two same-seed runs with `==` and read `steps_to_threshold` from it. The
training loops also show their progress (`progress`) and stop on a NaN (`check_finite`) through this module.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from course_lib.validation import check_positive_int

__all__ = ["UpdateRow", "Episode", "History", "steps_to_threshold", "progress", "check_finite"]

# ---------------------------------------------------------------------------------------------------------------
# The record of a run
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class UpdateRow:
    """Statistics of one parameter update; one dataclass for every algorithm (fields it has no use for stay None).

    Every loss/statistic is the average over all minibatches (and epochs) of the update, not the last one.
    """

    env_steps: int
    """Environment steps taken so far (all parallel envs counted), at the end of this update's rollout."""
    episode_return_mean: float | None
    """Mean return of the last 20 finished training episodes (fewer if fewer finished; None if none yet)."""
    policy_loss: float | None = None
    """Actor loss that was minimised (e.g. -clipped surrogate)."""
    value_loss: float | None = None
    """Critic loss: mean squared error between V(s) and the return targets (times 0.5 where the algo says)."""
    entropy: float | None = None
    """Mean entropy of the policy on the batch, in nats."""
    approx_kl: float | None = None
    """k3 estimate of KL(pi_old || pi_new) from the batch: mean((r - 1) - log r), r = pi_new / pi_old."""
    clip_fraction: float | None = None
    """Fraction of samples whose ratio lay outside [1 - clip_eps, 1 + clip_eps]."""
    explained_variance: float | None = None
    """1 - Var[ret - V] / Var[ret] of the critic's predictions before the update (1 = perfect, <= 0 = useless)."""
    learning_rate: float | None = None
    """Learning rate used in this update (after annealing)."""
    steps_per_second: float | None = field(default=None, compare=False)
    """Wall-clock throughput of the whole update (rollout + learning). Ignored by ==, it is never reproducible."""
    q_loss: float | None = None
    """DQN / Q-learning: mean TD loss of the update."""
    epsilon: float | None = None
    """DQN / Q-learning: exploration rate used while collecting."""
    clip_eps: float | None = None
    """PPO: clip range used in this update (after annealing)."""
    kl_beta: float | None = None
    """PPO with adaptive KL penalty: the penalty coefficient beta used in this update."""
    epochs: float | None = None
    """PPO: epochs actually run (fewer than configured when target_kl stopped the update early)."""
    step_fraction: float | None = None
    """TRPO: fraction of the full natural-gradient step the line search accepted (0 = rejected)."""


_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(UpdateRow))


class Episode(NamedTuple):
    """One finished training episode."""

    env_steps: int
    """Environment steps taken so far (all envs) when the episode ended."""
    ret: float
    """Undiscounted return of the episode."""
    length: int
    """Number of steps in the episode."""


@dataclass
class History:
    """The record of a training run: `rows` (one `UpdateRow` per update) and `episodes` (finished episodes).

    Reproducibility: two runs with the same seed and the same `torch.get_num_threads()` compare equal with `==`,
    in one process or in two (steps_per_second is left out of the comparison). A different thread count
    changes how torch splits its sums, so the numbers, and after a few updates the whole run, differ.
    """

    rows: list[UpdateRow] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)

    def append(self, row: UpdateRow) -> None:
        """Add the statistics of one update."""
        if not isinstance(row, UpdateRow):
            raise ValueError(f"row must be an UpdateRow, got {type(row).__name__}")
        self.rows.append(row)

    def add_episode(self, env_steps: int, ret: float, length: int) -> None:
        """Record a finished training episode: env steps (all envs) at its end, its return and its length."""
        self.episodes.append(Episode(int(env_steps), float(ret), int(length)))

    def recent_return_mean(self, window: int = 20) -> float | None:
        """Mean return of the last `window` finished episodes (all of them if fewer), None if there are none."""
        if not self.episodes:
            return None
        return float(np.mean([e.ret for e in self.episodes[-window:]]))

    def column(self, name: str) -> np.ndarray:
        """The values of one `UpdateRow` field over all updates, shape (len(rows),), float64 with NaN for None."""
        if name not in _ROW_FIELDS:
            raise ValueError(f"column name must be one of {_ROW_FIELDS}, got {name!r}")
        return np.array(
            [np.nan if getattr(r, name) is None else float(getattr(r, name)) for r in self.rows], dtype=np.float64
        )

    def episode_returns(self) -> np.ndarray:
        """Returns of all finished episodes in order, shape (E,)."""
        return np.array([e.ret for e in self.episodes], dtype=np.float64)

    def episode_steps(self) -> np.ndarray:
        """Env steps at which each episode finished, shape (E,)."""
        return np.array([e.env_steps for e in self.episodes], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    # -- save / load as JSON (human-readable, diff-able, no pickle) ------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form: {"rows": [field dicts], "episodes": [[env_steps, ret, length], ...]}."""
        return {"rows": [dataclasses.asdict(r) for r in self.rows], "episodes": [list(e) for e in self.episodes]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of `to_dict`."""
        h = cls()
        for r in d["rows"]:
            h.append(UpdateRow(**r))
        for steps, ret, length in d["episodes"]:
            h.add_episode(steps, ret, length)
        return h

    def save(self, path: str | os.PathLike) -> None:
        """Write the history to `path` as JSON."""
        with open(path, "w") as f:
            json.dump(self.to_dict(), f)

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by `save`."""
        with open(path) as f:
            return cls.from_dict(json.load(f))


def steps_to_threshold(history: History, threshold: float = 475.0, window: int = 20) -> int | None:
    """Env steps at which the mean return of the last `window` finished training episodes first reaches `threshold`.

    Only full windows count (at least `window` finished episodes), so a lucky first episode cannot "solve" a task.
    Returns None if the threshold is never reached.
    """
    window = check_positive_int("window", window)
    rets = history.episode_returns()
    if len(rets) < window:
        return None
    # mean over episodes k-window+1 .. k, for every k >= window-1, via cumulative sums
    csum = np.concatenate([[0.0], np.cumsum(rets)])
    means = (csum[window:] - csum[:-window]) / window
    hit = np.flatnonzero(means >= threshold)
    if len(hit) == 0:
        return None
    return int(history.episodes[hit[0] + window - 1].env_steps)


# ---------------------------------------------------------------------------------------------------------------
# Progress bar and NaN guard
# ---------------------------------------------------------------------------------------------------------------


def progress(total: int, desc: str, enabled: bool = True):
    """A tqdm progress bar over `total` env steps: a widget in Jupyter, text in a terminal, nothing if disabled.

    Use as `with progress(total, "PPO") as bar: ... bar.update(n); bar.set_postfix(ret=...)`.
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, unit="step", unit_scale=True, dynamic_ncols=True)


def check_finite(update: int, **quantities: Any) -> None:
    """Raise FloatingPointError if any quantity (float, numpy array or torch tensor) holds NaN or inf.

    The message names the update number and the quantity, e.g. `check_finite(12, policy_loss=loss)`.
    """
    for name, value in quantities.items():
        if value is None:
            continue
        if hasattr(value, "detach"):  # torch tensor
            value = value.detach().cpu().numpy()
        arr = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            shown = arr if arr.size == 1 else f"{int(np.sum(~np.isfinite(arr)))} of {arr.size} entries non-finite"
            raise FloatingPointError(
                f"update {update}: {name} is not finite ({shown}); training diverged — "
                "try a smaller learning rate, gradient clipping or observation/reward normalisation"
            )
