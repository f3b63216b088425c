"""Notebook 07: the course's PPO against Stable-Baselines3's PPO on CartPole-v1, same budget, same seeds.

Each library runs with its OWN tuned CartPole settings, and ``config()`` records every one of them:

- course_lib: ``PPOConfig()``'s defaults of today (all fields);
- SB3: rl-baselines3-zoo's hyperparams/ppo.yml for CartPole-v1 (8 envs x 32 steps, 20 epochs of one batch of 256,
  gamma 0.98, GAE lambda 0.8, learning rate 1e-3 and clip range 0.2 both annealed linearly to 0) and SB3's
  defaults for everything else, read from a model SB3 builds (so an SB3 upgrade shows up as a changed config).

Saved per run: the training episodes (env steps at their end, return, length), steps-to-475, the wall-clock seconds
of training (envs and model built inside the timer for both) with the machine's 1-minute load average before and
after, and a deterministic evaluation (20 episodes, episode k from reset(seed=k)) with the same
``course_lib.evaluation.evaluate`` for both. Runs alternate course / SB3 per seed so that changes in machine load
hit both. For a speed comparison on a quiet machine use ``make bench`` (tests/benchmarks/bench_ppo.py).

    make data nb07_sb3_vs_course   # or: flock /tmp/course-data.lock .venv/bin/python notebooks/scripts/nb07_sb3_vs_course.py
"""
from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import stored_results
from course_lib.algos import ppo
from course_lib.evaluation import evaluate
from course_lib.record import History, steps_to_threshold

SEEDS = list(range(1, 9))
BUDGET = 50_000
EVAL = {"n_episodes": 20, "deterministic": True, "seed": 0}
PREFIX_UPDATES = 2

# rl-baselines3-zoo, hyperparams/ppo.yml, CartPole-v1 (schedules: "lin_X" = X * progress_remaining)
SB3_ZOO = {"n_envs": 8, "n_steps": 32, "batch_size": 256, "n_epochs": 20, "gamma": 0.98, "gae_lambda": 0.8,
           "ent_coef": 0.0, "learning_rate": {"start": 1e-3, "schedule": "linear to 0"},
           "clip_range": {"start": 0.2, "schedule": "linear to 0"}}
_SB3_INTERNAL = ("policy", "env", "rollout_buffer_class", "rollout_buffer_kwargs", "tensorboard_log", "verbose",
                 "seed", "device", "_init_setup_model", "policy_kwargs", "stats_window_size")


def _linear(start: float):
    """SB3 schedule: value at progress_remaining p (1 -> 0) is p * start."""
    return lambda progress_remaining: progress_remaining * start


def _sb3_kwargs(zoo: dict) -> dict:
    kwargs = {k: v for k, v in zoo.items() if k != "n_envs"}
    for key in ("learning_rate", "clip_range"):
        kwargs[key] = _linear(zoo[key]["start"])
    return kwargs


def sb3_model(zoo: dict, seed: int):
    """SB3's PPO with the zoo's CartPole settings (envs wrapped in Monitor by make_vec_env)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=zoo["n_envs"], seed=seed)
    return PPO("MlpPolicy", env, seed=seed, device="cpu", **_sb3_kwargs(zoo))


def sb3_settings() -> dict:
    """Every setting SB3's PPO uses here: the zoo's, then SB3's defaults as read from a freshly built model."""
    import inspect

    import stable_baselines3
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    model = sb3_model(SB3_ZOO, seed=0)
    defaults = {name: p.default for name, p in inspect.signature(PPO.__init__).parameters.items()
                if name not in ("self", *_SB3_INTERNAL) and name not in SB3_ZOO}
    policy = model.policy
    return {
        "version": stable_baselines3.__version__,
        "zoo": SB3_ZOO,
        "defaults_kept": defaults,
        "policy": {
            "net_arch": policy.net_arch,  # separate pi and vf MLPs
            "activation_fn": policy.activation_fn.__name__,
            "ortho_init": policy.ortho_init,
            "share_features_extractor": policy.share_features_extractor,  # Flatten only: no shared weights
            "optimizer": type(policy.optimizer).__name__,
            "adam_eps": policy.optimizer.defaults["eps"],
        },
        "value_loss": "F.mse_loss(returns, values): mean squared error, no 1/2",
        "truncation": "bootstrapped: reward += gamma * V(info['terminal_observation']) when TimeLimit.truncated",
    }


def config() -> dict:
    return {
        "budget": BUDGET,
        "seeds": SEEDS,
        "env_id": "CartPole-v1",
        "eval": EVAL,
        "course": dataclasses.asdict(ppo.PPOConfig()),
        "course_value_loss": "course_lib.losses.value_loss: 0.5 * mean squared error",
        "sb3": sb3_settings(),
        "prefix": {"seed": SEEDS[0], "updates": PREFIX_UPDATES},
    }


def _course_config(d: dict) -> ppo.PPOConfig:
    return ppo.PPOConfig(**{**d, "hidden": tuple(d["hidden"])})


class SB3Policy:
    """SB3 model -> course_lib's act(obs, deterministic) interface, so both use the same evaluate()."""

    def __init__(self, model) -> None:
        self.model = model

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return self.model.predict(obs, deterministic=deterministic)[0]


def _episode_recorder(history: History):
    """An SB3 callback copying every finished training episode (Monitor's info["episode"]) into ``history``."""
    from stable_baselines3.common.callbacks import BaseCallback

    class EpisodeRecorder(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    history.add_episode(int(self.num_timesteps), float(info["episode"]["r"]),
                                        int(info["episode"]["l"]))
            return True

    return EpisodeRecorder()


def _record(history: History, seconds: float, load_before: float, policy, config: dict) -> dict:
    ev = evaluate(policy, config["env_id"], n_episodes=config["eval"]["n_episodes"],
                  deterministic=config["eval"]["deterministic"], seed=config["eval"]["seed"])
    return {"episode_steps": history.episode_steps().astype(int).tolist(),
            "episode_returns": history.episode_returns().round(1).tolist(),
            "steps_to_475": steps_to_threshold(history),
            "seconds": round(seconds, 2), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2), "eval_mean": float(ev.mean)}


def run_course(config: dict, seed: int) -> dict:
    load_before, start = os.getloadavg()[0], time.perf_counter()
    agent, history = ppo.train(_course_config(config["course"]), seed=seed, total_steps=config["budget"],
                               progress=False)
    return _record(history, time.perf_counter() - start, load_before, agent, config)


def run_sb3(config: dict, seed: int) -> dict:
    history = History()
    load_before, start = os.getloadavg()[0], time.perf_counter()
    model = sb3_model(config["sb3"]["zoo"], seed)
    model.learn(config["budget"], callback=_episode_recorder(history))
    return _record(history, time.perf_counter() - start, load_before, SB3Policy(model), config)


def prefix(config: dict) -> dict:
    """Course: the first updates' losses; SB3: each parameter tensor's sum of |w| after its first updates (one seed)."""
    torch.set_num_threads(1)
    seed, k = config["prefix"]["seed"], config["prefix"]["updates"]
    cfg = _course_config(config["course"])
    _, history = ppo.train(cfg, seed=seed, total_steps=k * cfg.batch_size, progress=False)
    course = [[float(r.policy_loss), float(r.value_loss), float(r.approx_kl)] for r in history.rows]
    zoo = config["sb3"]["zoo"]
    model = sb3_model(zoo, seed)
    model.learn(k * zoo["n_envs"] * zoo["n_steps"])
    sb3 = [float(p.detach().abs().sum()) for p in model.policy.parameters()]
    return {"course": course, "sb3": sb3}


def run(config: dict) -> dict:
    torch.set_num_threads(1)
    # warm-up outside the timers: torch's lazily imported optimiser machinery, SB3's modules
    import stable_baselines3  # noqa: F401

    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    out: dict = {"course": {}, "sb3": {}, "cpu_count": os.cpu_count()}
    for seed in tqdm(config["seeds"], desc="nb07 SB3 vs course", unit="seed pair"):
        out["course"][str(seed)] = run_course(config, seed)
        out["sb3"][str(seed)] = run_sb3(config, seed)
    return out


if __name__ == "__main__":
    stored_results.main(__file__)
