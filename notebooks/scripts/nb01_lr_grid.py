"""Notebook 01's learning-rate grid for its one-step actor-critic (sections 5.2 and 8).

The notebook cannot afford 80 training runs, so this script runs them once and stores the result in
``notebooks/data/nb01_lr_grid.json``. It runs *the notebook's own code*: the code cells of
``notebooks/src/01_actor_critic_basics.py`` tagged ``nb01-td0`` (the imports and constants, ``make_net``,
``td0_losses``, ``train_td0`` and ``td0_prefix``), so the grid cannot drift from what the notebook teaches.

Every (actor, critic) learning-rate pair is trained on the notebook's seeds for the notebook's budget. For each
run the file keeps ``final_return`` (the mean return of the last 20 training episodes at the end) and the
learning curve (that running mean sampled at up to ``curve_points`` updates; updates before the first finished
episode are left out). ``prefix(config)`` re-runs the first updates of seed 0 with ``train_td0``'s default
learning rates; the notebook compares its live run of section 4.1 with it.

Regenerate with ``make data nb01_lr_grid`` (or
``flock /tmp/course-data.lock .venv/bin/python notebooks/scripts/nb01_lr_grid.py``), about 5-6 minutes on one
quiet core.
"""
from __future__ import annotations

import inspect
import itertools
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import stored_results

NOTEBOOK_CELLS = ("01_actor_critic_basics", "nb01-td0")
LR_ACTOR = [1e-4, 3e-4, 1e-3, 3e-3]
LR_CRITIC = [3e-4, 1e-3, 3e-3, 1e-2]
CURVE_POINTS = 40
RETURN_WINDOW = 20  # episodes in "mean return of the last 20 training episodes"


def notebook() -> dict[str, Any]:
    """The namespace of the notebook's cells tagged ``nb01-td0`` (executed once, then cached)."""
    return stored_results.load_tagged_cells(*NOTEBOOK_CELLS)


def config() -> dict:
    """Every setting of the grid, read from the notebook's own constants and ``train_td0``'s defaults."""
    nb = notebook()
    defaults = {name: p.default for name, p in inspect.signature(nb["train_td0"]).parameters.items()
                if p.default is not inspect.Parameter.empty and name not in ("snapshots", "snapshot_every")}
    return {
        "env_id": "CartPole-v1",
        "lr_actor": list(LR_ACTOR),
        "lr_critic": list(LR_CRITIC),
        "seeds": list(nb["SEEDS"]),
        "total_steps": nb["TD0_STEPS"],
        "train_td0_defaults": defaults,  # num_envs, lr_actor, lr_critic, gamma, actor_weight
        "curve_points": CURVE_POINTS,
        "return_window": RETURN_WINDOW,
        "prefix_updates": nb["PREFIX_UPDATES"],
    }


def curve(history: Any, points: int, window: int) -> tuple[list[float], list[float]]:
    """The run's 'mean return of the last `window` episodes' column, sampled at up to `points` updates."""
    steps, ret = history.column("env_steps"), history.column("episode_return_mean")
    keep = np.flatnonzero(np.isfinite(ret))
    pick = keep[np.unique(np.linspace(0, len(keep) - 1, points).round().astype(int))]
    return [float(x) for x in steps[pick]], [round(float(y), 3) for y in ret[pick]]


def prefix(config: dict) -> dict:
    """The first updates of seed 0 with train_td0's default learning rates (a fraction of a second)."""
    torch.set_num_threads(1)
    nb = notebook()
    n = config["prefix_updates"]
    seed = config["seeds"][0]
    # one update per vector step: n updates need n vector steps (+1 spare, the loop stops on the step count)
    steps = (n + 1) * config["train_td0_defaults"]["num_envs"]
    history = nb["train_td0"](seed, steps, **config["train_td0_defaults"])
    return nb["td0_prefix"](history, n)


def run(config: dict) -> dict:
    """Train every (actor lr, critic lr, seed) of the grid; return the final returns and learning curves."""
    torch.set_num_threads(1)
    nb = notebook()
    settings = dict(config["train_td0_defaults"])
    settings.pop("lr_actor"), settings.pop("lr_critic")
    runs = []
    grid = list(itertools.product(config["lr_actor"], config["lr_critic"], config["seeds"]))
    for lr_actor, lr_critic, seed in tqdm(grid, desc="nb01 learning-rate grid", unit="run"):
        h = nb["train_td0"](seed, config["total_steps"], lr_actor=lr_actor, lr_critic=lr_critic, **settings)
        xs, ys = curve(h, config["curve_points"], config["return_window"])
        runs.append({"lr_actor": lr_actor, "lr_critic": lr_critic, "seed": seed,
                     "final_return": float(h.recent_return_mean(config["return_window"])),
                     "curve_steps": xs, "curve_return": ys})
    return {"runs": runs}


if __name__ == "__main__":
    stored_results.main(__file__)
