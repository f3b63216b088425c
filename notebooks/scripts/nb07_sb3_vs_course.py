"""Notebook 07: the course's PPO against Stable-Baselines3's PPO on CartPole-v1, same budget, same seeds.

Each library with its own tuned CartPole settings: SB3 with rl-baselines3-zoo's (20 epochs on one batch of 256,
lr 1e-3 annealed), course_lib with PPOConfig's defaults at the time of the run (stored in the result file). Both
use 8 envs x 32 steps, gamma 0.98, GAE lambda 0.8 and clip 0.2 annealed linearly. SB3 keeps its defaults
otherwise. Saved per run: the
training episodes (env steps at the end, return), the wall-clock seconds of training (envs and model built
inside the timer), and a deterministic evaluation (20 episodes, episode k from reset(seed=k)) with the same
``course_lib.training.evaluate`` for both.

    cd /work/main && .venv/bin/python notebooks/scripts/nb07_sb3_vs_course.py   # writes notebooks/data/nb07_sb3_vs_course.json

Runs alternate course / SB3 per seed so that changes in machine load hit both.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)

from course_lib.algos import ppo  # noqa: E402
from course_lib.training import evaluate  # noqa: E402

SEEDS = (1, 2, 3)
BUDGET = 50_000
OUT = Path(__file__).resolve().parents[1] / "data" / "nb07_sb3_vs_course.json"


class SB3Policy:
    """SB3 model -> course_lib's act(obs, deterministic) interface, so both use the same evaluate()."""

    def __init__(self, model) -> None:
        self.model = model

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return self.model.predict(obs, deterministic=deterministic)[0]


def run_course(seed: int) -> dict:
    start = time.perf_counter()
    agent, history = ppo.train(ppo.PPOConfig(), seed=seed, total_steps=BUDGET, progress=False)
    seconds = time.perf_counter() - start
    ev = evaluate(agent, "CartPole-v1", n_episodes=20, seed=0)
    return {"episode_steps": history.episode_steps().astype(int).tolist(),
            "episode_returns": history.episode_returns().round(1).tolist(), "seconds": round(seconds, 1),
            "eval_mean": ev.mean, "config": dataclasses.asdict(ppo.PPOConfig())}


def run_sb3(seed: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    steps, returns = [], []

    class Recorder(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:  # Monitor's summary of a finished episode
                    steps.append(int(self.num_timesteps))
                    returns.append(round(float(info["episode"]["r"]), 1))
            return True

    start = time.perf_counter()
    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, n_epochs=20, gamma=0.98, gae_lambda=0.8,
                learning_rate=lambda p: 1e-3 * p, clip_range=lambda p: 0.2 * p, ent_coef=0.0, seed=seed,
                device="cpu")
    model.learn(BUDGET, callback=Recorder())
    seconds = time.perf_counter() - start
    ev = evaluate(SB3Policy(model), "CartPole-v1", n_episodes=20, seed=0)
    return {"episode_steps": steps, "episode_returns": returns, "seconds": round(seconds, 1), "eval_mean": ev.mean}


def main() -> None:
    out = {"budget": BUDGET, "seeds": list(SEEDS), "course": {}, "sb3": {}}
    for seed in SEEDS:
        out["course"][str(seed)] = run_course(seed)
        print("course", seed, out["course"][str(seed)]["seconds"], out["course"][str(seed)]["eval_mean"], flush=True)
        out["sb3"][str(seed)] = run_sb3(seed)
        print("sb3", seed, out["sb3"][str(seed)]["seconds"], out["sb3"][str(seed)]["eval_mean"], flush=True)
    OUT.write_text(json.dumps(out))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
