"""Notebook 07: ablation of PPO's implementation details on CartPole-v1 (stored; the notebook loads the result).

Each variant changes ONE detail of a base config (course_lib's CartPole defaults with a constant learning rate and
clip range, see BASE) - switched off, or for annealing, value clipping and the shared network switched on - and
trains every seed of ``config()["seeds"]`` for ``budget`` env steps. Saved per run: the learning curve (env steps,
mean return of the last 20 training episodes, one point per update), the run's wall-clock seconds and the
1-minute load average of the machine before and after it (so a reader can tell whether timings were taken under
load). Every variant's full PPOConfig is part of ``config()``, so a change of course_lib's defaults makes the
stored file stale.

    make data nb07_ablation        # or: flock /tmp/course-data.lock .venv/bin/python notebooks/scripts/nb07_ablation.py

Runs one after the other in one process (one torch thread): about 7 minutes on one quiet core.
"""
from __future__ import annotations

import dataclasses
import os
import time

import torch
from tqdm.auto import tqdm

from course_lib import stored_results
from course_lib.algos import ppo

SEEDS = list(range(1, 7))
BUDGET = 30_000
PREFIX_UPDATES = 3  # prefix(): the first updates of the base config, first seed
PREFIX_FIELDS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance")

# The base: course_lib's CartPole defaults with a constant learning rate and clip range. (The defaults anneal both
# to 0 over the run; over a short budget that stops learning early, which would hide what the other details do.
# Annealing is measured as a detail switched ON instead.)
BASE = {"anneal_lr": False, "anneal_clip": False}

SIMPLE_LOOP = "simple loop (1 env, no GAE)"

# label -> PPOConfig overrides on top of BASE (one detail changed per variant)
VARIANTS: dict[str, dict] = {
    "base (constant lr, clip)": {},
    "no advantage normalisation": {"norm_adv": False},
    "no gradient clipping": {"max_grad_norm": None},
    "no orthogonal init": {"ortho_init": False},
    "no GAE (n-step returns)": {"use_gae": False},
    "unclipped surrogate": {"objective": "unclipped"},
    "+ lr / clip annealing": {"anneal_lr": True, "anneal_clip": True},
    "+ value clipping": {"clip_vloss": True},
    "+ shared network": {"shared_network": True},
    # roughly the loop of many tutorials: one env, short rollouts, returns without GAE, full-batch epochs
    SIMPLE_LOOP: {"num_envs": 1, "num_steps": 32, "use_gae": False},
}


def variant_config(label: str) -> ppo.PPOConfig:
    return ppo.PPOConfig(**{**BASE, **VARIANTS[label]})


def config() -> dict:
    return {
        "budget": BUDGET,
        "seeds": SEEDS,
        "base": BASE,
        "overrides": VARIANTS,
        "variants": {label: dataclasses.asdict(variant_config(label)) for label in VARIANTS},
        "curve": "mean return of the last 20 finished training episodes, one point per update",
        "prefix": {"variant": next(iter(VARIANTS)), "seed": SEEDS[0], "updates": PREFIX_UPDATES,
                   "fields": list(PREFIX_FIELDS)},
    }


def _ppo_config(d: dict) -> ppo.PPOConfig:
    """A PPOConfig from its stored (JSON) form."""
    return ppo.PPOConfig(**{**d, "hidden": tuple(d["hidden"])})


def prefix_rows(history) -> list[list[float]]:
    """The prefix's numbers from a History: PREFIX_FIELDS of the first PREFIX_UPDATES update rows."""
    return [[float(getattr(row, f)) for f in PREFIX_FIELDS] for row in history.rows[:PREFIX_UPDATES]]


def prefix(config: dict) -> list[list[float]]:
    p = config["prefix"]
    cfg = _ppo_config(config["variants"][p["variant"]])
    torch.set_num_threads(1)
    _, history = ppo.train(cfg, seed=p["seed"], total_steps=p["updates"] * cfg.batch_size, progress=False)
    return prefix_rows(history)


def run(config: dict) -> dict:
    torch.set_num_threads(1)
    # the slow variant (many small updates) first, then the others, seed by seed
    labels = sorted(config["variants"], key=lambda lab: lab != SIMPLE_LOOP)
    jobs = [(label, seed) for label in labels for seed in config["seeds"]]
    runs = []
    for label, seed in tqdm(jobs, desc="nb07 ablation", unit="run"):
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        _, history = ppo.train(_ppo_config(config["variants"][label]), seed=seed, total_steps=config["budget"],
                               progress=False)
        seconds = time.perf_counter() - start
        ret = [None if v != v else round(float(v), 2) for v in history.column("episode_return_mean").tolist()]
        runs.append({"label": label, "seed": seed, "env_steps": history.column("env_steps").astype(int).tolist(),
                     "return_mean": ret, "seconds": round(seconds, 2),
                     "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)})
    return {"runs": runs, "cpu_count": os.cpu_count()}


if __name__ == "__main__":
    stored_results.main(__file__)
