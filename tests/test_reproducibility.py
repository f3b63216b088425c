"""Reproducibility as the History docstring states it: the same seed at the same torch thread count gives an
identical History, within one process and across processes (a fresh interpreter for each run)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# trains two short runs and prints their histories as JSON, without the wall-clock column
SCRIPT = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from course_lib.algos import a2c, ppo
runs = {
    "ppo_cartpole": ppo.train(ppo.PPOConfig(num_minibatches=4), seed=3, total_steps=1024, progress=False)[1],
    "ppo_pendulum": ppo.train(ppo.pendulum_config(norm_obs=True), seed=3, total_steps=2048, progress=False)[1],
    "a2c_cartpole": a2c.train(None, seed=3, total_steps=1024, progress=False)[1],
}
out = {}
for name, h in runs.items():
    d = h.to_dict()
    for row in d["rows"]:
        row.pop("steps_per_second")
    out[name] = d
print(json.dumps(out))
"""


def _run(threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(threads)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(300)
def test_same_seed_same_thread_count_gives_identical_history_across_processes():
    first, second = _run(1), _run(1)
    assert first.keys() == second.keys()
    for name in first:
        assert len(first[name]["rows"]) >= 2, name
        assert first[name] == second[name], f"{name}: two processes with seed 3 and 1 thread disagree"
