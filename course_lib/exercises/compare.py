"""Helpers shared by the exercises' probes (turn a learner's output into checked data) and judges (compare it)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from .core import CheckFailure

# float32 arithmetic done in a different but equivalent order differs by ~1e-6 relative; wrong fixes by far more.
RTOL = 1e-4
ATOL = 1e-5


def shape_str(shape: Sequence[int]) -> str:
    """(3,) / (4, 2) / () — shapes written the way Python prints tuples."""
    dims = tuple(int(d) for d in shape)
    return str(dims)


def as_tensor(out: Any, what: str, shape: Sequence[int] | None = None) -> torch.Tensor:
    """The learner's output as a detached float64 tensor, checked against ``shape``.

    Numbers, lists and numpy arrays are accepted and converted; anything else raises CheckFailure with a hint.
    """
    if isinstance(out, torch.Tensor):
        t = out.detach()
    else:
        try:
            t = torch.as_tensor(out)
        except Exception:  # noqa: BLE001 - anything unconvertible
            raise CheckFailure(f"{what} is a {type(out).__name__}; expected a tensor") from None
    if t.is_complex():
        raise CheckFailure(f"{what} is complex; expected real numbers")
    t = t.to(torch.float64)
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise CheckFailure(f"{what} has shape {shape_str(t.shape)}; expected {shape_str(shape)}")
    return t


def scalar_loss(out: Any, what: str = "your loss") -> torch.Tensor:
    """Check that ``out`` is a one-element tensor (so ``.backward()`` works) and return it (graph kept)."""
    if not isinstance(out, torch.Tensor):
        raise CheckFailure(f"{what} is a {type(out).__name__}; expected a torch tensor (a scalar)")
    if out.numel() != 1:
        raise CheckFailure(
            f"{what} has shape {shape_str(out.shape)}; a loss must be a single number (a 0-dim tensor)"
        )
    if not out.is_floating_point():
        raise CheckFailure(f"{what} has dtype {out.dtype}; expected a floating-point tensor")
    return out.reshape(())


def grad_or_zeros(t: torch.Tensor) -> torch.Tensor:
    """``t.grad`` as float64, or zeros when no gradient reached ``t``."""
    return torch.zeros_like(t, dtype=torch.float64) if t.grad is None else t.grad.detach().to(torch.float64)


def to_float64(x: Any) -> torch.Tensor:
    """Judge-side: observation data (tensor or number) as a float64 tensor."""
    return torch.as_tensor(x, dtype=torch.float64)


def close(got: Any, want: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """True when ``got`` and ``want`` have the same shape and agree elementwise (NaN only matches NaN)."""
    g, w = to_float64(got), to_float64(want)
    if g.shape != w.shape:
        return False
    return bool(torch.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True))


def fmt(x: float) -> str:
    """A number in hints: 4 significant digits."""
    x = float(x) + 0.0  # + 0.0 turns -0.0 into 0.0
    return "nan" if math.isnan(x) else f"{x:.4g}"


def mismatch(got: Any, want: Any, what: str = "output", rtol: float = RTOL, atol: float = ATOL) -> str | None:
    """None if ``got`` matches ``want``; else where they first differ, e.g. "output[3] is 0.5, expected 0.25"."""
    g, w = to_float64(got), to_float64(want)
    if g.shape != w.shape:
        return f"{what} has shape {shape_str(g.shape)}; expected {shape_str(w.shape)}"
    if g.ndim == 0:
        return None if close(g, w, rtol, atol) else f"{what} is {fmt(g)}, expected {fmt(w)}"
    bad = ~torch.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    if not bool(bad.any()):
        return None
    idx = tuple(int(i) for i in bad.nonzero()[0])
    where = ", ".join(str(i) for i in idx)
    return f"{what}[{where}] is {fmt(g[idx])}, expected {fmt(w[idx])}"


def has_nan_or_inf(x: Any) -> bool:
    """True if any element is NaN or infinite."""
    return not bool(torch.isfinite(to_float64(x)).all())
