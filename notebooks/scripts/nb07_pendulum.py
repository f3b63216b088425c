"""Notebook 07: train course_lib's PPO (Gaussian policy) on Pendulum-v1 for 100k steps and save the agent.

Too slow to run inside the notebook's time budget on a shared 2-core CPU, so it runs once here; the notebook
loads the agent, evaluates it live and animates it, and re-runs the first updates live to check that this
script's run is reproduced.

    cd /work/main && .venv/bin/python notebooks/scripts/nb07_pendulum.py
    # writes notebooks/data/nb07_pendulum_agent.pt (ActorCriticAgent.save) and nb07_pendulum_history.json
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

torch.set_num_threads(1)

from course_lib.algos import ppo  # noqa: E402
from course_lib.training import evaluate  # noqa: E402

SEED = 1
BUDGET = 100_000
DATA = Path(__file__).resolve().parents[1] / "data"


def main() -> None:
    start = time.perf_counter()
    agent, history = ppo.train(ppo.pendulum_config(), seed=SEED, total_steps=BUDGET, progress=False)
    seconds = time.perf_counter() - start
    result = evaluate(agent, "Pendulum-v1", n_episodes=10, deterministic=True, seed=0)
    print(f"seed {SEED}: {seconds:.0f} s, evaluation mean {result.mean:.1f} (episodes from reset(seed=0..9))")
    agent.save(DATA / "nb07_pendulum_agent.pt")
    history.save(DATA / "nb07_pendulum_history.json")


if __name__ == "__main__":
    main()
