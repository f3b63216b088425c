"""Precompute notebook 01's learning-rate grid for its one-step actor-critic (section 5.2 and section 8).

The notebook cannot afford 48 training runs, so this script runs them once and saves a small JSON file that
the notebook loads. It runs *the notebook's own code*: the code cells of
``notebooks/src/01_actor_critic_basics.py`` tagged ``nb01-td0`` (the imports, ``make_net``, ``td0_losses`` and
``train_td0``) are executed here, so the grid can never drift from what the notebook teaches. The notebook
checks that the grid's (actor 1e-3, critic 3e-3) runs equal its live runs of section 4.1.

Usage (from the repository root; about 5 minutes on 2 CPU cores)::

    .venv/bin/python notebooks/scripts/nb01_lr_grid.py

Writes ``notebooks/data/nb01_lr_grid.json``::

    {"lr_actor": [...], "lr_critic": [...], "seeds": [...], "total_steps": int, "num_envs": int, "gamma": float,
     "code_sha256": str, "runs": [{"lr_actor", "lr_critic", "seed", "final_return",
                                   "curve_steps": [...], "curve_return": [...]}, ...]}

``final_return`` is the mean return of the last 20 training episodes at the end of the run; the curve is that
running mean sampled at up to ``CURVE_POINTS`` updates (updates before the first finished episode are left out).
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks" / "src" / "01_actor_critic_basics.py"
OUT = ROOT / "notebooks" / "data" / "nb01_lr_grid.json"
TAG = "nb01-td0"

LR_ACTOR = [1e-4, 3e-4, 1e-3, 3e-3]
LR_CRITIC = [3e-4, 1e-3, 3e-3, 1e-2]
SEEDS = [0, 1, 2]
TOTAL_STEPS = 16_000  # the same budget as the notebook's live runs (TD0_STEPS)
NUM_ENVS = 16  # train_td0's default
GAMMA = 0.99  # train_td0's default
CURVE_POINTS = 40


def load_notebook_code() -> tuple[dict[str, Any], str]:
    """Execute the notebook source's code cells tagged TAG; return their namespace and the code's sha256."""
    sys.path.insert(0, str(ROOT / "tools"))
    from build_notebook import parse_percent

    cells = [c for c in parse_percent(SOURCE.read_text()) if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"no code cells tagged {TAG!r} in {SOURCE}")
    code = "\n\n".join(c.source for c in cells)
    namespace: dict[str, Any] = {"__name__": "nb01_notebook_code"}
    exec(compile(code, f"{SOURCE.name} (cells tagged {TAG})", "exec"), namespace)
    return namespace, hashlib.sha256(code.encode()).hexdigest()


def curve(history: Any, points: int) -> tuple[list[float], list[float]]:
    """The run's 'mean return of the last 20 episodes' column, sampled at up to `points` updates."""
    steps, ret = history.column("env_steps"), history.column("episode_return_mean")
    keep = np.flatnonzero(np.isfinite(ret))
    pick = keep[np.unique(np.linspace(0, len(keep) - 1, points).round().astype(int))]
    return [float(x) for x in steps[pick]], [round(float(y), 3) for y in ret[pick]]


def main() -> int:
    namespace, sha = load_notebook_code()
    train_td0 = namespace["train_td0"]
    runs = []
    start = time.perf_counter()
    for lr_actor in LR_ACTOR:
        for lr_critic in LR_CRITIC:
            for seed in SEEDS:
                h = train_td0(seed, TOTAL_STEPS, num_envs=NUM_ENVS, lr_actor=lr_actor, lr_critic=lr_critic,
                              gamma=GAMMA)
                xs, ys = curve(h, CURVE_POINTS)
                final = h.recent_return_mean(20)
                runs.append({"lr_actor": lr_actor, "lr_critic": lr_critic, "seed": seed,
                             "final_return": float(final), "curve_steps": xs, "curve_return": ys})
                print(f"actor {lr_actor:g} critic {lr_critic:g} seed {seed}: final {final:.1f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    result = {"lr_actor": LR_ACTOR, "lr_critic": LR_CRITIC, "seeds": SEEDS, "total_steps": TOTAL_STEPS,
              "num_envs": NUM_ENVS, "gamma": GAMMA, "code_sha256": sha, "runs": runs}
    OUT.write_text(json.dumps(result, indent=0) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} kB) in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
