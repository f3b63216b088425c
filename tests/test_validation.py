"""The shared input checks: accepted values pass through, every refusal names the value and what is allowed."""
import math

import numpy as np
import pytest
import torch

from course_lib.validation import (
    check_non_negative,
    check_positive,
    check_positive_int,
    check_same_shape,
    check_time_major,
    check_unit_interval,
)


@pytest.mark.parametrize("value", [0, 0.0, 0.5, 1, 1.0, np.float32(0.99), torch.tensor(0.95)])
def test_unit_interval_accepts_and_returns_float(value):
    out = check_unit_interval("gamma", value)
    assert isinstance(out, float)
    assert out == pytest.approx(float(value))


@pytest.mark.parametrize("value", [-0.01, 1.0001, 2, -1, math.inf])
def test_unit_interval_refuses_outside(value):
    with pytest.raises(ValueError, match=r"^gamma must be in \[0, 1\]; got "):
        check_unit_interval("gamma", value)


@pytest.mark.parametrize("value", [math.nan, "0.9x", None, [0.5], True, torch.tensor([0.5, 0.5])])
def test_unit_interval_refuses_non_numbers(value):
    with pytest.raises(ValueError, match=r"^lam must be a real number in \[0, 1\]; got"):
        check_unit_interval("lam", value)


def test_positive():
    assert check_positive("clip_eps", 0.2) == 0.2
    assert check_positive("clip_eps", 3) == 3.0
    for bad in (0, 0.0, -0.1, math.inf):
        with pytest.raises(ValueError, match=r"^clip_eps must be > 0 \(and finite\); got "):
            check_positive("clip_eps", bad)
    with pytest.raises(ValueError, match=r"^eps must be a real number > 0; got nan"):
        check_positive("eps", float("nan"))


def test_non_negative():
    assert check_non_negative("beta", 0) == 0.0
    assert check_non_negative("beta", 1.5) == 1.5
    for bad in (-1e-9, math.inf):
        with pytest.raises(ValueError, match=r"^beta must be >= 0 \(and finite\); got "):
            check_non_negative("beta", bad)


def test_positive_int():
    assert check_positive_int("n", 1) == 1
    assert check_positive_int("n", np.int64(5)) == 5
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1; got 0$"):
        check_positive_int("n", 0)
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1; got -3$"):
        check_positive_int("n", -3)
    for bad in (2.0, True, "3", None):
        with pytest.raises(ValueError, match=r"^n must be an integer >= 1; got .* of type "):
            check_positive_int("n", bad)


def test_same_shape_passes_and_names_both_shapes():
    check_same_shape("logp", torch.zeros(4), "adv", torch.ones(4))
    check_same_shape("a", np.zeros((2, 3)), "b", torch.zeros(2, 3))
    with pytest.raises(
        ValueError, match=r"^logp has shape \(4,\) but adv has shape \(4, 1\); they must match$"
    ):
        check_same_shape("logp", torch.zeros(4), "adv", torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"^x has shape \(\) but y has shape \(1,\); they must match$"):
        check_same_shape("x", 1.0, "y", torch.zeros(1))


def test_time_major():
    check_time_major("rewards", torch.zeros(5))
    check_time_major("rewards", torch.zeros(5, 3))
    for bad in (torch.zeros(()), torch.zeros(0), torch.zeros(0, 2), torch.zeros(2, 3, 4)):
        with pytest.raises(ValueError, match=r"^rewards must have shape \(T, N\) or \(T,\) with T >= 1"):
            check_time_major("rewards", bad)
