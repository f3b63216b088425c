"""Precompute notebook 02's continuous-action experiment on Pendulum-v1 (one torque in [-2, 2]).

Three ways to act, three seeds each, the same env-step budget:

- DQN over k evenly spaced torques (k = 3, 5, 11): the max over actions is a look-up over k outputs;
- PPO with a Gaussian actor (the library's ``pendulum_config``): the actor outputs a mean and a std;
- PPO with a categorical actor over 11 torques (same algorithm and settings, only the action head differs).

Pendulum needs more steps than a notebook can afford, so the runs are made once here. From the repository root
(about half an hour on a busy 2-core CPU):

    .venv/bin/python notebooks/scripts/nb02_pendulum.py

It writes ``notebooks/data/nb02_pendulum.json`` (tens of kB).
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nb02_envs  # noqa: E402  (registers nb02/PendulumDiscrete{k}-v1)
from nb02_head_to_head import curve  # noqa: E402

from course_lib.algos import dqn, ppo  # noqa: E402
from course_lib.training import evaluate  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "data" / "nb02_pendulum.json"
TOTAL_STEPS = 50_000
SEEDS = (0, 1, 2)
EVAL_EPISODES = 10
EVAL_SEED = 10_000


def dqn_config(k: int) -> dqn.DQNConfig:
    """DQN over k torque levels; gamma = 0.9 like the PPO settings (Pendulum rewards are immediate)."""
    return dqn.DQNConfig(env_id=nb02_envs.env_id(k), hidden=(64, 64), batch_size=64, learning_rate=1e-3,
                         gamma=0.9, train_freq=4, gradient_steps=1, target_update_interval=500,
                         learning_starts=1_000, epsilon_decay_steps=8_000, epsilon_end=0.05,
                         buffer_size=TOTAL_STEPS)


def main() -> None:
    torch.set_num_threads(1)
    setups = [(f"DQN, {k} torques", dqn.train, dqn_config(k), nb02_envs.env_id(k)) for k in nb02_envs.TORQUE_LEVELS]
    setups += [
        ("PPO, Gaussian actor", ppo.train, ppo.pendulum_config(), "Pendulum-v1"),
        ("PPO, 11 torques", ppo.train, ppo.pendulum_config(env_id=nb02_envs.env_id(11)), nb02_envs.env_id(11)),
    ]
    runs, configs = [], {}
    for label, train, config, eval_id in setups:
        configs[label] = dataclasses.asdict(config)
        for seed in SEEDS:
            t0 = time.perf_counter()
            agent, history = train(config, seed=seed, total_steps=TOTAL_STEPS, progress=False)
            seconds = time.perf_counter() - t0
            ev = evaluate(agent, eval_id, n_episodes=EVAL_EPISODES, seed=EVAL_SEED)
            xs, ys = curve(history)
            runs.append({"label": label, "seed": seed, "env_steps": xs, "return_mean": ys,
                         "eval_return_mean": ev.mean, "seconds": round(seconds, 1)})
            print(f"{label} seed {seed}: last {ys[-1]:.1f}, eval {ev.mean:.1f}, {seconds:.0f} s", flush=True)
    payload = {"script": "notebooks/scripts/nb02_pendulum.py", "total_steps": TOTAL_STEPS,
               "eval_episodes": EVAL_EPISODES, "eval_seed": EVAL_SEED, "configs": configs, "runs": runs}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=1))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
