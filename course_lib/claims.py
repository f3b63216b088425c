"""Claim checks: a sentence of the course's prose, checked against the data it rests on.

A notebook that says "clipping keeps the KL below the unclipped run's on every seed" follows the cell that
measures it with a hidden cell tagged ``claim``::

    claim("clipping keeps the KL below the unclipped run's on every seed",
          bool(np.all(kl_clip < kl_plain)), f"KL clip {kl_clip.round(4)} vs plain {kl_plain.round(4)}")

When the data stop supporting the sentence (a library change, a new seed, a new default), the cell raises and
``make test`` (which executes every notebook) fails, quoting the sentence and the measured evidence.
"""
from __future__ import annotations

import textwrap

WIDTH = 100  # printed lines stay readable in a notebook


class ClaimNotSupported(AssertionError):
    """A sentence of the course is no longer supported by the data it rests on."""


def claim(sentence: str, holds: bool, evidence: str) -> None:
    """Check that ``sentence`` is supported; print a short confirmation, or raise ``ClaimNotSupported``.

    Args:
        sentence: the words of the prose being checked, quoted in the message.
        holds: the check on the notebook's own data, with its tolerance written into it
            (e.g. ``ratio > 2.0`` or ``abs(x - 0.5) < 0.05``); must be a real ``bool`` (or ``numpy.bool_``).
        evidence: the measured numbers behind the check, shown in both outcomes.
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise TypeError("claim(): `sentence` must be the non-empty sentence being checked")
    if type(holds).__name__ not in ("bool", "bool_"):
        raise TypeError(f"claim(): `holds` must be a bool (got {type(holds).__name__}); compare explicitly, e.g. "
                        "`bool(np.all(a < b))`, so that an array or None cannot pass by accident")
    if not holds:
        raise ClaimNotSupported(f'The data no longer support the claim "{sentence}". Measured: {evidence}. '
                                "Re-check the experiment above, then fix the prose or the code.")
    print(textwrap.fill(f"✓ {sentence} — {evidence}", width=WIDTH, subsequent_indent="  ",
                        break_long_words=False, break_on_hyphens=False))
