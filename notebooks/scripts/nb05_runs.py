"""Precompute notebook 05's training runs: TRPO vs PPO-clip vs PPO-KL, and PPO's batch size / minibatch grid.

The notebook cannot afford 36 training runs in its time budget, so this script runs them once and writes a small
JSON file that the notebook loads. It runs *the notebook's own code*: the code cell of
``notebooks/src/05_trust_regions.py`` tagged ``nb05-runs`` (the configs, the ``MeasureKL`` wrapper,
``train_measured`` and ``run_summary``) is executed here, so the stored runs cannot drift from what the notebook
shows. The notebook re-runs the first updates of some runs live and checks them against the file.

Usage (from the repository root; about 15-25 minutes on a busy 2-core CPU)::

    .venv/bin/python notebooks/scripts/nb05_runs.py

Writes ``notebooks/data/nb05_runs.json``::

    {"code_sha256": str, "compare_steps": int, "batch_total_steps": int, "seeds": [...],
     "compare": {name: {seed: run_summary(...)}},                  # every update: returns, exact KL, ...
     "batch": [{"num_steps", "num_minibatches", "batch_size", "seed", "grad_steps", "steps_to_475",
                "final_return", "seconds", "curve_steps": [...], "curve_return": [...]}, ...]}
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks" / "src" / "05_trust_regions.py"
OUT = ROOT / "notebooks" / "data" / "nb05_runs.json"
TAG = "nb05-runs"
SEEDS = (0, 1, 2)
CURVE_EVERY = 1_024  # env steps between stored points of the batch-grid learning curves


def load_notebook_code() -> tuple[dict[str, Any], str]:
    """Execute the notebook source's code cells tagged TAG; return their namespace and the code's sha256."""
    sys.path.insert(0, str(ROOT / "tools"))
    from build_notebook import parse_percent

    cells = [c for c in parse_percent(SOURCE.read_text()) if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"no code cells tagged {TAG!r} in {SOURCE}")
    code = "\n\n".join(c.source for c in cells)
    # a registered module, so that the cell's dataclasses can look their module up
    module = types.ModuleType("nb05_notebook_code")
    sys.modules[module.__name__] = module
    exec(compile(code, f"{SOURCE.name} (cells tagged {TAG})", "exec"), module.__dict__)
    return module.__dict__, hashlib.sha256(code.encode()).hexdigest()


def thin_curve(summary: dict, every: int) -> tuple[list[int], list[float]]:
    """(env_steps, mean return of the last 20 episodes) at the first update past each multiple of ``every``."""
    xs, ys, mark = [], [], every
    for s, r in zip(summary["env_steps"], summary["episode_return_mean"]):
        if s >= mark and r is not None:
            xs.append(int(s))
            ys.append(round(float(r), 2))
            mark = (int(s) // every + 1) * every
    return xs, ys


def main() -> int:
    torch.set_num_threads(1)
    ns, sha = load_notebook_code()
    start = time.perf_counter()
    compare: dict[str, dict[str, dict]] = {}
    for name, config in ns["COMPARE_CONFIGS"].items():
        compare[name] = {}
        for seed in SEEDS:
            history, record, seconds = ns["train_measured"](config, seed, ns["COMPARE_STEPS"])
            compare[name][str(seed)] = ns["run_summary"](history, record, seconds)
            print(f"{name} seed {seed}: return {history.recent_return_mean():.1f}, median KL "
                  f"{np.median(record.kl):.4f}, max KL {max(record.kl):.4f} ({seconds:.0f} s)", flush=True)
    batch = []
    for num_steps in ns["BATCH_STEPS"]:
        for num_minibatches in ns["BATCH_MINIBATCHES"]:
            config = ns["batch_config"](num_steps, num_minibatches)
            for seed in SEEDS:
                history, record, seconds = ns["train_measured"](config, seed, ns["BATCH_TOTAL_STEPS"])
                summary = ns["run_summary"](history, record, seconds)
                xs, ys = thin_curve(summary, CURVE_EVERY)
                epochs = np.nan_to_num(history.column("epochs"))
                batch.append({
                    "num_steps": num_steps, "num_minibatches": num_minibatches, "batch_size": config.batch_size,
                    "seed": seed, "grad_steps": int(round(float(epochs.sum()) * num_minibatches)),
                    "steps_to_475": summary["steps_to_475"], "final_return": round(history.recent_return_mean(), 2),
                    "seconds": summary["seconds"], "curve_steps": xs, "curve_return": ys,
                })
                print(f"batch {config.batch_size} x {num_minibatches} minibatches, seed {seed}: final "
                      f"{history.recent_return_mean():.1f}, to 475: {summary['steps_to_475']} ({seconds:.0f} s)",
                      flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    result = {"code_sha256": sha, "compare_steps": ns["COMPARE_STEPS"], "batch_total_steps": ns["BATCH_TOTAL_STEPS"],
              "seeds": list(SEEDS), "compare": compare, "batch": batch}
    OUT.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} kB) in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
