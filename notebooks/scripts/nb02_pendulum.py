"""Notebook 02's continuous-action experiment on Pendulum-v1 (one torque in [-2, 2]), five seeds per setting.

Four ways to act, the same env-step budget:

- DQN over k evenly spaced torques (k = 3 and 11): the max over actions is a look-up over k outputs;
- PPO with a Gaussian actor (the library's ``pendulum_config``): the actor outputs a mean and a std;
- PPO with a categorical actor over 11 torques (same algorithm and settings, only the action head differs).

Pendulum needs more steps than a notebook can afford, so the runs are made once here. From the repository root
(about 12 minutes on one core of a busy 2-core CPU):

    make data nb02_pendulum        # or: .venv/bin/python notebooks/scripts/nb02_pendulum.py

It writes ``notebooks/data/nb02_pendulum.json`` with its provenance (see ``course_lib/stored_results.py``).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nb02_envs  # noqa: E402  (registers nb02/PendulumDiscrete{k}-v1)

from course_lib import stored_results  # noqa: E402
from course_lib.algos import dqn, ppo  # noqa: E402
from course_lib.evaluation import evaluate  # noqa: E402

TOTAL_STEPS = 50_000
SEEDS = [0, 1, 2, 3, 4]
DQN_LEVELS = (3, 11)
EVAL_EPISODES = 10
EVAL_SEED = 10_000
CURVE_EVERY = 1_000


def dqn_config(k: int) -> dqn.DQNConfig:
    """DQN over k torque levels; gamma = 0.9 like the PPO settings (Pendulum rewards are immediate)."""
    return dqn.DQNConfig(env_id=nb02_envs.env_id(k), hidden=(64, 64), batch_size=64, learning_rate=1e-3,
                         gamma=0.9, train_freq=4, gradient_steps=1, target_update_interval=500,
                         learning_starts=1_000, epsilon_decay_steps=8_000, epsilon_end=0.05,
                         buffer_size=TOTAL_STEPS)


def setups() -> list[tuple[str, str, object]]:
    """(label, algorithm, library config) of every setting compared."""
    out = [(f"DQN, {k} torques", "dqn", dqn_config(k)) for k in DQN_LEVELS]
    out += [("PPO, Gaussian actor", "ppo", ppo.pendulum_config()),
            ("PPO, 11 torques", "ppo", ppo.pendulum_config(env_id=nb02_envs.env_id(11)))]
    return out


def config() -> dict:
    return {
        "settings": [{"label": label, "algo": algo, "config": dataclasses.asdict(c)} for label, algo, c in setups()],
        "total_steps": TOTAL_STEPS,
        "seeds": SEEDS,
        "eval_episodes": EVAL_EPISODES,
        "eval_seed": EVAL_SEED,
        "curve_every": CURVE_EVERY,
        "prefix": {"dqn_steps": 1_500, "ppo_steps": 2_048, "seed": SEEDS[0]},
    }


def _library_config(setting: dict):
    """A stored setting back as (train function, library config)."""
    c = dict(setting["config"])
    c["hidden"] = tuple(c["hidden"])
    if setting["algo"] == "dqn":
        return dqn.train, dqn.DQNConfig(**c)
    return ppo.train, ppo.PPOConfig(**c)


def prefix(cfg: dict) -> dict:
    """A short run of the first DQN setting and PPO's first two updates (Gaussian actor), seed 0."""
    torch.set_num_threads(1)
    p = cfg["prefix"]
    by_algo = {s["algo"]: s for s in reversed(cfg["settings"])}  # the first setting of each algorithm
    train_dqn, c_dqn = _library_config(by_algo["dqn"])
    train_ppo, c_ppo = _library_config(by_algo["ppo"])
    _, h_dqn = train_dqn(c_dqn, seed=p["seed"], total_steps=p["dqn_steps"], progress=False)
    _, h_ppo = train_ppo(c_ppo, seed=p["seed"], total_steps=p["ppo_steps"], progress=False)
    return {
        "dqn_q_loss": [None if r.q_loss is None else float(r.q_loss) for r in h_dqn.rows],
        "dqn_episode_returns": h_dqn.episode_returns().tolist(),
        "ppo_value_loss": h_ppo.column("value_loss").tolist(),
        "ppo_approx_kl": h_ppo.column("approx_kl").tolist(),
    }


def run(cfg: dict) -> dict:
    torch.set_num_threads(1)
    runs = []
    with tqdm(total=len(cfg["settings"]) * len(cfg["seeds"]), desc="nb02 pendulum") as bar:
        for setting in cfg["settings"]:
            train, config = _library_config(setting)
            for seed in cfg["seeds"]:
                t0 = time.perf_counter()
                agent, history = train(config, seed=seed, total_steps=cfg["total_steps"], progress=False)
                seconds = time.perf_counter() - t0
                ev = evaluate(agent, config.env_id, n_episodes=cfg["eval_episodes"], seed=cfg["eval_seed"])
                xs, ys = nb02_envs.curve(history, cfg["curve_every"])
                runs.append({"label": setting["label"], "seed": seed, "env_steps": xs, "return_mean": ys,
                             "eval_return_mean": ev.mean, "seconds": round(seconds, 1)})
                bar.set_postfix_str(f"{setting['label']} seed {seed}: eval {ev.mean:.0f}")
                bar.update(1)
    return {"runs": runs}


if __name__ == "__main__":
    stored_results.main(__file__)
