"""Precompute notebook 05's training runs: TRPO vs PPO-clip vs PPO-KL, and PPO's batch size / minibatch grid.

The notebook cannot afford these training runs in its time budget, so this script runs them once and stores
them in ``notebooks/data/nb05_runs.json`` (with provenance, see ``course_lib/stored_results.py``). It runs *the
notebook's own code*: the code cell of ``notebooks/src/05_trust_regions.py`` tagged ``nb05-runs`` (the configs,
the ``MeasureKL`` wrapper, ``train_measured``, ``run_summary`` and ``live_prefix``) is executed here, so the stored
runs cannot drift from what the notebook shows. The notebook re-runs the first updates live (``prefix``) and
asserts that they reproduce the file.

Usage (from the repository root; about 10-15 minutes on one core)::

    make data nb05_runs        # or: flock /tmp/course-data.lock .venv/bin/python notebooks/scripts/nb05_runs.py

The payload (``stored.data``)::

    {"compare": {name: {seed: run_summary(...)}},     # every update: returns, exact mean and max KL, ratios, ...
     "batch": [{"num_steps", "num_minibatches", "batch_size", "seed", "grad_steps", "steps_to_475",
                "final_return", "seconds", "curve_steps": [...], "curve_return": [...]}, ...]}
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import stored_results

NOTEBOOK_CELLS = ("05_trust_regions", "nb05-runs")
CURVE_EVERY = 1_024  # env steps between stored points of the batch-grid learning curves
PREFIX_UPDATES = 2   # updates of seed 0 of each compared algorithm that prefix() re-runs


def _cells() -> dict:
    return stored_results.load_tagged_cells(*NOTEBOOK_CELLS)


def config() -> dict:
    """Every setting of the stored runs, read from the notebook's tagged cell."""
    ns = _cells()
    return {
        "compare": {name: {"algorithm": type(c).__name__, **dataclasses.asdict(c)}
                    for name, c in ns["COMPARE_CONFIGS"].items()},
        "compare_steps": ns["COMPARE_STEPS"],
        "batch": {f"{t}x{m}": dataclasses.asdict(ns["batch_config"](t, m))
                  for t in ns["BATCH_STEPS"] for m in ns["BATCH_MINIBATCHES"]},
        "batch_steps": list(ns["BATCH_STEPS"]), "batch_minibatches": list(ns["BATCH_MINIBATCHES"]),
        "batch_total_steps": ns["BATCH_TOTAL_STEPS"],
        "seeds": list(ns["RUN_SEEDS"]),
        "curve_every": CURVE_EVERY, "prefix_updates": PREFIX_UPDATES,
        "measured": "exact mean and max per-state KL(pi_old || pi_new) on each update's rollout (MeasureKL)",
    }


def prefix(config: dict) -> dict:
    """The first PREFIX_UPDATES updates of seed 0 of TRPO, PPO-clip and PPO-KL (a few seconds)."""
    torch.set_num_threads(1)
    return _cells()["live_prefix"](config["seeds"][0], config["prefix_updates"])


def thin_curve(summary: dict, every: int) -> tuple[list[int], list[float]]:
    """(env_steps, mean return of the last 20 episodes) at the first update past each multiple of ``every``."""
    xs, ys, mark = [], [], every
    for s, r in zip(summary["env_steps"], summary["episode_return_mean"]):
        if s >= mark and r is not None:
            xs.append(int(s))
            ys.append(round(float(r), 2))
            mark = (int(s) // every + 1) * every
    return xs, ys


def run(config: dict) -> dict:
    torch.set_num_threads(1)
    ns = _cells()
    seeds = config["seeds"]
    jobs = [("compare", name, None, seed) for name in ns["COMPARE_CONFIGS"] for seed in seeds]
    jobs += [("batch", t, m, seed) for t in config["batch_steps"] for m in config["batch_minibatches"] for seed in seeds]
    compare: dict[str, dict[str, dict]] = {name: {} for name in ns["COMPARE_CONFIGS"]}
    batch = []
    for kind, a, b, seed in tqdm(jobs, desc="nb05 runs"):
        if kind == "compare":
            history, record, seconds = ns["train_measured"](ns["COMPARE_CONFIGS"][a], seed, config["compare_steps"])
            compare[a][str(seed)] = ns["run_summary"](history, record, seconds)
            continue
        run_config = ns["batch_config"](a, b)
        history, record, seconds = ns["train_measured"](run_config, seed, config["batch_total_steps"])
        summary = ns["run_summary"](history, record, seconds)
        xs, ys = thin_curve(summary, config["curve_every"])
        epochs = np.nan_to_num(history.column("epochs"))
        batch.append({
            "num_steps": a, "num_minibatches": b, "batch_size": run_config.batch_size, "seed": seed,
            "grad_steps": int(round(float(epochs.sum()) * b)), "steps_to_475": summary["steps_to_475"],
            "final_return": round(history.recent_return_mean(), 2), "seconds": summary["seconds"],
            "curve_steps": xs, "curve_return": ys,
        })
    return {"compare": compare, "batch": batch}


if __name__ == "__main__":
    stored_results.main(__file__)
