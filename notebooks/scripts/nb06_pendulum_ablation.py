"""Notebook 06's central experiment, stored: PPO on Pendulum-v1 with and without each normalisation.

The notebook cannot afford 25 runs of 100k steps (about half a minute each on one quiet CPU core), so this script
runs them once and stores the result; the notebook loads it with ``stored_results.load`` and re-runs the prefix
live. Every run is ``course_lib.algos.ppo.train(ppo.pendulum_config(**switches), seed, total_steps)``: the
library's Pendulum settings with the three normalisation switches of the variant, nothing else changed.

Variants (a leave-one-out ablation around "all three on", plus "none"):

    all        norm_adv  scale_reward  norm_obs
    no_adv               scale_reward  norm_obs
    no_reward  norm_adv                norm_obs
    no_obs     norm_adv  scale_reward             (= course_lib's pendulum_config defaults)
    none

Usage, from the repository root (about 12 minutes on one quiet core, longer on a busy machine)::

    make data nb06_pendulum_ablation
    # or: flock /tmp/course-data.lock .venv/bin/python notebooks/scripts/nb06_pendulum_ablation.py

Writes ``notebooks/data/nb06_pendulum_ablation.json`` (provenance + data) and the trained agent of variant "all",
seed 0, to ``notebooks/data/nb06_pendulum_agent.pt`` (section 4.5 of the notebook evaluates it with and without
its observation statistics). The data::

    {"runs": [{"variant", "seed", "seconds", "eval_returns": [...],
               "curve_steps": [...], "curve_return": [...],           # mean of the last 20 training episodes
               "value_loss": [...], "explained_variance": [...],      # per update (NaN -> null)
               "first_update": [...],                                 # PREFIX_FIELDS of update 1, full precision
               "obs_mean": [...] | null, "obs_std": [...] | null}]}   # the frozen normaliser's statistics

Training returns are in the environment's own reward units (the collector records raw episode returns, even
when the rewards used for learning are scaled).
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import stored_results
from course_lib.algos import ppo
from course_lib.evaluation import evaluate

VARIANTS: dict[str, dict[str, bool]] = {
    "all": dict(norm_adv=True, scale_reward=True, norm_obs=True),
    "no_adv": dict(norm_adv=False, scale_reward=True, norm_obs=True),
    "no_reward": dict(norm_adv=True, scale_reward=False, norm_obs=True),
    "no_obs": dict(norm_adv=True, scale_reward=True, norm_obs=False),
    "none": dict(norm_adv=False, scale_reward=False, norm_obs=False),
}
SEEDS = [0, 1, 2, 3, 4]
TOTAL_STEPS = 100_000
EVAL_EPISODES = 10
EVAL_SEED = 10_000  # evaluation episodes start from reset(seed=EVAL_SEED + k), unseen in training
SAVED_AGENT = ["all", 0]  # (variant, seed) whose trained agent is saved for the notebook's section 4.5
AGENT_FILE = "nb06_pendulum_agent.pt"
OUTPUTS = [AGENT_FILE]
# prefix(): update 1 of every variant with the first seed. The learning rate is annealed over the run, but the
# first update uses the full rate whatever the budget, so a one-update run reproduces update 1 of the stored runs.
PREFIX_FIELDS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance")


def variant_config(switches: dict[str, bool]) -> ppo.PPOConfig:
    """The library's Pendulum settings with one variant's normalisation switches."""
    return ppo.pendulum_config(**switches)


def _ppo_config(d: dict) -> ppo.PPOConfig:
    """A PPOConfig from its stored (JSON) form."""
    return ppo.PPOConfig(**{**d, "hidden": tuple(d["hidden"])})


def config() -> dict:
    return {
        "env_id": "Pendulum-v1",
        "total_steps": TOTAL_STEPS,
        "seeds": SEEDS,
        "variants": VARIANTS,
        "configs": {name: dataclasses.asdict(variant_config(sw)) for name, sw in VARIANTS.items()},
        "base_config": dataclasses.asdict(ppo.pendulum_config()),
        "eval": {"episodes": EVAL_EPISODES, "seed": EVAL_SEED, "deterministic": True},
        "saved_agent": SAVED_AGENT,
        "curve": "mean return of the last 20 finished training episodes, one point per update",
        "prefix": {"seed": SEEDS[0], "update": 1, "fields": list(PREFIX_FIELDS)},
    }


def _floats(values: np.ndarray, digits: int) -> list[float | None]:
    """Rounded floats for JSON; NaN (no value yet) becomes None."""
    return [None if not math.isfinite(v) else round(float(v), digits) for v in values]


def first_update(history) -> list[float]:
    """PREFIX_FIELDS of a run's first update row, full precision."""
    row = history.rows[0]
    return [float(getattr(row, f)) for f in PREFIX_FIELDS]


def prefix(config: dict) -> dict[str, list[float]]:
    """Update 1 of every variant with the prefix seed (one 1,024-step rollout and one update each: ~2 s)."""
    torch.set_num_threads(1)
    out = {}
    for name, cfg_dict in config["configs"].items():
        cfg = _ppo_config(cfg_dict)
        _, history = ppo.train(cfg, seed=config["prefix"]["seed"], total_steps=cfg.batch_size, progress=False)
        out[name] = first_update(history)
    return out


def run_one(config: dict, variant: str, seed: int) -> dict:
    """Train one variant with one seed, evaluate it, and return its record (saving the agent of SAVED_AGENT)."""
    start = time.perf_counter()
    agent, history = ppo.train(_ppo_config(config["configs"][variant]), seed=seed,
                               total_steps=config["total_steps"], progress=False)
    seconds = time.perf_counter() - start
    if [variant, seed] == config["saved_agent"]:
        agent.save(stored_results.data_path(AGENT_FILE))
    ev = config["eval"]
    result = evaluate(agent, config["env_id"], n_episodes=ev["episodes"], deterministic=ev["deterministic"],
                      seed=ev["seed"])
    norm = agent.obs_normaliser
    return {
        "variant": variant,
        "seed": seed,
        "seconds": round(seconds, 1),
        "eval_returns": _floats(result.returns, 2),
        "curve_steps": [int(x) for x in history.column("env_steps")],
        "curve_return": _floats(history.column("episode_return_mean"), 2),
        "value_loss": _floats(history.column("value_loss"), 5),
        "explained_variance": _floats(history.column("explained_variance"), 4),
        "first_update": first_update(history),
        "obs_mean": None if norm is None else _floats(norm.rms.mean, 4),
        "obs_std": None if norm is None else _floats(norm.rms.std, 4),
    }


def run(config: dict) -> dict:
    torch.set_num_threads(1)
    jobs = [(variant, seed) for variant in config["variants"] for seed in config["seeds"]]
    runs = []
    for variant, seed in tqdm(jobs, desc="nb06 Pendulum ablation", unit="run"):
        runs.append(run_one(config, variant, seed))
        tqdm.write(f"{variant:10s} seed {seed}: eval {np.mean(runs[-1]['eval_returns']):8.1f}  "
                   f"({runs[-1]['seconds']:.0f} s)")
    return {"runs": runs}


if __name__ == "__main__":
    stored_results.main(__file__)
