"""Precompute notebook 06's central experiment: PPO on Pendulum-v1 with and without each normalisation.

The notebook cannot afford 15 runs of 100k steps (about a minute each on one CPU core), so this script runs
them once and writes a small JSON file that the notebook loads and plots. Every run is
``course_lib.algos.ppo.train(ppo.pendulum_config(**switches), seed, TOTAL_STEPS)``: the library's Pendulum
settings with the three normalisation switches of the variant, nothing else changed.

Variants (a leave-one-out ablation around "all three on", plus "none"):

    all        norm_adv  scale_reward  norm_obs
    no_adv               scale_reward  norm_obs
    no_reward  norm_adv                norm_obs
    no_obs     norm_adv  scale_reward             (= course_lib's pendulum_config defaults)
    none

Usage (from the repository root; about 15-25 minutes on one CPU core, longer while the machine is busy)::

    .venv/bin/python notebooks/scripts/nb06_pendulum_ablation.py [--variants all none] [--seeds 0 1 2]

Runs already present in the output file (same variant, seed and budget) are kept, so the script can be run
in pieces. The trained agent of variant "all", seed 0 is saved to ``notebooks/data/nb06_pendulum_agent.pt``
(section 4.5 of the notebook evaluates it with and without its observation statistics). Writes
``notebooks/data/nb06_pendulum_ablation.json``::

    {"script": str, "env_id": str, "total_steps": int, "eval_episodes": int, "eval_seed": int,
     "base_config": {...}, "variants": {name: {switch: bool}},
     "runs": [{"variant", "seed", "seconds", "eval_returns": [...],
               "curve_steps": [...], "curve_return": [...],           # mean of the last 20 training episodes
               "value_loss": [...], "explained_variance": [...],      # per update (None -> NaN in JSON: null)
               "obs_mean": [...] | null, "obs_std": [...] | null}]}   # the frozen normaliser's statistics

Training returns are in the environment's own reward units (the collector records raw episode returns, even
when the rewards used for learning are scaled).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from course_lib.algos import ppo
from course_lib.training import evaluate

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "notebooks" / "data" / "nb06_pendulum_ablation.json"
AGENT_OUT = ROOT / "notebooks" / "data" / "nb06_pendulum_agent.pt"
SAVED_AGENT = ("all", 0)  # (variant, seed) whose trained agent is saved for the notebook's section 4.5

VARIANTS: dict[str, dict[str, bool]] = {
    "all": dict(norm_adv=True, scale_reward=True, norm_obs=True),
    "no_adv": dict(norm_adv=False, scale_reward=True, norm_obs=True),
    "no_reward": dict(norm_adv=True, scale_reward=False, norm_obs=True),
    "no_obs": dict(norm_adv=True, scale_reward=True, norm_obs=False),
    "none": dict(norm_adv=False, scale_reward=False, norm_obs=False),
}
SEEDS = [0, 1, 2]
TOTAL_STEPS = 100_000
EVAL_EPISODES = 10
EVAL_SEED = 10_000  # evaluation episodes start from reset(seed=EVAL_SEED + k), unseen in training


def _floats(values: np.ndarray, digits: int) -> list[float | None]:
    """Rounded floats for JSON; NaN (no value yet) becomes None."""
    return [None if not math.isfinite(v) else round(float(v), digits) for v in values]


def run_one(variant: str, seed: int) -> dict:
    """Train one variant with one seed, evaluate it, and return its JSON record.

    The agent of SAVED_AGENT is also written to AGENT_OUT (``ActorCriticAgent.save``: spec, weights and the
    frozen observation statistics, about 40 kB).
    """
    start = time.perf_counter()
    agent, history = ppo.train(ppo.pendulum_config(**VARIANTS[variant]), seed=seed, total_steps=TOTAL_STEPS,
                               progress=False)
    seconds = time.perf_counter() - start
    if (variant, seed) == SAVED_AGENT:
        agent.save(AGENT_OUT)
    result = evaluate(agent, "Pendulum-v1", n_episodes=EVAL_EPISODES, deterministic=True, seed=EVAL_SEED)
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
        "obs_mean": None if norm is None else _floats(norm.rms.mean, 4),
        "obs_std": None if norm is None else _floats(norm.rms.std, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=SEEDS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)

    base = dataclasses.asdict(ppo.pendulum_config())
    base["hidden"] = list(base["hidden"])
    data = {
        "script": "notebooks/scripts/nb06_pendulum_ablation.py",
        "env_id": "Pendulum-v1",
        "total_steps": TOTAL_STEPS,
        "eval_episodes": EVAL_EPISODES,
        "eval_seed": EVAL_SEED,
        "base_config": base,
        "variants": VARIANTS,
        "runs": [],
    }
    if args.out.exists():
        old = json.loads(args.out.read_text())
        if old.get("total_steps") == TOTAL_STEPS and old.get("base_config") == base:
            data["runs"] = old["runs"]
    for variant in args.variants:
        for seed in args.seeds:
            data["runs"] = [r for r in data["runs"] if (r["variant"], r["seed"]) != (variant, seed)]
            record = run_one(variant, seed)
            data["runs"].append(record)
            data["runs"].sort(key=lambda r: (list(VARIANTS).index(r["variant"]), r["seed"]))
            args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")  # save after every run
            print(f"{variant:10s} seed {seed}: eval {np.mean(record['eval_returns']):8.1f}  "
                  f"({record['seconds']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
