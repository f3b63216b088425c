"""The middle test tier: each on-policy algorithm *learns something* on CartPole-v1 in a few seconds.

Not the learning thresholds (those are in test_learning_onpolicy.py, marked slow), but a short run of the
library defaults, seed 1, that must end well above where it started, so ``pytest -m "not slow"`` still catches
a learning regression (a flipped sign, a detached loss, a broken advantage). A uniformly random CartPole policy
averages about 22 steps per episode. The floors sit well below what seed 1 reaches at
``torch.set_num_threads(1)`` (noted beside each) and well above random. Each run takes 2-5 s on a quiet 2-core CPU.
"""
from __future__ import annotations

import pytest
import torch

from course_lib.algos import a2c, ppo, reinforce, trpo

# algorithm, env steps, floor on the mean return of the last 20 training episodes (seed 1 reaches, at 1 thread)
CASES = [
    (ppo, 16_384, 80.0),        # 121.6 (first 20 episodes: 22.6)
    (a2c, 30_720, 100.0),       # 211.5
    (trpo, 20_480, 200.0),      # 424.5
    (reinforce, 40_960, 40.0),  # 65.1
]


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("module, steps, floor", CASES, ids=[c[0].__name__.rsplit(".", 1)[-1] for c in CASES])
def test_learns_something_on_cartpole(module, steps, floor, one_thread):
    _, history = module.train(None, seed=1, total_steps=steps, progress=False)
    returns = history.episode_returns()
    first, last = returns[:20].mean(), returns[-20:].mean()
    assert last >= floor and last >= 1.5 * first, (
        f"{module.__name__}: mean return of the first 20 episodes {first:.1f}, of the last 20 {last:.1f}; "
        f"expected at least {floor} and 1.5 x the first"
    )
