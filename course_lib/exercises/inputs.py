"""Seeded random inputs for exercise test cases (every case is rebuilt identically from its seed)."""
from __future__ import annotations

import torch


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (never the global RNG, which a learner's cell may reseed)."""
    return torch.Generator().manual_seed(int(seed))


def randn(g: torch.Generator, *shape: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    """float32 samples of N(shift, scale^2) with the given shape."""
    return torch.randn(*shape, generator=g) * scale + shift


def uniform(g: torch.Generator, low: float, high: float, *shape: int) -> torch.Tensor:
    """float32 samples of U(low, high) with the given shape."""
    return torch.rand(*shape, generator=g) * (high - low) + low


def flags(g: torch.Generator, p: float, *shape: int) -> torch.Tensor:
    """float32 0/1 flags, each 1 with probability ``p``."""
    return (torch.rand(*shape, generator=g) < p).to(torch.float32)


def categorical(g: torch.Generator, probs: torch.Tensor, n: int) -> torch.Tensor:
    """(n,) int64 samples from one categorical distribution ``probs`` (A,), or (B,) from rows of (B, A) if n == B."""
    if probs.ndim == 1:
        return torch.multinomial(probs, n, replacement=True, generator=g)
    return torch.multinomial(probs, 1, generator=g).squeeze(1)
