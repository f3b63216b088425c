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

__all__ = [
    "check_unit_interval",
    "check_positive",
    "check_non_negative",
    "check_positive_int",
    "check_same_shape",
    "check_time_major",
]


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
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be an integer >= 1; got {value!r} of type {type(value).__name__}")
    n = int(value.__index__())
    if n < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {n}")
    return n


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
