"""Benchmark: the course's PPO against Stable-Baselines3's PPO, same process, same seeds, one thread each.

    make bench                                   # CartPole-v1 and Pendulum-v1, seeds 1, 2, 3
    make bench LunarLander-v3                    # 1M steps per run (also: make bench --env LunarLander-v3)
    make bench Hopper-v5 HalfCheetah-v5          # MuJoCo, 300k steps per run
    python tests/benchmarks/bench_ppo.py --env LunarLander-v3 --seeds 2   # one seed (e.g. one process per core)
    python tests/benchmarks/bench_ppo.py --quick                          # seed 1 only

Runs alternate (course, SB3, course, SB3, ...) so that a change in machine load hits both. Measured per run:

- steps-to-threshold (CartPole 475, LunarLander 200): env steps at which the mean return of the last 20 finished
  *training* episodes first reaches the threshold — the same function (``course_lib.record.steps_to_threshold``)
  for both; SB3's episodes are read from its Monitor wrapper through a callback;
- training wall-clock seconds for the budget (``TOTAL_STEPS``), envs and model built inside the timer for both;
- final evaluation: mean return of deterministic episodes (``EVAL_EPISODES``) with the same
  ``course_lib.evaluation.evaluate`` for both (episode k starts from reset(seed=k)).

Settings. CartPole, Pendulum and LunarLander: the course's own (``ppo.PPOConfig()``, ``ppo.pendulum_config()``,
``ppo.lunarlander_config()``) against SB3 with the rl-baselines3-zoo hyper-parameters (hyperparams/ppo.yml).
MuJoCo: both libraries with the PPO paper's Table 3 settings (horizon 2048, Adam 3e-4, 10 epochs of minibatches of
64, gamma 0.99, lambda 0.95, clip 0.2, no gradient clipping) and observations standardised with running
statistics — the course through ``paper_config`` of ``notebooks/scripts/nb05_mujoco_objectives.py`` (the settings
of notebook 05's stored runs), SB3 through its defaults (which are that table) and ``VecNormalize(norm_reward=False)``.
So the MuJoCo rows compare implementations, not tuning.

After each task's table the bench prints the floors (``profile_ppo.py``): seconds per 1M env steps of the
environments alone and of the policy's forward passes alone, and how far the course's measured training time is
from their sum. Not collected by pytest (no test_ prefix).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

torch.set_num_threads(1)

from course_lib.algos import ppo  # noqa: E402
from course_lib.evaluation import evaluate  # noqa: E402
from course_lib.record import History, steps_to_threshold  # noqa: E402

MUJOCO = ("Hopper-v5", "HalfCheetah-v5")
TOTAL_STEPS = {"CartPole-v1": 100_000, "Pendulum-v1": 100_000, "LunarLander-v3": 1_000_000,
               **{env_id: 300_000 for env_id in MUJOCO}}  # MuJoCo: the budget of notebook 05's stored runs
EVAL_EPISODES = {"CartPole-v1": 20, "Pendulum-v1": 10, "LunarLander-v3": 20, **{env_id: 10 for env_id in MUJOCO}}
THRESHOLD = {"CartPole-v1": 475.0, "LunarLander-v3": 200.0}  # rolling training return that counts as solved


@dataclass
class RunResult:
    """One training run's numbers."""

    steps_to_threshold: int | None
    seconds: float
    eval_mean: float


# --------------------------------------------------------------------------------------------------------------
# The course's PPO
# --------------------------------------------------------------------------------------------------------------


def course_config(env_id: str) -> ppo.PPOConfig:
    """The course's settings for each task (see the module docstring)."""
    if env_id in MUJOCO:
        from course_lib import stored_results

        return stored_results.load_script("nb05_mujoco_objectives").paper_config(env_id, "clip")
    return {"CartPole-v1": ppo.PPOConfig, "Pendulum-v1": ppo.pendulum_config,
            "LunarLander-v3": ppo.lunarlander_config}[env_id]()


def run_course(env_id: str, seed: int) -> RunResult:
    """Train the course's PPO for TOTAL_STEPS and evaluate it."""
    start = time.perf_counter()
    agent, history = ppo.train(course_config(env_id), seed=seed, total_steps=TOTAL_STEPS[env_id], progress=False)
    seconds = time.perf_counter() - start
    ev = evaluate(agent, env_id, n_episodes=EVAL_EPISODES[env_id], deterministic=True, seed=0)
    return RunResult(_solved_at(history, env_id), seconds, ev.mean)


def _solved_at(history: History, env_id: str) -> int | None:
    """Env steps at which the rolling training return first reaches the task's threshold (None: never/no threshold)."""
    return steps_to_threshold(history, THRESHOLD[env_id]) if env_id in THRESHOLD else None


# --------------------------------------------------------------------------------------------------------------
# Stable-Baselines3's PPO with the zoo's hyper-parameters
# --------------------------------------------------------------------------------------------------------------


def _linear(start: float):
    """SB3 schedule: value at progress_remaining p (1 -> 0) is p * start (the zoo's ``lin_<start>``)."""
    return lambda progress_remaining: progress_remaining * start


def sb3_model(env_id: str, seed: int):
    """SB3 PPO with rl-baselines3-zoo's hyperparams/ppo.yml settings for env_id (envs wrapped in Monitor)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    if env_id in MUJOCO:
        # SB3's defaults are the PPO paper's Table 3 (n_steps 2048, batch 64, 10 epochs, lr 3e-4, gamma 0.99,
        # lambda 0.95, clip 0.2); the paper clips no gradients, so neither does this run
        env = VecNormalize(make_vec_env(env_id, n_envs=1, seed=seed), norm_obs=True, norm_reward=False)
        return PPO("MlpPolicy", env, max_grad_norm=float("inf"), seed=seed, device="cpu")
    if env_id == "LunarLander-v3":
        env = make_vec_env(env_id, n_envs=16, seed=seed)
        return PPO("MlpPolicy", env, n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4,
                   ent_coef=0.01, seed=seed, device="cpu")
    if env_id == "CartPole-v1":
        env = make_vec_env(env_id, n_envs=8, seed=seed)
        return PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                   ent_coef=0.0, learning_rate=_linear(1e-3), clip_range=_linear(0.2), seed=seed, device="cpu")
    env = make_vec_env(env_id, n_envs=4, seed=seed)
    # Pendulum-v1 in the zoo: no batch_size given, so SB3's default of 64
    return PPO("MlpPolicy", env, n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
               learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4, seed=seed, device="cpu")


def _episode_recorder(history: History):
    """An SB3 callback that copies every finished training episode (Monitor's info["episode"]) into history."""
    from stable_baselines3.common.callbacks import BaseCallback

    class EpisodeRecorder(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    history.add_episode(self.num_timesteps, info["episode"]["r"], info["episode"]["l"])
            return True

    return EpisodeRecorder()


class SB3Policy:
    """Adapts an SB3 model to the course's ``act(obs, deterministic)`` so both are evaluated by the same code."""

    def __init__(self, model) -> None:
        self.model = model
        self.normaliser = model.get_vec_normalize_env()  # its running statistics, frozen by only being read

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        if self.normaliser is not None:
            obs = self.normaliser.normalize_obs(obs)
        return self.model.predict(obs, deterministic=deterministic)[0]


def run_sb3(env_id: str, seed: int) -> RunResult:
    """Train SB3's PPO for TOTAL_STEPS (model construction included in the time) and evaluate it."""
    history = History()
    start = time.perf_counter()
    model = sb3_model(env_id, seed)
    model.learn(TOTAL_STEPS[env_id], callback=_episode_recorder(history))
    seconds = time.perf_counter() - start
    ev = evaluate(SB3Policy(model), env_id, n_episodes=EVAL_EPISODES[env_id], deterministic=True, seed=0)
    return RunResult(_solved_at(history, env_id), seconds, ev.mean)


# --------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------


def _fmt_steps(s: int | None) -> str:
    return "never" if s is None else f"{s / 1000:.1f}k"


def _median_steps(results: list[RunResult]) -> float | None:
    """Median steps-to-threshold with 'never' counted as infinity (None if the median itself is never)."""
    vals = sorted(np.inf if r.steps_to_threshold is None else r.steps_to_threshold for r in results)
    med = statistics.median(vals)
    return None if np.isinf(med) else float(med)


def report(env_id: str, seeds: list[int], course: list[RunResult], sb3: list[RunResult]) -> None:
    """Print the per-seed table, medians and course/SB3 ratios."""
    threshold = THRESHOLD.get(env_id)
    solved = f"steps-to-{threshold:.0f}" if threshold is not None else ""
    print(f"\n=== {env_id}: {TOTAL_STEPS[env_id] // 1000}k steps, seeds {seeds} ===")
    head = f"{'seed':>6} | {'library':>7} | " + (f"{solved:>12} | " if threshold is not None else "")
    print(head + f"{'train s':>8} | {'eval mean':>9}")
    for seed, c, s in zip(seeds, course, sb3):
        for name, r in (("course", c), ("SB3", s)):
            row = f"{seed:>6} | {name:>7} | " + (
                f"{_fmt_steps(r.steps_to_threshold):>12} | " if threshold is not None else "")
            print(row + f"{r.seconds:>8.1f} | {r.eval_mean:>9.1f}")
    med_c_t = statistics.median(r.seconds for r in course)
    med_s_t = statistics.median(r.seconds for r in sb3)
    print(f"median train seconds: course {med_c_t:.1f}, SB3 {med_s_t:.1f}, ratio course/SB3 {med_c_t / med_s_t:.2f}")
    if threshold is not None:
        mc, ms = _median_steps(course), _median_steps(sb3)
        ratio = "n/a" if mc is None or ms is None else f"{mc / ms:.2f}"
        print(f"median {solved}: course {_fmt_steps(mc and int(mc))}, SB3 {_fmt_steps(ms and int(ms))}, "
              f"ratio course/SB3 {ratio}")
    mean_c = float(np.mean([r.eval_mean for r in course]))
    mean_s = float(np.mean([r.eval_mean for r in sb3]))
    print(f"median eval: course {statistics.median(r.eval_mean for r in course):.1f}, "
          f"SB3 {statistics.median(r.eval_mean for r in sb3):.1f}; mean eval: course {mean_c:.1f}, SB3 {mean_s:.1f}; "
          f"worst seed: course {min(r.eval_mean for r in course):.1f}, SB3 {min(r.eval_mean for r in sb3):.1f}")


def report_floors(env_id: str, course: list[RunResult]) -> None:
    """The floors of this task (``profile_ppo.profile``) and the course's measured training time against them."""
    from profile_ppo import profile  # beside this file

    r = profile(env_id, updates=2)
    floor = r["env_floor"] + r["policy_floor"]
    measured = statistics.median(res.seconds for res in course) * 1e6 / TOTAL_STEPS[env_id]
    print(f"floors, seconds per 1M env steps (1 thread): envs alone {r['env_floor']:.0f}, policy forward passes "
          f"alone {r['policy_floor']:.0f}, together {floor:.0f}; the course's collection {r['collect']:.0f} "
          f"(overhead {r['collect'] - floor:.0f}), its updates {r['update']:.0f}; measured training "
          f"{measured:.0f} = {measured / floor:.1f}x the floor")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seed 1 only")
    parser.add_argument("--seeds", type=int, nargs="+", help="these seeds instead of 1 2 3 (e.g. one per process)")
    parser.add_argument("--env", nargs="+", default=["all"], choices=["all", *TOTAL_STEPS],
                        help="tasks (default all: CartPole-v1 and Pendulum-v1)")
    args = parser.parse_args(argv)
    seeds = args.seeds or ([1] if args.quick else [1, 2, 3])
    # "all" is the two quick tasks; LunarLander and MuJoCo (minutes per run) only when asked for by name
    envs = [e for e in dict.fromkeys(args.env) if e != "all"] or ["CartPole-v1", "Pendulum-v1"]

    # warm-up outside the timers: both libraries' imports and torch's lazily imported optimiser machinery
    import stable_baselines3  # noqa: F401

    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    print(f"torch {torch.__version__}, stable-baselines3 {stable_baselines3.__version__}, "
          f"threads {torch.get_num_threads()}")

    for env_id in envs:
        print(f"\ncourse config for {env_id}: {course_config(env_id)}")
        course, sb3 = [], []
        for seed in seeds:
            course.append(run_course(env_id, seed))
            print(f"  {env_id} seed {seed} course: {course[-1]}", flush=True)
            sb3.append(run_sb3(env_id, seed))
            print(f"  {env_id} seed {seed} SB3:    {sb3[-1]}", flush=True)
        report(env_id, seeds, course, sb3)
        report_floors(env_id, course)
    return 0


if __name__ == "__main__":
    sys.exit(main())
