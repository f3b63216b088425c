"""Notebook 05: the course's PPO lands LunarLander-v3 (three seeds, 1M steps each, ``ppo.lunarlander_config()``).

LunarLander counts as solved at a return of 200. The script trains the seeds of ``config()`` in two worker
processes (one per core), scores each run by the steps it needed to reach a rolling training return of 200 and by
a deterministic evaluation of its final policy, and saves the first seed's agent for notebook 05's animation.

    make data nb05_lunarlander     # two worker processes, about 9 minutes

The payload (``stored.data``)::

    {"runs": [{"seed", "steps_to_threshold", "eval_mean", "eval_returns", "seconds",
               "env_steps": [...], "episode_return_mean": [...]}, ...],      # one row per update
     "random": mean return of uniformly random actions (``evaluation.RandomPolicy``)}
"""
from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import stored_results
from course_lib.algos import ppo
from course_lib.evaluation import RandomPolicy, evaluate
from course_lib.record import steps_to_threshold

OUTPUTS = ["nb05_lunarlander_agent.pt"]
PREFIX_FIELDS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance")


def config() -> dict:
    return {
        "seeds": [1, 2, 3], "budget": 1_000_000, "ppo": dataclasses.asdict(ppo.lunarlander_config()),
        "threshold": 200.0, "window": 20,
        "eval": {"n_episodes": 20, "deterministic": True, "seed": 0},
        "random_episodes": 20, "agent_seed": 1, "prefix_updates": 2, "workers": 2,
    }


def ppo_config(config: dict) -> ppo.PPOConfig:
    d = config["ppo"]
    return ppo.PPOConfig(**{**d, "hidden": tuple(d["hidden"])})


def prefix(config: dict) -> list[list[float]]:
    """The first updates of the saved agent's run (a few seconds)."""
    torch.set_num_threads(1)
    cfg = ppo_config(config)
    _, history = ppo.train(cfg, seed=config["agent_seed"], total_steps=config["prefix_updates"] * cfg.batch_size,
                           progress=False)
    return [[float(getattr(row, f)) for f in PREFIX_FIELDS] for row in history.rows]


def _one_run(job: tuple[dict, int]) -> dict:
    """Train one seed and score it; runs in a worker process with one torch thread."""
    config, seed = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    agent, history = ppo.train(ppo_config(config), seed=seed, total_steps=config["budget"], progress=False)
    seconds = time.perf_counter() - start
    ev = config["eval"]
    result = evaluate(agent, config["ppo"]["env_id"], n_episodes=ev["n_episodes"], deterministic=ev["deterministic"],
                      seed=ev["seed"])
    if seed == config["agent_seed"]:
        agent.save(stored_results.data_path(OUTPUTS[0]))
    return {"seed": seed, "steps_to_threshold": steps_to_threshold(history, config["threshold"], config["window"]),
            "eval_mean": round(float(result.mean), 2), "eval_returns": [round(float(r), 2) for r in result.returns],
            "seconds": round(seconds, 1), "env_steps": [int(s) for s in history.column("env_steps")],
            "episode_return_mean": [round(float(r), 2) if np.isfinite(r) else None
                                    for r in history.column("episode_return_mean")]}


def run(config: dict) -> dict:
    jobs = [(config, seed) for seed in config["seeds"]]
    # the workers find _one_run by this file's plain module name (notebooks/scripts is on sys.path)
    worker = importlib.import_module(Path(__file__).stem)._one_run
    with multiprocessing.get_context("spawn").Pool(config["workers"]) as pool:
        runs = list(tqdm(pool.imap(worker, jobs), total=len(jobs), desc="LunarLander seeds"))
    env_id = config["ppo"]["env_id"]
    # random actions on the evaluation's episode starts
    random_eval = evaluate(RandomPolicy(env_id), env_id, n_episodes=config["random_episodes"], seed=config["eval"]["seed"])
    return {"runs": runs, "random": round(random_eval.mean, 2),
            "load_after": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    stored_results.main(__file__)
