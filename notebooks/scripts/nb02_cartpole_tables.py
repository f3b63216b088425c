"""Notebook 02's "where tables break" experiment: tabular Q-learning on CartPole-v1 whose 4-D state is cut into
``b`` bins per dimension (a table of ``b**4`` states x 2 actions), for several ``b``, one hand-made grid and five
seeds each.

From the repository root (about 10 minutes on one core of a busy 2-core CPU):

    make data nb02_cartpole_tables        # or: .venv/bin/python notebooks/scripts/nb02_cartpole_tables.py

It writes ``notebooks/data/nb02_cartpole_tables.json`` with its provenance (see ``course_lib/stored_results.py``):
per grid and seed, the smoothed learning curve, how much of the table was ever updated, and the greedy policy's
evaluation return. The notebook re-runs the first episodes of one grid live and checks them against the prefix.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import stored_results
from course_lib.algos import qlearning as ql
from course_lib.evaluation import evaluate

# the same number of bins in every dimension (the explorer's slider) ...
BINS = (1, 2, 3, 4, 6, 8, 10, 14)
# ... and one hand-made grid: few bins for the cart, more for the pole (what a person who knows the task would do)
HAND_MADE = (1, 1, 6, 12)
SEEDS = [0, 1, 2, 3, 4]
CONFIG = ql.QLearningConfig(alpha=0.1, gamma=0.99, epsilon_start=1.0, epsilon_end=0.05,
                            epsilon_decay_episodes=600, episodes=1000)


def config() -> dict:
    return {
        "qlearning": dataclasses.asdict(CONFIG),
        "grids": [[b] * 4 for b in BINS] + [list(HAND_MADE)],
        "hand_made": list(HAND_MADE),
        "seeds": SEEDS,
        "smooth_window": 50,  # episodes in the moving average of the stored learning curves
        "curve_every": 10,  # store every 10th point of the curve
        "final_window": 100,  # "last-100 training return"
        "eval_episodes": 20,
        "eval_seed": 10_000,
        # the live check: the first episodes of one grid and seed; the epsilon schedule depends only on the
        # episode number, so a short run is the start of the stored one
        "prefix": {"bins": 6, "seed": SEEDS[0], "episodes": 200},
    }


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values (fewer at the start), same length as ``x``."""
    csum = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(1, len(x) + 1)
    start = np.maximum(idx - window, 0)
    return (csum[idx] - csum[start]) / (idx - start)


def prefix(cfg: dict) -> list[float]:
    """Returns of the first episodes of one grid and seed (the notebook re-runs exactly this)."""
    p = cfg["prefix"]
    short = dataclasses.replace(ql.QLearningConfig(**cfg["qlearning"]), episodes=p["episodes"])
    _, history = ql.train(short, "CartPole-v1", seed=p["seed"], discretiser=ql.cartpole_discretiser(p["bins"]))
    return history.episode_returns().tolist()


def train_one(cfg: dict, bins: list[int], seed: int) -> dict:
    """Train one table and summarise it."""
    discretiser = ql.cartpole_discretiser(tuple(bins))
    t0 = time.perf_counter()
    agent, history = ql.train(ql.QLearningConfig(**cfg["qlearning"]), "CartPole-v1", seed=seed,
                              discretiser=discretiser)
    seconds = time.perf_counter() - t0
    returns = history.episode_returns()
    smooth = moving_average(returns, cfg["smooth_window"])
    every = cfg["curve_every"]
    # every update of a zero entry adds alpha * (1 + ...) > 0 (CartPole pays +1 per step), so "ever updated" is
    # exactly "not zero any more"
    visited = float(np.mean(agent.q != 0.0))
    ev = evaluate(agent, "CartPole-v1", n_episodes=cfg["eval_episodes"], seed=cfg["eval_seed"])
    return {
        "bins": [int(b) for b in discretiser.bins],
        "seed": seed,
        "n_states": discretiser.n_states,
        "table_entries": int(agent.q.size),
        "visited_fraction": visited,
        "env_steps": int(history.episodes[-1].env_steps),
        "final_return_mean": float(returns[-cfg["final_window"]:].mean()),
        "eval_return_mean": ev.mean,
        "curve_episode": list(range(every, len(returns) + 1, every)),
        "curve_return": [round(float(v), 2) for v in smooth[every - 1::every]],
        "seconds": round(seconds, 1),
    }


def run(cfg: dict) -> dict:
    torch.set_num_threads(1)
    runs = []
    with tqdm(total=len(cfg["grids"]) * len(cfg["seeds"]), desc="nb02 tabular CartPole") as bar:
        for bins in cfg["grids"]:
            for seed in cfg["seeds"]:
                r = train_one(cfg, bins, seed)
                runs.append(r)
                bar.set_postfix_str(f"bins {bins} seed {seed}: eval {r['eval_return_mean']:.0f}")
                bar.update(1)
    return {"runs": runs}


if __name__ == "__main__":
    stored_results.main(__file__)
