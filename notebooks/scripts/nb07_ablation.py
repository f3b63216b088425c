"""Notebook 07: ablation of PPO's implementation details on CartPole-v1 (precomputed; the notebook loads the result).

Each variant changes ONE detail of a base config (course_lib's CartPole defaults with constant learning rate
and clip range, see BASE) - switched off, or for annealing, value clipping and the shared network switched on -
and trains 3 seeds for BUDGET env steps. Saved per run: the learning curve (env steps, mean return of
the last 20 training episodes, one point per update), the run's wall-clock seconds and its full PPOConfig (so the
notebook can re-run a prefix live even if course_lib's defaults change later).

    cd /work/main && .venv/bin/python notebooks/scripts/nb07_ablation.py    # writes notebooks/data/nb07_ablation.json
    .venv/bin/python notebooks/scripts/nb07_ablation.py --add "LABEL"      # train one variant, merge it in

Runs go through a pool of 4 worker processes (one torch thread each); a run's numbers do not depend on the pool.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from multiprocessing import Pool
from pathlib import Path

import torch

SEEDS = (1, 2, 3)
BUDGET = 30_000
OUT = Path(__file__).resolve().parents[1] / "data" / "nb07_ablation.json"

# The base: course_lib's CartPole defaults with a constant learning rate and clip range. (The defaults anneal both
# to 0 over the run; over a 40k-step budget that stops learning early, which would hide what the other details
# do. Annealing is measured as a detail switched ON instead.)
BASE = {"anneal_lr": False, "anneal_clip": False}

# label -> PPOConfig overrides on top of BASE (one detail changed per variant)
VARIANTS: dict[str, dict] = {
    "base (constant lr, clip)": {},
    "no advantage normalisation": {"norm_adv": False},
    "no gradient clipping": {"max_grad_norm": None},
    "no orthogonal init": {"ortho_init": False},
    "no GAE (n-step returns)": {"gae": False},
    "unclipped surrogate": {"objective": "unclipped"},
    "+ lr / clip annealing": {"anneal_lr": True, "anneal_clip": True},
    "+ value clipping": {"clip_vloss": True},
    "+ shared network": {"shared_network": True},
    # roughly the source notes' loop (errata 14): one env, short rollouts, returns without GAE, full-batch epochs
    "notes-style (1 env, no GAE)": {"num_envs": 1, "num_steps": 32, "gae": False},
}


def run(job: tuple[str, int]) -> dict:
    label, seed = job
    torch.set_num_threads(1)
    from course_lib.algos import ppo

    start = time.perf_counter()
    config = ppo.PPOConfig(**{**BASE, **VARIANTS[label]})
    _, history = ppo.train(config, seed=seed, total_steps=BUDGET, progress=False)
    seconds = time.perf_counter() - start
    ret = [None if v != v else round(float(v), 2) for v in history.column("episode_return_mean").tolist()]  # NaN -> None
    print(f"{label:30s} seed {seed}: final {ret[-1]}  ({seconds:.0f} s)", flush=True)
    return {"label": label, "seed": seed, "env_steps": history.column("env_steps").astype(int).tolist(),
            "return_mean": ret, "seconds": round(seconds, 1), "config": dataclasses.asdict(config)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--add", nargs="+", metavar="LABEL", help="train only these variants and merge them into "
                        "the existing result file (replacing their old runs)")
    args = parser.parse_args()
    labels = list(VARIANTS) if not args.add else args.add
    unknown = [lab for lab in labels if lab not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    # the slow variant (many small updates) first, so that it does not run alone at the end
    jobs = sorted(((label, seed) for label in labels for seed in SEEDS), key=lambda j: not j[0].startswith("notes"))
    with Pool(4) as pool:
        runs = pool.map(run, jobs, chunksize=1)
    if args.add:  # keep the other variants' runs (the file must exist: run without --add first)
        old = json.loads(OUT.read_text())
        runs = [r for r in old["runs"] if r["label"] not in labels] + runs
    OUT.write_text(json.dumps({"budget": BUDGET, "seeds": list(SEEDS), "base": BASE, "variants": VARIANTS, "runs": runs}))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
