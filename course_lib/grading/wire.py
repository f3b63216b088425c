"""Observations as JSON, the only thing a grading child process sends back to the grader.

Plain JSON (never pickle): decoding untrusted text can only produce numbers, strings, lists, dicts and float64
tensors, so nothing the learner's code does in the child can run code in the grader.
"""
from __future__ import annotations

import json
import math
from typing import Any

import torch

TENSOR = "__tensor__"
MAX_ELEMENTS = 1_000_000


class WireError(ValueError):
    """The child's message is not a well-formed list of observations."""


def _encode(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        t = x.detach().to(torch.float64).cpu()
        return {TENSOR: {"shape": list(t.shape), "data": t.flatten().tolist()}}
    if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
        return x
    if isinstance(x, float):
        return x
    if isinstance(x, (list, tuple)):
        return [_encode(item) for item in x]
    if isinstance(x, dict):
        return {str(k): _encode(v) for k, v in x.items()}
    raise TypeError(f"cannot send a {type(x).__name__} as observation data")


def encode(payload: Any) -> str:
    """JSON text for a payload of observations (NaN and inf are kept, as JSON's NaN / Infinity)."""
    return json.dumps(_encode(payload), allow_nan=True)


def _decode(x: Any, depth: int = 0) -> Any:
    if depth > 20:
        raise WireError("observation nested too deeply")
    if isinstance(x, dict):
        if set(x) == {TENSOR}:
            spec = x[TENSOR]
            if not isinstance(spec, dict) or set(spec) != {"shape", "data"}:
                raise WireError("malformed tensor")
            shape, data = spec["shape"], spec["data"]
            if (not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                       for d in shape)
                    or not isinstance(data, list) or len(data) > MAX_ELEMENTS
                    or math.prod(shape) != len(data)
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data)):
                raise WireError("malformed tensor")
            return torch.tensor(data, dtype=torch.float64).reshape(shape)
        return {str(k): _decode(v, depth + 1) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode(item, depth + 1) for item in x]
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    raise WireError(f"unexpected {type(x).__name__} in observation")


def decode(text: str | bytes) -> Any:
    """Inverse of ``encode``; raises WireError for anything that is not well-formed observation data."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise WireError(f"not JSON: {err}") from None
    return _decode(raw)
