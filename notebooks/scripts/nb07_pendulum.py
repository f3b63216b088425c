"""Notebook 07: train course_lib's PPO (Gaussian policy) on Pendulum-v1 for 100k steps and save the agent.

Too slow to run inside the notebook's time budget on a shared 2-core CPU, so it runs once here; the notebook
loads the agent, evaluates it live and animates it, and re-runs the first update live (``prefix``) to check that
this script's run is reproduced by today's code.

    make data nb07_pendulum   # writes notebooks/data/nb07_pendulum.json (the History) and nb07_pendulum_agent.pt
"""
from __future__ import annotations

import dataclasses
import os
import time

import torch

from course_lib import stored_results
from course_lib.agent import ActorCriticAgent  # noqa: F401  (the saved agent's class)
from course_lib.algos import ppo
from course_lib.evaluation import evaluate

OUTPUTS = ["nb07_pendulum_agent.pt"]
PREFIX_FIELDS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance")


def config() -> dict:
    return {"seeds": [1], "budget": 100_000, "ppo": dataclasses.asdict(ppo.pendulum_config()),
            "eval": {"n_episodes": 10, "deterministic": True, "seed": 0}, "prefix_updates": 1}


def _ppo_config(d: dict) -> ppo.PPOConfig:
    return ppo.PPOConfig(**{**d, "hidden": tuple(d["hidden"])})


def prefix_rows(history) -> list[list[float]]:
    """PREFIX_FIELDS of every update row of ``history`` (the notebook builds the same list from its live run)."""
    return [[float(getattr(row, f)) for f in PREFIX_FIELDS] for row in history.rows]


def prefix(config: dict) -> list[list[float]]:
    torch.set_num_threads(1)
    cfg = _ppo_config(config["ppo"])
    _, history = ppo.train(cfg, seed=config["seeds"][0], total_steps=config["prefix_updates"] * cfg.batch_size,
                           progress=False)
    return prefix_rows(history)


def run(config: dict) -> dict:
    torch.set_num_threads(1)
    load_before, start = os.getloadavg()[0], time.perf_counter()
    agent, history = ppo.train(_ppo_config(config["ppo"]), seed=config["seeds"][0], total_steps=config["budget"],
                               progress=True)
    seconds = time.perf_counter() - start
    ev = config["eval"]
    result = evaluate(agent, "Pendulum-v1", n_episodes=ev["n_episodes"], deterministic=ev["deterministic"],
                      seed=ev["seed"])
    agent.save(stored_results.data_path(OUTPUTS[0]))
    return {"history": history.to_dict(), "eval_mean": float(result.mean), "seconds": round(seconds, 1),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    stored_results.main(__file__)
