"""Where the course's PPO spends its time, per million env steps, against two floors.

    python tests/benchmarks/profile_ppo.py                        # LunarLander-v3 and Hopper-v5
    python tests/benchmarks/profile_ppo.py --env Hopper-v5 --updates 3

For one task and one PPO configuration it times, one thread, each extrapolated to 1M env steps:

- **env floor**: the vector env stepped with random actions, nothing else;
- **policy floor**: ``agent.policy_step`` on a batch of N observations, nothing else;
- **collect**: ``RolloutCollector.collect`` (env steps + policy + bookkeeping);
- **update**: ``PPOLearner.update`` on the collected rollouts (epochs of minibatch gradient steps);

so that "collect − (env floor + policy floor)" is the collector's own overhead and "collect + update" the
training cost. The configurations are rl-baselines3-zoo's LunarLander settings and the PPO paper's MuJoCo
settings (Schulman et al. 2017, Table 3), written here until the course has named configs for these tasks.
Not collected by pytest (no test_ prefix).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

torch.set_num_threads(1)

from course_lib.algos.onpolicy import make_agent  # noqa: E402
from course_lib.algos.ppo import PPOConfig, PPOLearner  # noqa: E402
from course_lib.envs import make_vec_env  # noqa: E402
from course_lib.rollout import RolloutCollector  # noqa: E402

MILLION = 1_000_000

CONFIGS = {
    # rl-baselines3-zoo hyperparams/ppo.yml, LunarLander-v2 entry (n_envs 16, n_steps 1024, batch 64, 4 epochs)
    "LunarLander-v3": dict(num_envs=16, num_steps=1024, gamma=0.999, lam=0.98, learning_rate=3e-4,
                           anneal_lr=False, update_epochs=4, num_minibatches=256, ent_coef=0.01,
                           anneal_clip=False),
    # PPO paper Table 3: horizon 2048, Adam 3e-4, 10 epochs, minibatch 64, gamma 0.99, lambda 0.95
    "Hopper-v5": dict(num_envs=1, num_steps=2048, gamma=0.99, lam=0.95, learning_rate=3e-4, anneal_lr=False,
                      update_epochs=10, num_minibatches=32, anneal_clip=False),
}
CONFIGS["HalfCheetah-v5"] = CONFIGS["Hopper-v5"]


def per_million(seconds: float, env_steps: int) -> float:
    """Seconds per 1M env steps."""
    return seconds * MILLION / env_steps


def profile(env_id: str, updates: int, seed: int = 0) -> dict[str, float]:
    """Seconds per 1M env steps of each part (see the module docstring)."""
    config = PPOConfig(env_id=env_id, **CONFIGS[env_id])
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

    collector = RolloutCollector(envs, agent.policy_step, config.num_steps)
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
    parser.add_argument("--env", action="append", choices=sorted(CONFIGS), help="task (repeatable)")
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
