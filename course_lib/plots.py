"""One plot style for the whole course, and learning curves summarised across seeds.

Every comparison in the course is shown over several seeds: the line is the mean and the band, by default, its
95 % bootstrap confidence interval over seeds (``course_lib.stats``), so a learner sees both the effect and how
sure we are of it. The spread of the seeds themselves (min to max, or mean ± one standard deviation) is there too.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np

from course_lib import stats

# Colour-blind-safe palette (Okabe & Ito 2008), used in the same order in every notebook.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def use_course_style() -> None:
    """Apply the course's matplotlib style (sizes, grid, palette) to every figure drawn after the call."""
    plt.rcParams.update(
        {
            "figure.figsize": (7.0, 3.6),
            "figure.dpi": 90,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": plt.cycler(color=PALETTE),
            "legend.frameon": False,
            "font.size": 10,
        }
    )


BANDS = ("ci", "minmax", "std")
BAND_LABELS = {"ci": "95% bootstrap CI", "minmax": "min-max", "std": "mean ± std"}


class SeedSummary(NamedTuple):
    """Curves of several seeds put on one x grid. ``x``: (G,); ``mean``, ``low``, ``high``: (G,)."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def summarise_seeds(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], points: int = 100, band: str = "ci"
) -> SeedSummary:
    """Interpolate each seed's curve onto a shared grid and summarise across seeds.

    Args:
        curves: one ``(x, y)`` pair per seed, each 1-D with increasing ``x`` (e.g. env steps). NaN values of
            ``y`` (no finished episode yet) are dropped before interpolating.
        points: grid size ``G``; the grid spans the x-range that *every* seed covers, so no seed is extrapolated.
        band: ``"ci"`` (95 % percentile-bootstrap confidence interval of the mean over seeds; with a single seed
            the band is the line itself), ``"minmax"`` (from the worst to the best seed) or ``"std"`` (mean ± one
            standard deviation).
    Returns:
        ``SeedSummary`` of arrays with shape (G,).
    """
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    cleaned = []
    for x, y in curves:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        keep = np.isfinite(y)
        if keep.sum() < 2:
            raise ValueError("each seed's curve needs at least two finite points to be interpolated")
        cleaned.append((x[keep], y[keep]))
    if not cleaned:
        raise ValueError("summarise_seeds needs at least one (x, y) curve")
    start = max(x[0] for x, _ in cleaned)
    stop = min(x[-1] for x, _ in cleaned)
    grid = np.linspace(start, stop, points)
    ys = np.stack([np.interp(grid, x, y) for x, y in cleaned])  # (seeds, G)
    mean = ys.mean(axis=0)
    if band == "ci":
        low, high = (mean, mean) if len(ys) < 2 else stats.bootstrap_ci(ys, n_resamples=2000)[1:]
    elif band == "minmax":
        low, high = ys.min(axis=0), ys.max(axis=0)
    else:
        std = ys.std(axis=0)
        low, high = mean - std, mean + std
    return SeedSummary(grid, mean, low, high)


def plot_seeds(ax: plt.Axes, curves: Sequence[tuple[np.ndarray, np.ndarray]], label: str, color: str | None = None,
               band: str = "ci") -> SeedSummary:
    """Draw the mean of several seeds as a line and a shaded band (see ``summarise_seeds``) on ``ax``."""
    summary = summarise_seeds(curves, band=band)
    shown = f"n={len(curves)}, {BAND_LABELS[band]}" if len(curves) > 1 else "n=1"
    (line,) = ax.plot(summary.x, summary.mean, label=f"{label} ({shown})", color=color)
    ax.fill_between(summary.x, summary.low, summary.high, color=line.get_color(), alpha=0.2, linewidth=0)
    return summary


def learning_curves(runs: Mapping[str, Sequence], y: str = "episode_return_mean", x: str = "env_steps",
                    ax: plt.Axes | None = None, band: str = "ci", title: str | None = None) -> plt.Axes:
    """Plot one mean-and-spread curve per label from training histories.

    Args:
        runs: label -> list of histories (one per seed); each history has ``column(name) -> np.ndarray``.
        y, x: the history columns to plot.
    """
    if ax is None:
        _, ax = plt.subplots()
    for label, histories in runs.items():
        plot_seeds(ax, [(h.column(x), h.column(y)) for h in histories], label, band=band)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def mean_and_spread(values: Sequence[float], digits: int = 1) -> str:
    """Format per-seed values as 'mean ± std (min … max)' with ``digits`` decimals, for tables beside a plot."""
    v = np.asarray(values, dtype=float)
    f = f".{digits}f"
    return f"{v.mean():{f}} ± {v.std():{f}} ({v.min():{f}} … {v.max():{f}})"
