"""Notebook 05: the PPO paper's comparison of surrogate objectives (its Table 1), in miniature, on MuJoCo.

Schulman et al. (2017) train on seven MuJoCo tasks for 1M steps with each objective and report scores
normalised so that a random policy scores 0 and the best setting 1: no clipping or penalty -0.39, clipping
(eps = 0.2) 0.82, adaptive KL penalty (d_targ = 0.01) 0.74. This script runs the course's PPO with the paper's
MuJoCo hyper-parameters (its Table 3) and those three objectives on Hopper-v5 and HalfCheetah-v5, 3 seeds each,
at the budget in ``config()`` (a 2-core laptop CPU cannot afford 18 runs of 1M steps: about 12 minutes each),
and saves the clipped-objective Hopper agent of the first seed for notebook 05's animation.

    make data nb05_mujoco_objectives     # two worker processes (one per core), about 35 minutes

Score of a run: the mean return of the training episodes that finish in the last 10 % of its budget (for
HalfCheetah's 1000-step episodes at 1M steps that is the paper's "last 100 episodes"). A random policy's score
is the mean return of ``random_episodes`` episodes with uniformly random actions.

The payload (``stored.data``)::

    {"runs": [{"env_id", "objective", "seed", "score", "eval_mean", "seconds",
               "env_steps": [...], "episode_return_mean": [...]}, ...],      # one row per update
     "random": {env_id: mean return of random actions}}
"""
from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib import stored_results
from course_lib.agent import ActorCriticAgent  # noqa: F401  (the saved agent's class)
from course_lib.algos import ppo
from course_lib.evaluation import evaluate

TASKS = ("Hopper-v5", "HalfCheetah-v5")
OBJECTIVES = ("clip", "unclipped", "kl_penalty")
AGENT_RUN = ("Hopper-v5", "clip", 1)          # the run whose agent is saved for the animation
OUTPUTS = ["nb05_mujoco_hopper_agent.pt"]
PREFIX_FIELDS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance")


def paper_config(env_id: str, objective: str) -> ppo.PPOConfig:
    """The PPO paper's MuJoCo settings (Table 3): one actor, horizon T = 2048, Adam 3e-4, K = 10 epochs,
    minibatch 64, gamma = 0.99, lambda = 0.95; eps = 0.2 or d_targ = 0.01; no entropy bonus, no annealing, no
    gradient clipping. Observations are standardised with running statistics, as in the paper's code base."""
    return ppo.PPOConfig(
        env_id=env_id, num_envs=1, num_steps=2048, gamma=0.99, lam=0.95, learning_rate=3e-4, anneal_lr=False,
        update_epochs=10, num_minibatches=32, objective=objective, clip_eps=0.2, anneal_clip=False,
        kl_penalty_target=0.01, kl_beta_init=1.0, max_grad_norm=None, norm_obs=True,
    )


def config() -> dict:
    return {
        "seeds": [1, 2, 3], "budget": 300_000, "tasks": list(TASKS), "objectives": list(OBJECTIVES),
        "ppo": {f"{env_id} {objective}": dataclasses.asdict(paper_config(env_id, objective))
                for env_id in TASKS for objective in OBJECTIVES},
        "score": "mean return of training episodes finishing in the last 10 % of the budget",
        "eval": {"n_episodes": 10, "deterministic": True, "seed": 0},
        "random_episodes": 20, "agent_run": list(AGENT_RUN), "prefix_updates": 2, "workers": 2,
    }


def _ppo_config(d: dict) -> ppo.PPOConfig:
    return ppo.PPOConfig(**{**d, "hidden": tuple(d["hidden"])})


def prefix_rows(history) -> list[list[float]]:
    """PREFIX_FIELDS of every update row of ``history`` (the notebook builds the same list from its live run)."""
    return [[float(getattr(row, f)) for f in PREFIX_FIELDS] for row in history.rows]


def prefix(config: dict) -> list[list[float]]:
    """The first updates of the saved agent's run (a few seconds)."""
    torch.set_num_threads(1)
    env_id, objective, seed = config["agent_run"]
    cfg = _ppo_config(config["ppo"][f"{env_id} {objective}"])
    _, history = ppo.train(cfg, seed=seed, total_steps=config["prefix_updates"] * cfg.batch_size, progress=False)
    return prefix_rows(history)


def run_score(history, budget: int) -> float:
    """Mean return of the episodes that finished in the last 10 % of the budget."""
    returns = [ep.ret for ep in history.episodes if ep.env_steps > 0.9 * budget]
    return float(np.mean(returns))


def random_score(env_id: str, episodes: int) -> float:
    """Mean return of ``episodes`` episodes with uniformly random actions (episode k starts from reset(seed=k))."""
    env = gym.make(env_id)
    env.action_space.seed(0)
    total = 0.0
    for k in range(episodes):
        env.reset(seed=k)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
    env.close()
    return total / episodes


def _one_run(job: tuple[dict, str, str, int]) -> dict:
    """Train one (task, objective, seed) and score it; runs in a worker process with one torch thread."""
    config, env_id, objective, seed = job
    torch.set_num_threads(1)
    start = time.perf_counter()
    agent, history = ppo.train(_ppo_config(config["ppo"][f"{env_id} {objective}"]), seed=seed,
                               total_steps=config["budget"], progress=False)
    seconds = time.perf_counter() - start
    ev = config["eval"]
    result = evaluate(agent, env_id, n_episodes=ev["n_episodes"], deterministic=ev["deterministic"], seed=ev["seed"])
    if [env_id, objective, seed] == list(config["agent_run"]):
        agent.save(stored_results.data_path(OUTPUTS[0]))
    return {"env_id": env_id, "objective": objective, "seed": seed,
            "score": round(run_score(history, config["budget"]), 2), "eval_mean": round(float(result.mean), 2),
            "seconds": round(seconds, 1), "env_steps": [int(s) for s in history.column("env_steps")],
            "episode_return_mean": [round(float(r), 2) if np.isfinite(r) else None
                                    for r in history.column("episode_return_mean")]}


def run(config: dict) -> dict:
    os.environ.setdefault("MUJOCO_GL", "egl")
    jobs = [(config, env_id, objective, seed) for seed in config["seeds"] for env_id in config["tasks"]
            for objective in config["objectives"]]
    # the longest jobs first would finish sooner, but seeds-outer keeps a partial result balanced over settings
    # the workers find _one_run by this file's plain module name (notebooks/scripts is on sys.path), not by the
    # name stored_results gave it when loading the script
    worker = importlib.import_module(Path(__file__).stem)._one_run
    with multiprocessing.get_context("spawn").Pool(config["workers"]) as pool:
        runs = list(tqdm(pool.imap(worker, jobs), total=len(jobs), desc="MuJoCo objectives"))
    return {"runs": runs,
            "random": {env_id: round(random_score(env_id, config["random_episodes"]), 2)
                       for env_id in config["tasks"]},
            "load_after": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    stored_results.main(__file__)
