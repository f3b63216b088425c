"""Optimiser plumbing shared by every gradient-based learner (REINFORCE, A2C, PPO, TRPO's critic, DQN).

* :func:`make_optimizer` builds Adam; :func:`set_learning_rate` sets this update's step size, and
  :func:`annealed` gives the linearly decayed value of a setting (learning rate, PPO's clip range);
* :func:`optimizer_step` takes one gradient step with global-norm clipping;
* :func:`minibatch_indices` splits a flat batch ``(B,)`` into minibatches;
* :class:`StatMeans` averages per-minibatch statistics over one update.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from course_lib.validation import check_bool, check_positive, check_positive_int, check_unit_interval

__all__ = ["make_optimizer", "annealed", "set_learning_rate", "optimizer_step", "minibatch_indices", "StatMeans"]


def make_optimizer(
    params: Iterable[nn.Parameter], learning_rate: float, adam_eps: float = 1e-8, fused: bool = True
) -> torch.optim.Adam:
    """Adam over ``params`` with step size ``learning_rate`` and epsilon ``adam_eps`` (PyTorch's default 1e-8).

    ``fused``: the fused CPU kernel (same maths, fewer Python-level ops) when torch has it; its rounding can
    differ from the plain kernel's in the last bits, so a learner keeps the kernel its results were made with.
    """
    learning_rate = check_positive("learning_rate", learning_rate)
    adam_eps = check_positive("adam_eps", adam_eps)
    params = list(params)
    if check_bool("fused", fused):
        try:
            return torch.optim.Adam(params, lr=learning_rate, eps=adam_eps, fused=True)
        except (RuntimeError, TypeError):  # pragma: no cover - older torch or unsupported device
            pass
    return torch.optim.Adam(params, lr=learning_rate, eps=adam_eps)


def annealed(value: float, frac_remaining: float, anneal: bool) -> float:
    """``value`` decayed linearly with training (``frac_remaining`` from 1 at the first update to 1/K at the
    last) if ``anneal``, else ``value`` unchanged."""
    frac_remaining = check_unit_interval("frac_remaining", frac_remaining)
    # x_k = (1 - (k - 1) / K) * x_0
    return value * frac_remaining if anneal else value


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> float:
    """Set (and return) the step size of every parameter group of ``optimizer``."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    return learning_rate


def optimizer_step(
    optimizer: torch.optim.Optimizer, loss: Tensor, params: list[nn.Parameter], max_grad_norm: float | None
) -> None:
    """One gradient step on ``loss``, with the global gradient norm clipped to ``max_grad_norm`` (if not None).

    Global norm clipping: if ``||g|| > c`` (g = all gradients stacked), every gradient is scaled by ``c / ||g||``.
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        # g <- g * min(1, c / ||g||)
        nn.utils.clip_grad_norm_(params, max_grad_norm, foreach=True)
    optimizer.step()


def minibatch_indices(batch_size: int, num_minibatches: int, shuffle: bool = True) -> tuple[Tensor, ...]:
    """Split ``range(batch_size)`` into ``num_minibatches`` nearly equal index tensors (sizes differ by <= 1).

    ``shuffle``: a fresh random permutation (torch's global generator) instead of the rollout order.
    """
    num_minibatches = check_positive_int("num_minibatches", num_minibatches)
    if num_minibatches > batch_size:
        raise ValueError(
            f"num_minibatches must be <= the {batch_size} valid samples of this batch (autoreset steps are left "
            f"out); got num_minibatches={num_minibatches}"
        )
    order = torch.randperm(batch_size) if shuffle else torch.arange(batch_size)
    return torch.tensor_split(order, num_minibatches)


class StatMeans:
    """Average statistics over the minibatches of one update (the logged value is the mean, not the last one).

    ``add(policy_loss=0.3, entropy=0.6)`` once per minibatch; ``means()`` gives ``{"policy_loss": ..., ...}``.
    """

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, **values: float) -> None:
        """Record one minibatch's values (plain floats)."""
        for name, v in values.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(v)
            self._counts[name] = self._counts.get(name, 0) + 1

    def means(self) -> dict[str, float]:
        """Mean of every statistic over the minibatches it was recorded in."""
        return {name: self._sums[name] / self._counts[name] for name in self._sums}
