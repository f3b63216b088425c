"""Learning curves for notebook 03: REINFORCE, REINFORCE + baseline, TD actor-critic and GAE(0.95) on CartPole-v1.

The four learners take 10 to 30 s per seed each on one CPU core, too long for the notebook, so this script
trains them once (5 seeds x 4 learners x 150,000 env steps; 6 to 8 minutes on one core of a shared 2-core
machine) and stores, for every learner and seed:

* the mean return of the last 20 training episodes and the critic's explained variance, sampled on a shared
  grid of env steps (``grid_env_steps``; ``None`` before the first value);
* the env steps at which the 20-episode mean first reached 475 (``None`` if never);
* the mean return of the last 20 training episodes, the number of episodes and the run's wall-clock seconds.

``prefix(config)`` re-runs the first updates of REINFORCE + baseline and of GAE(0.95), seed 0, in a few seconds;
the notebook compares them with the stored prefix. Regenerate with ``make data nb03_learning_curves`` (or
``flock /tmp/course-data.lock .venv/bin/python notebooks/scripts/nb03_learning_curves.py``).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import stored_results
from course_lib.algos import a2c, reinforce
from course_lib.algos.onpolicy import run_onpolicy
from course_lib.record import History, steps_to_threshold

ENV_ID = "CartPole-v1"
TOTAL_STEPS = 150_000
SEEDS = [0, 1, 2, 3, 4]
GRID_POINTS = 61
WINDOW = 20          # episodes in the running mean of the return
THRESHOLD = 475.0    # CartPole-v1's "solved" level
# label -> (algorithm, library config). The library defaults apart from the switch being compared, except that
# every learner weights log pi by its raw advantages (norm_adv=False, REINFORCE's default but not A2C's):
# advantage normalisation is notebook 06's subject, and here it would hide the scale of what is compared.
METHODS: dict[str, tuple[str, Any]] = {
    "REINFORCE": ("reinforce", reinforce.ReinforceConfig(env_id=ENV_ID, baseline=False, norm_adv=False)),
    "REINFORCE + baseline": ("reinforce", reinforce.ReinforceConfig(env_id=ENV_ID, baseline=True, norm_adv=False)),
    "TD actor-critic (GAE lam=0)": ("a2c", a2c.A2CConfig(env_id=ENV_ID, use_gae=True, lam=0.0, norm_adv=False)),
    "GAE actor-critic (lam=0.95)": ("a2c", a2c.A2CConfig(env_id=ENV_ID, use_gae=True, lam=0.95, norm_adv=False)),
}
# the prefix: these learners' first updates, seed 0
PREFIX_UPDATES = {"REINFORCE + baseline": 3, "GAE actor-critic (lam=0.95)": 10}
PREFIX_COLUMNS = ("policy_loss", "value_loss", "entropy", "explained_variance")
LEARNERS = {"reinforce": reinforce.ReinforceLearner, "a2c": a2c.A2CLearner}
ALGOS: dict[str, tuple[type, Callable]] = {
    "reinforce": (reinforce.ReinforceConfig, reinforce.train),
    "a2c": (a2c.A2CConfig, a2c.train),
}


def config() -> dict:
    """Every setting of the run: budget, seeds, grid, and each learner's full library config."""
    return {
        "env_id": ENV_ID,
        "total_steps": TOTAL_STEPS,
        "seeds": list(SEEDS),
        "grid_points": GRID_POINTS,
        "return_window": WINDOW,
        "threshold": THRESHOLD,
        "methods": {label: {"algo": algo, "config": dataclasses.asdict(cfg)} for label, (algo, cfg) in METHODS.items()},
        "prefix_updates": dict(PREFIX_UPDATES),
    }


def learner(config: dict, label: str) -> tuple[Any, Callable]:
    """(library config, train function) of learner ``label``, rebuilt from the stored ``config``."""
    method = config["methods"][label]
    cls, train = ALGOS[method["algo"]]
    settings = dict(method["config"])
    settings["hidden"] = tuple(settings["hidden"])
    return cls(**settings), train


def on_grid(history: History, column: str, grid: np.ndarray) -> list[float | None]:
    """``column`` of the history linearly interpolated at the env steps ``grid`` (None before its first value)."""
    x, y = history.column("env_steps"), history.column(column)
    keep = np.isfinite(y)
    out: list[float | None] = []
    for g in grid:
        if not keep.any() or g < x[keep][0]:
            out.append(None)
        else:
            out.append(round(float(np.interp(g, x[keep], y[keep])), 4))
    return out


class _StopAfter(Exception):
    """Raised by :class:`_FirstUpdates` once it has recorded enough updates."""


class _FirstUpdates:
    """Wraps a learner: records the statistics of its first ``n`` updates, then stops the training loop.

    The run is set up for the full budget, so a learning-rate schedule (A2C anneals over ``total_steps``) is the
    same as in the stored runs, yet only ``n`` updates are computed.
    """

    def __init__(self, learner: Any, n: int, rows: list) -> None:
        self.learner, self.n, self.rows = learner, n, rows

    def update(self, rollout: Any, frac_remaining: float) -> Any:
        stats = self.learner.update(rollout, frac_remaining)
        self.rows.append(stats)
        if len(self.rows) >= self.n:
            raise _StopAfter
        return stats


def prefix(config: dict) -> dict:
    """The first updates of REINFORCE + baseline and GAE(0.95), seed 0, row by row (a few seconds)."""
    torch.set_num_threads(1)
    out = {}
    for label, updates in config["prefix_updates"].items():
        cfg, _ = learner(config, label)
        learner_cls = LEARNERS[config["methods"][label]["algo"]]
        rows: list = []
        try:
            run_onpolicy(cfg, config["seeds"][0], config["total_steps"],
                         lambda agent, c: _FirstUpdates(learner_cls(agent, c), updates, rows), progress_bar=False)
        except _StopAfter:
            pass
        out[label] = [{c: r.get(c) for c in PREFIX_COLUMNS} for r in rows]
    return out


def run(config: dict) -> dict:
    """Train every learner on every seed; return the per-seed summaries on a shared grid of env steps."""
    torch.set_num_threads(1)
    grid = np.linspace(0, config["total_steps"], config["grid_points"])
    window = config["return_window"]
    methods: dict[str, dict] = {label: {"runs": []} for label in config["methods"]}
    jobs = [(label, seed) for label in config["methods"] for seed in config["seeds"]]
    for label, seed in tqdm(jobs, desc="nb03 learning curves", unit="run"):
        cfg, train = learner(config, label)
        start = time.perf_counter()
        _, history = train(cfg, seed=seed, total_steps=config["total_steps"], progress=False)
        rets = history.episode_returns()
        methods[label]["runs"].append({
            "seed": seed,
            "return_mean_20": on_grid(history, "episode_return_mean", grid),
            "explained_variance": on_grid(history, "explained_variance", grid),
            "steps_to_475": steps_to_threshold(history, config["threshold"], window=window),
            "final_return_mean_20": round(float(rets[-window:].mean()), 2),
            "episodes": len(rets),
            "seconds": round(time.perf_counter() - start, 1),
        })
    return {"grid_env_steps": [int(g) for g in grid], "methods": methods}


if __name__ == "__main__":
    stored_results.main(__file__)
