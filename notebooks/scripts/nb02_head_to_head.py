"""Notebook 02's head-to-head at a longer budget: DQN against A2C on CartPole-v1, ten seeds each.

The notebook runs one seed of each live for a short budget; this script runs the *notebook's own settings*
(its cell tagged ``nb02-h2h-configs``, executed here) for 50,000 env steps per run. From the repository root
(about 8 minutes on one core of a busy 2-core CPU):

    make data nb02_head_to_head        # or: .venv/bin/python notebooks/scripts/nb02_head_to_head.py

It writes ``notebooks/data/nb02_head_to_head.json`` with its provenance (see ``course_lib/stored_results.py``):
per run, the learning curve (mean return of the last 20 training episodes, about every 1000 env steps), the
greedy evaluation return and the wall time.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nb02_envs import curve  # noqa: E402

from course_lib import stored_results  # noqa: E402
from course_lib.algos import a2c, dqn  # noqa: E402
from course_lib.evaluation import evaluate  # noqa: E402

NOTEBOOK_CELLS = ("02_beyond_q_learning", "nb02-h2h-configs")
TOTAL_STEPS = 50_000
SEEDS = list(range(10))
CURVE_EVERY = 1_000
PREFIX_DQN_STEPS = 2_000  # prefix: a short DQN run (lr decayed over these steps) ...
PREFIX_A2C_STEPS = 256  # ... and the first 4 A2C updates of 8 envs x 8 steps


def notebook_settings() -> dict:
    """The namespace of the notebook's tagged cell: DQN_CONFIG, A2C_CONFIG, EVAL_EPISODES, EVAL_SEED."""
    return stored_results.load_tagged_cells(*NOTEBOOK_CELLS)


def config() -> dict:
    nb = notebook_settings()
    return {
        "dqn": dataclasses.asdict(nb["DQN_CONFIG"]),
        "a2c": dataclasses.asdict(nb["A2C_CONFIG"]),
        "total_steps": TOTAL_STEPS,
        "seeds": SEEDS,
        "eval_episodes": nb["EVAL_EPISODES"],
        "eval_seed": nb["EVAL_SEED"],
        "curve_every": CURVE_EVERY,
        "prefix": {"dqn_steps": PREFIX_DQN_STEPS, "a2c_steps": PREFIX_A2C_STEPS, "seed": SEEDS[0]},
    }


def _configs(cfg: dict) -> tuple[dqn.DQNConfig, a2c.A2CConfig]:
    """The library configs back from their stored (JSON) form."""
    d, a = dict(cfg["dqn"]), dict(cfg["a2c"])
    d["hidden"], a["hidden"] = tuple(d["hidden"]), tuple(a["hidden"])
    return dqn.DQNConfig(**d), a2c.A2CConfig(**a)


def prefix(cfg: dict) -> dict:
    """A short DQN run and A2C's first updates, seed 0: losses and finished-episode returns."""
    torch.set_num_threads(1)
    dqn_config, a2c_config = _configs(cfg)
    p = cfg["prefix"]
    _, h_dqn = dqn.train(dqn_config, seed=p["seed"], total_steps=p["dqn_steps"], progress=False)
    _, h_a2c = a2c.train(a2c_config, seed=p["seed"], total_steps=p["a2c_steps"], progress=False)
    return {
        "dqn_q_loss": [None if v is None else float(v) for v in (r.q_loss for r in h_dqn.rows)],
        "dqn_episode_returns": h_dqn.episode_returns().tolist(),
        "a2c_value_loss": h_a2c.column("value_loss").tolist(),
        "a2c_policy_loss": h_a2c.column("policy_loss").tolist(),
    }


def run(cfg: dict) -> dict:
    torch.set_num_threads(1)
    dqn_config, a2c_config = _configs(cfg)
    runs = []
    setups = [("DQN", dqn.train, dqn_config), ("A2C", a2c.train, a2c_config)]
    with tqdm(total=len(setups) * len(cfg["seeds"]), desc="nb02 head-to-head") as bar:
        # seeds outer, algorithms inner: the two methods' wall times are measured side by side, so a change in
        # the machine's load during the run affects both alike (the notebook compares them)
        for seed in cfg["seeds"]:
            for name, train, config in setups:
                t0 = time.perf_counter()
                agent, history = train(config, seed=seed, total_steps=cfg["total_steps"], progress=False)
                seconds = time.perf_counter() - t0
                ev = evaluate(agent, config.env_id, n_episodes=cfg["eval_episodes"], seed=cfg["eval_seed"])
                xs, ys = curve(history, cfg["curve_every"])
                runs.append({"algo": name, "seed": seed, "env_steps": xs, "return_mean": ys,
                             "eval_return_mean": ev.mean, "seconds": round(seconds, 1)})
                bar.set_postfix_str(f"{name} seed {seed}: last {ys[-1]:.0f}, eval {ev.mean:.0f}")
                bar.update(1)
    return {"runs": runs}


if __name__ == "__main__":
    stored_results.main(__file__)
