"""Learning curves for notebook 03: REINFORCE, REINFORCE + baseline, TD actor-critic and GAE(0.95) on CartPole-v1.

The four runs take several minutes per seed on a small CPU, too long for the notebook, so this script trains them
once and writes a small summary to ``notebooks/data/nb03_learning_curves.json``:

* for every method and seed: the mean return of the last 20 training episodes and the critic's explained
  variance, sampled on a shared grid of env steps; the env steps at which the 20-episode mean first reached 475;
  the mean return of the last 20 training episodes;
* the first updates of REINFORCE + baseline, seed 0, row by row, so the notebook can rerun them live and show
  that the file came from this code.

Regenerate (from the repository root, about 15-25 minutes on 2 cores):

    .venv/bin/python notebooks/scripts/nb03_learning_curves.py

Options: ``--seeds 5 --steps 150000 --out notebooks/data/nb03_learning_curves.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from course_lib.algos import a2c, reinforce
from course_lib.training import History, steps_to_threshold

ROOT = Path(__file__).resolve().parents[2]
GRID_POINTS = 61
CHECK_UPDATES = 10  # rows of REINFORCE + baseline, seed 0, stored in full for the notebook's live rerun

# label -> (train function, config). Configs are the library defaults apart from the switch being compared.
METHODS = {
    "REINFORCE": (reinforce.train, reinforce.ReinforceConfig(baseline=False)),
    "REINFORCE + baseline": (reinforce.train, reinforce.ReinforceConfig(baseline=True)),
    "TD actor-critic (GAE lam=0)": (a2c.train, a2c.A2CConfig(gae=True, lam=0.0)),
    "GAE actor-critic (lam=0.95)": (a2c.train, a2c.A2CConfig(gae=True, lam=0.95)),
}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--out", type=Path, default=ROOT / "notebooks" / "data" / "nb03_learning_curves.json")
    args = parser.parse_args()
    torch.set_num_threads(1)

    grid = np.linspace(0, args.steps, GRID_POINTS)
    result: dict = {
        "script": "notebooks/scripts/nb03_learning_curves.py",
        "env_id": "CartPole-v1",
        "total_steps": args.steps,
        "seeds": list(range(args.seeds)),
        "grid_env_steps": [int(g) for g in grid],
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "methods": {},
    }
    for label, (train, config) in METHODS.items():
        runs = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            _, history = train(config, seed=seed, total_steps=args.steps, progress=False)
            rets = history.episode_returns()
            run = {
                "seed": seed,
                "return_mean_20": on_grid(history, "episode_return_mean", grid),
                "explained_variance": on_grid(history, "explained_variance", grid),
                "steps_to_475": steps_to_threshold(history, 475.0, window=20),
                "final_return_mean_20": round(float(rets[-20:].mean()), 2),
                "episodes": len(rets),
                "seconds": round(time.perf_counter() - start, 1),
            }
            if label == "REINFORCE + baseline" and seed == 0:
                run["first_rows"] = [
                    {"env_steps": r.env_steps, "episode_return_mean": r.episode_return_mean,
                     "policy_loss": r.policy_loss, "value_loss": r.value_loss}
                    for r in history.rows[:CHECK_UPDATES]
                ]
            runs.append(run)
            print(f"{label:30s} seed {seed}: final {run['final_return_mean_20']:6.1f}, "
                  f"475 at {run['steps_to_475']}, {run['seconds']} s", flush=True)
        result["methods"][label] = {"config": dataclasses.asdict(config), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
