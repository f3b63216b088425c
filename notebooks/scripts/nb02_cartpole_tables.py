"""Precompute notebook 02's "where tables break" explorer: tabular Q-learning on CartPole-v1 whose 4-D state is
cut into ``b`` bins per dimension (a table of ``b**4`` states x 2 actions), for a few ``b`` and three seeds.

Run from the repository root (a few minutes on a 2-core CPU):

    .venv/bin/python notebooks/scripts/nb02_cartpole_tables.py

It writes ``notebooks/data/nb02_cartpole_tables.json`` (about 100 kB): per setting and seed, the smoothed learning
curve, how much of the table was ever updated, and the greedy policy's evaluation return. The notebook loads it
and re-runs the first episodes of one setting live to check the file still matches the library.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from course_lib.algos import qlearning as ql
from course_lib.training import evaluate

OUT = Path(__file__).resolve().parents[1] / "data" / "nb02_cartpole_tables.json"

# the same number of bins in every dimension (the explorer's slider) ...
BINS = (1, 2, 3, 4, 6, 8, 10, 14)
# ... and one hand-made grid: few bins for the cart, more for the pole (what a person who knows the task would do)
HAND_MADE = (1, 1, 6, 12)
SEEDS = (0, 1, 2)
CONFIG = ql.QLearningConfig(alpha=0.1, gamma=0.99, epsilon_start=1.0, epsilon_end=0.05,
                            epsilon_decay_episodes=600, episodes=1000)
SMOOTH = 50  # episodes in the moving average of the stored learning curves
EVERY = 10  # store every 10th point of the curve
PREFIX = 200  # episodes whose returns are stored in full for the live check (seed 0)
EVAL_EPISODES = 20
EVAL_SEED = 10_000


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values (fewer at the start), same length as ``x``."""
    csum = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(1, len(x) + 1)
    start = np.maximum(idx - window, 0)
    return (csum[idx] - csum[start]) / (idx - start)


def run(bins: tuple[int, ...] | int, seed: int) -> dict:
    """Train one table and summarise it."""
    discretiser = ql.cartpole_discretiser(bins)
    t0 = time.perf_counter()
    agent, history = ql.train(CONFIG, "CartPole-v1", seed=seed, discretiser=discretiser)
    seconds = time.perf_counter() - t0
    returns = history.episode_returns()
    smooth = moving_average(returns, SMOOTH)
    # every update of a zero entry adds alpha * (1 + ...) > 0 (CartPole pays +1 per step), so "ever updated" is
    # exactly "not zero any more"
    visited = float(np.mean(agent.q != 0.0))
    ev = evaluate(agent, "CartPole-v1", n_episodes=EVAL_EPISODES, seed=EVAL_SEED)
    out = {
        "bins": [int(b) for b in discretiser.bins],
        "seed": seed,
        "n_states": discretiser.n_states,
        "table_entries": int(agent.q.size),
        "visited_fraction": visited,
        "env_steps": int(history.episodes[-1].env_steps),
        "final_return_mean": float(returns[-100:].mean()),
        "eval_return_mean": ev.mean,
        "curve_episode": list(range(EVERY, len(returns) + 1, EVERY)),
        "curve_return": [round(float(v), 2) for v in smooth[EVERY - 1::EVERY]],
        "seconds": round(seconds, 1),
    }
    if seed == SEEDS[0]:
        out["prefix_returns"] = [float(r) for r in returns[:PREFIX]]
    return out


def main() -> None:
    torch.set_num_threads(1)
    settings = [(b,) * 4 for b in BINS] + [HAND_MADE]
    runs = []
    for bins in settings:
        for seed in SEEDS:
            r = run(bins, seed)
            runs.append(r)
            print(f"bins {bins} seed {seed}: {r['n_states']} states, visited {r['visited_fraction']:.3f}, "
                  f"last-100 mean {r['final_return_mean']:.1f}, eval {r['eval_return_mean']:.1f}, "
                  f"{r['env_steps']} steps, {r['seconds']} s", flush=True)
    payload = {
        "script": "notebooks/scripts/nb02_cartpole_tables.py",
        "config": dataclasses.asdict(CONFIG),
        "smooth_window": SMOOTH,
        "prefix_episodes": PREFIX,
        "eval_episodes": EVAL_EPISODES,
        "eval_seed": EVAL_SEED,
        "runs": runs,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
