"""Precompute the longer-budget half of notebook 02's head-to-head: DQN against A2C on CartPole-v1.

The notebook runs both live for a short budget; this script runs the same settings (checked by the notebook)
for a longer one, three seeds each. Run from the repository root (roughly ten minutes on a busy 2-core CPU):

    .venv/bin/python notebooks/scripts/nb02_head_to_head.py

It writes ``notebooks/data/nb02_head_to_head.json`` (tens of kB): per run, the learning curve (mean return of
the last 20 training episodes, sampled every ~1000 env steps), the greedy evaluation return and the wall time.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from course_lib.algos import a2c, dqn
from course_lib.training import evaluate

OUT = Path(__file__).resolve().parents[1] / "data" / "nb02_head_to_head.json"
TOTAL_STEPS = 50_000
SEEDS = (0, 1, 2)
EVAL_EPISODES = 10
EVAL_SEED = 10_000

# DQN made small for a CPU notebook: a 64x64 network, one gradient step every 4 env steps (the best of
# train_freq 4 / 8 / 8 with 2 steps, tried at the notebook's 12k-step budget).
DQN_CONFIG = dqn.DQNConfig(hidden=(64, 64), batch_size=64, learning_rate=1e-3, train_freq=4, gradient_steps=1,
                           target_update_interval=500, learning_starts=500, epsilon_decay_steps=4_000,
                           epsilon_end=0.05)
# A2C with the library's defaults (8 envs x 8 steps per update, n-step returns) but a constant learning rate:
# annealing it to 0 over a short run stops A2C from learning early (the notebook's live budget is 12k steps).
A2C_CONFIG = a2c.A2CConfig(anneal_lr=False)


def curve(history, every: int = 1_000) -> tuple[list[int], list[float]]:
    """(env_steps, episode_return_mean) at the first row past each multiple of ``every`` env steps."""
    steps, rets = history.column("env_steps"), history.column("episode_return_mean")
    xs, ys, next_mark = [], [], every
    for s, r in zip(steps, rets):
        if s >= next_mark and np.isfinite(r):
            xs.append(int(s))
            ys.append(round(float(r), 2))
            next_mark = (int(s) // every + 1) * every
    return xs, ys


def main() -> None:
    torch.set_num_threads(1)
    runs = []
    for name, train, config in (("DQN", dqn.train, DQN_CONFIG), ("A2C", a2c.train, A2C_CONFIG)):
        for seed in SEEDS:
            t0 = time.perf_counter()
            agent, history = train(config, seed=seed, total_steps=TOTAL_STEPS, progress=False)
            seconds = time.perf_counter() - t0
            ev = evaluate(agent, "CartPole-v1", n_episodes=EVAL_EPISODES, seed=EVAL_SEED)
            xs, ys = curve(history)
            runs.append({"algo": name, "seed": seed, "env_steps": xs, "return_mean": ys,
                         "eval_return_mean": ev.mean, "seconds": round(seconds, 1)})
            print(f"{name} seed {seed}: last {ys[-1]:.1f}, eval {ev.mean:.1f}, {seconds:.0f} s", flush=True)
    payload = {
        "script": "notebooks/scripts/nb02_head_to_head.py",
        "total_steps": TOTAL_STEPS,
        "eval_episodes": EVAL_EPISODES,
        "eval_seed": EVAL_SEED,
        "dqn_config": dataclasses.asdict(DQN_CONFIG),
        "a2c_config": dataclasses.asdict(A2C_CONFIG),
        "runs": runs,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
