"""Summaries across seeds that a reviewer would accept: bootstrap confidence intervals and the IQM.

RL results vary a lot from seed to seed (Henderson et al. 2018, *Deep Reinforcement Learning that Matters*),
so the course reports a point estimate with a 95 % percentile-bootstrap confidence interval over seeds
(Efron & Tibshirani 1993) rather than a min–max band of three runs, and offers the interquartile mean, which
Agarwal et al. (2021, *Deep Reinforcement Learning at the Edge of the Statistical Precipice*) recommend as
robust to one outlying seed yet less noisy than the median.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CI(NamedTuple):
    """A point estimate and its confidence interval; each field has the shape of one seed's values."""

    estimate: np.ndarray | float
    low: np.ndarray | float
    high: np.ndarray | float


def iqm(values, axis: int = 0) -> np.ndarray | float:
    """Interquartile mean along ``axis``: the mean of the middle 50 % of the values.

    With n values sorted, the lowest and highest n/4 are dropped, fractional parts counting proportionally
    (as ``scipy.stats.trim_mean(values, 0.25)``). ``values`` (n, ...) -> (...).
    """
    x = np.sort(np.asarray(values, dtype=float), axis=axis)
    x = np.moveaxis(x, axis, 0)
    n = x.shape[0]
    if n == 0:
        raise ValueError("iqm of no values")
    # weight of each order statistic: the part of [i, i+1) that lies inside [n/4, 3n/4)
    edges = np.arange(n + 1, dtype=float)
    lo, hi = n / 4.0, 3.0 * n / 4.0
    weights = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None)
    weights = weights / weights.sum()
    out = np.tensordot(weights, x, axes=(0, 0))
    return float(out) if np.ndim(out) == 0 else out


def _statistic(name: str):
    if name == "mean":
        return lambda x, axis: np.mean(x, axis=axis)
    if name == "iqm":
        return lambda x, axis: iqm(x, axis=axis)
    raise ValueError(f"statistic must be 'mean' or 'iqm', got {name!r}")


# at most this many resampled values are held at once by bootstrap_ci (8 bytes each: 128 MB)
_BOOTSTRAP_BLOCK_ELEMENTS = 16_000_000


def bootstrap_ci(values, statistic: str = "mean", confidence: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> CI:
    """Percentile-bootstrap confidence interval of ``statistic`` over seeds (axis 0 of ``values``).

    Args:
        values: (n,) or (n, ...) — one row per seed (n ≥ 2), finite numbers.
        statistic: ``"mean"`` or ``"iqm"`` (interquartile mean).
        confidence: coverage of the interval, in (0, 1).
        n_resamples: bootstrap resamples B (each draws n seeds with replacement).
        seed: seed of the resampling, so the interval is reproducible.
    Returns:
        ``CI(estimate, low, high)``, each a float for (n,) input or an array of shape (...) otherwise; the
        estimate is the statistic of the data themselves, ``low``/``high`` the (1 ± confidence)/2 quantiles
        of the B resampled statistics.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim == 0 or x.shape[0] < 2:
        raise ValueError(f"bootstrap_ci needs at least 2 seeds on axis 0, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("bootstrap_ci got NaN or infinite values; drop or fill them first")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(n_resamples) < 100:
        raise ValueError(f"n_resamples must be at least 100, got {n_resamples}")
    stat = _statistic(statistic)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(int(n_resamples), n))
    # (B, n, ...) resampled seeds -> (B, ...) resampled statistics, a block of resamples at a time so that a
    # large (n, ...) array never needs B copies of itself in memory at once
    per_resample = max(1, x.size)
    block = max(1, _BOOTSTRAP_BLOCK_ELEMENTS // per_resample)
    resampled = np.concatenate([stat(x[index[i:i + block]], 1) for i in range(0, index.shape[0], block)])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled, [alpha, 1.0 - alpha], axis=0)
    estimate = stat(x, 0)
    if x.ndim == 1:
        return CI(float(estimate), float(low), float(high))
    return CI(np.asarray(estimate), low, high)
