"""The one masked mean: averages over the valid samples of a batch (autoreset steps count nowhere).

Used by every loss (``losses.py``) and by advantage normalisation (``normalisation.py``).
"""
from __future__ import annotations

import torch

from course_lib.validation import check_same_shape

__all__ = ["masked_mean"]


def masked_mean(x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``valid`` is true (all entries if ``valid`` is None).

        masked_mean(x, m) = sum_i m_i x_i / sum_i m_i

    Args:
        x: any shape.
        valid: None, or a bool / 0-1 float mask of ``x``'s shape.
    Returns:
        a scalar tensor (differentiable w.r.t. ``x``).
    Raises:
        ValueError: ``valid`` of another shape, or a mask with no valid entry (the mean would be 0/0).
    """
    if valid is None:
        return x.mean()
    check_same_shape("valid", valid, "x", x)
    m = valid.to(x.dtype)
    count = m.sum()
    if count.item() == 0:
        raise ValueError(f"valid marks no sample as valid (all {valid.numel()} entries are False); "
                         "a mean needs at least one valid sample")
    return (x * m).sum() / count
