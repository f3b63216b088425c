"""Where the course's PPO spends its time, per million env steps, against two floors.

    python tests/benchmarks/profile_ppo.py                        # LunarLander-v3 and Hopper-v5
    python tests/benchmarks/profile_ppo.py --env Hopper-v5 --updates 3

For one task and one PPO configuration it times, one thread, each extrapolated to 1M env steps:

- **env floor**: the vector env stepped with random actions, nothing else;
- **policy floor**: ``agent.policy_step`` on a batch of N observations, nothing else;
- **collect**: ``RolloutCollector.collect`` (env steps + policy + bookkeeping);
- **update**: ``PPOLearner.update`` on the collected rollouts (epochs of minibatch gradient steps);

so that "collect − (env floor + policy floor)" is the collector's own overhead and "collect + update" the
training cost. The configurations are the bench's (``bench_ppo.course_config``): ``ppo.lunarlander_config()``
and the PPO paper's MuJoCo settings (``paper_config`` of ``notebooks/scripts/nb05_mujoco_objectives.py``).
``make bench`` prints the same floors after each task's table.
Not collected by pytest (no test_ prefix).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

torch.set_num_threads(1)

from bench_ppo import course_config  # noqa: E402  (beside this file)
from course_lib.algos.onpolicy import make_agent  # noqa: E402
from course_lib.algos.ppo import PPOLearner  # noqa: E402
from course_lib.envs import make_vec_env  # noqa: E402
from course_lib.rollout import RolloutCollector  # noqa: E402

MILLION = 1_000_000

TASKS = ("LunarLander-v3", "Hopper-v5", "HalfCheetah-v5")


def per_million(seconds: float, env_steps: int) -> float:
    """Seconds per 1M env steps."""
    return seconds * MILLION / env_steps


def profile(env_id: str, updates: int, seed: int = 0) -> dict[str, float]:
    """Seconds per 1M env steps of each part (see the module docstring)."""
    config = course_config(env_id)
    torch.manual_seed(seed)
    envs = make_vec_env(env_id, config.num_envs, seed)
    agent = make_agent(config, envs)
    steps = updates * config.batch_size

    # env floor: random actions, nothing else
    envs.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(updates * config.num_steps):
        envs.step(envs.action_space.sample())
    env_floor = per_million(time.perf_counter() - start, steps)

    # policy floor: the forward pass the collector makes at every step, on a fixed batch of N observations
    obs = torch.zeros(config.num_envs, envs.single_observation_space.shape[0])
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(updates * config.num_steps):
            agent.policy_step(obs)
    policy_floor = per_million(time.perf_counter() - start, steps)

    # as in training: observations standardised when the config says so (MuJoCo), rewards never scaled here
    collector = RolloutCollector(envs, agent.policy_step, config.num_steps, obs_normaliser=agent.obs_normaliser)
    learner = PPOLearner(agent, config)
    collect = update = 0.0
    for _ in range(updates):
        start = time.perf_counter()
        rollout = collector.collect()
        collect += time.perf_counter() - start
        start = time.perf_counter()
        learner.update(rollout, 1.0)
        update += time.perf_counter() - start
    envs.close()
    return dict(env_floor=env_floor, policy_floor=policy_floor, collect=per_million(collect, steps),
                update=per_million(update, steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", choices=TASKS, help="task (repeatable)")
    parser.add_argument("--updates", type=int, default=2, help="PPO updates timed per task (default 2)")
    args = parser.parse_args()
    print(f"{'task':16} {'env floor':>10} {'policy floor':>13} {'collect':>9} {'overhead':>9} {'update':>9} "
          f"{'train':>9}   (seconds per 1M env steps, 1 thread)")
    for env_id in args.env or ["LunarLander-v3", "Hopper-v5"]:
        r = profile(env_id, args.updates)
        overhead = r["collect"] - r["env_floor"] - r["policy_floor"]
        print(f"{env_id:16} {r['env_floor']:10.0f} {r['policy_floor']:13.0f} {r['collect']:9.0f} "
              f"{overhead:9.0f} {r['update']:9.0f} {r['collect'] + r['update']:9.0f}")


if __name__ == "__main__":
    main()
