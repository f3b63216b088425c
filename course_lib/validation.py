"""Input checks shared by the whole library: the one place error messages are phrased.

Every check raises ``ValueError`` with a message that says which value was wrong, what it was and what is
allowed, e.g. ``gamma must be in [0, 1]; got 1.5`` or
``logp has shape (4,) but adv has shape (4, 1); they must match``.

The scalar checks return the value as a Python ``float`` (or ``int``), so a caller can write
``gamma = check_unit_interval("gamma", gamma)`` and use the cleaned value.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "check_unit_interval",
    "check_positive",
    "check_non_negative",
    "check_positive_int",
    "check_non_negative_int",
    "check_open_unit_interval",
    "check_bool",
    "check_seed",
    "check_env_id",
    "check_tensor",
    "check_all_finite",
    "check_flags",
    "check_same_shape",
    "check_time_major",
]

SEED_MAX = 2**32 - 1
"""The largest seed every random generator of the course accepts (numpy's and gymnasium's limit)."""


def _as_real(name: str, value: Any, allowed: str) -> float:
    """Convert ``value`` to a finite float, or raise ValueError naming ``name`` and what is ``allowed``."""
    # bool is an int subclass in Python; gamma=True is a mistake, not 1.0
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a real number {allowed}; got the bool {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"{name} must be a real number {allowed}; got {value!r} of type {type(value).__name__}"
        ) from None
    if math.isnan(x):
        raise ValueError(f"{name} must be a real number {allowed}; got nan")
    return x


def _as_int(name: str, value: Any, allowed: str) -> int:
    """``value`` as an int (anything with ``__index__`` but bool), or raise ValueError naming what is ``allowed``."""
    # bools and floats such as 2.0 are refused: n_episodes=2.5 or seed=True are mistakes
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be {allowed}; got {value!r:.60} of type {type(value).__name__}")
    return int(value.__index__())


def _in_range(name: str, n: int, low: int, high: int | None, allowed: str) -> int:
    """``n`` if ``low <= n <= high`` (no upper bound for None), else ValueError (long integers shortened)."""
    if n < low or (high is not None and n > high):
        # str(n)[:40]: a 400-digit integer must not fill the screen
        raise ValueError(f"{name} must be {allowed}; got {str(n)[:40]}")
    return n


def check_unit_interval(name: str, value: Any) -> float:
    """Check that ``0 <= value <= 1`` (discount ``gamma``, GAE ``lam``, probabilities).

    Args:
        name: the parameter's name, used in the message.
        value: a real scalar (Python number, numpy scalar or 0-d tensor).
    Returns:
        ``value`` as a float.
    Raises:
        ValueError: if ``value`` is not a real number in ``[0, 1]``.
    """
    x = _as_real(name, value, "in [0, 1]")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]; got {value!r}")
    return x


def check_positive(name: str, value: Any) -> float:
    """Check that ``value > 0`` and finite (``clip_eps``, learning rates, ``eps`` terms).

    Returns:
        ``value`` as a float.
    Raises:
        ValueError: if ``value`` is not a finite real number greater than 0.
    """
    x = _as_real(name, value, "> 0")
    if not (x > 0.0 and math.isfinite(x)):
        raise ValueError(f"{name} must be > 0 (and finite); got {value!r}")
    return x


def check_non_negative(name: str, value: Any) -> float:
    """Check that ``value >= 0`` and finite (e.g. a KL penalty coefficient ``beta``, where 0 switches it off).

    Returns:
        ``value`` as a float.
    Raises:
        ValueError: if ``value`` is not a finite real number of at least 0.
    """
    x = _as_real(name, value, ">= 0")
    if not (x >= 0.0 and math.isfinite(x)):
        raise ValueError(f"{name} must be >= 0 (and finite); got {value!r}")
    return x


def check_positive_int(name: str, value: Any) -> int:
    """Check that ``value`` is an integer >= 1 (a number of steps ``n``, environments, epochs).

    Returns:
        ``value`` as an int.
    Raises:
        ValueError: if ``value`` is not an integer (bools and floats such as 2.0 are refused) or is < 1.
    """
    return _in_range(name, _as_int(name, value, "an integer >= 1"), 1, None, "an integer >= 1")


def check_non_negative_int(name: str, value: Any) -> int:
    """Check that ``value`` is an integer >= 0 (a count that may be zero, e.g. ``learning_starts``).

    Returns:
        ``value`` as an int.
    Raises:
        ValueError: if ``value`` is not an integer (bools and floats are refused) or is < 0.
    """
    return _in_range(name, _as_int(name, value, "an integer >= 0"), 0, None, "an integer >= 0")


def check_open_unit_interval(name: str, value: Any) -> float:
    """Check that ``0 < value < 1`` (a shrink factor such as TRPO's ``backtrack_coeff``).

    Returns:
        ``value`` as a float.
    Raises:
        ValueError: if ``value`` is not a real number strictly between 0 and 1.
    """
    x = _as_real(name, value, "in (0, 1)")
    if not 0.0 < x < 1.0:
        raise ValueError(f"{name} must be in (0, 1); got {value!r}")
    return x


def check_bool(name: str, value: Any) -> bool:
    """Check that a switch is ``True`` or ``False`` (numpy bools too): ``norm_adv="no"`` is a mistake, not True.

    Returns:
        ``value`` as a Python bool.
    Raises:
        ValueError: for anything else, including 0/1 and strings.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False; got {value!r} of type {type(value).__name__}")


def check_seed(name: str, value: Any) -> int:
    """Check that a seed is an integer in ``[0, 2**32 - 1]`` (what numpy, torch and gymnasium all accept).

    Returns:
        ``value`` as an int.
    Raises:
        ValueError: for bools, floats, strings and integers out of range.
    """
    allowed = f"an integer in [0, {SEED_MAX}]"
    return _in_range(name, _as_int(name, value, allowed), 0, SEED_MAX, allowed)


def check_env_id(name: str, value: Any) -> str:
    """Check that an environment id is a non-empty string such as ``"CartPole-v1"``.

    Returns:
        ``value``.
    Raises:
        ValueError: for anything else (e.g. an env object or a number).
    """
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"{name} must be a registered Gymnasium id (a non-empty string such as 'CartPole-v1'); "
            f"got {value!r:.60} of type {type(value).__name__}"
        )
    return value


def check_tensor(name: str, value: Any) -> None:
    """Check that ``value`` is a torch tensor (losses need autograd: a numpy array or list has no gradient).

    Raises:
        ValueError: naming the type that was passed and how to convert it.
    """
    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor; got {type(value).__name__} (convert with torch.as_tensor)"
        )


def check_all_finite(name: str, value: Any) -> None:
    """Check that a tensor (or array) holds no NaN or inf: they would silently spread through every sum.

    Raises:
        ValueError: naming how many entries are not finite and the first one.
    """
    t = torch.as_tensor(value)
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = t[~torch.isfinite(t)]
        raise ValueError(
            f"{name} must be finite; got {bad.numel()} of {t.numel()} entries non-finite (first: {bad[0].item()})"
        )


def check_flags(name: str, value: Any) -> None:
    """Check that episode-end flags are 0/1 (or bool): ``terminated = 2.0`` would silently scale a bootstrap.

    Raises:
        ValueError: naming the first value that is neither 0 nor 1.
    """
    t = torch.as_tensor(value)
    if t.dtype == torch.bool:
        return
    bad = t[(t != 0) & (t != 1)]
    if bad.numel():
        raise ValueError(f"{name} must hold only 0/1 flags (or bools); got the value {bad[0].item()}")


def _shape(x: Any) -> tuple[int, ...]:
    """The shape of a tensor/array as a plain tuple (``()`` for Python scalars)."""
    return tuple(int(d) for d in getattr(x, "shape", ()))


def check_same_shape(name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Check that two tensors (or numpy arrays) have exactly the same shape; no broadcasting.

    Silent broadcasting is the classic bug here: ``logp`` of shape ``(B,)`` times ``adv`` of shape ``(B, 1)``
    is a ``(B, B)`` matrix, and its mean is a wrong but finite loss.

    Raises:
        ValueError: ``"<name_a> has shape (..) but <name_b> has shape (..); they must match"``.
    """
    shape_a, shape_b = _shape(a), _shape(b)
    if shape_a != shape_b:
        raise ValueError(f"{name_a} has shape {shape_a} but {name_b} has shape {shape_b}; they must match")


def check_time_major(name: str, x: Any) -> None:
    """Check that ``x`` is a time-major batch: shape ``(T, N)`` or ``(T,)`` with ``T >= 1``.

    Raises:
        ValueError: naming ``name``, its shape and the allowed shapes.
    """
    shape = _shape(x)
    if len(shape) not in (1, 2) or shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (T, N) or (T,) with T >= 1 (time-major); got shape {shape}"
        )
