"""claim() passes a supported sentence, fails an unsupported one quoting it, and refuses vague conditions."""
import numpy as np
import pytest

from course_lib.claims import ClaimNotSupported, claim


def test_supported_claim_prints_one_line(capsys):
    claim("the clipped run's KL is lower", bool(np.all(np.array([0.01]) < 0.02)), "KL 0.01 vs 0.02")
    assert capsys.readouterr().out == "✓ the clipped run's KL is lower — KL 0.01 vs 0.02\n"


def test_long_confirmation_is_wrapped_at_100_characters(capsys):
    claim("a long sentence " * 10, True, "evidence " * 20)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 2 and all(len(line) <= 100 for line in lines) and lines[0].startswith("✓ a long")
    assert all(line.startswith("  ") for line in lines[1:])


def test_unsupported_claim_fails_quoting_sentence_and_evidence():
    with pytest.raises(ClaimNotSupported, match=r'the claim "X is faster than Y".*Measured: 3 s vs 2 s'):
        claim("X is faster than Y", 3 < 2, "3 s vs 2 s")
    assert issubclass(ClaimNotSupported, AssertionError)  # pytest and nbval report it as a failed assertion


def test_arrays_and_none_cannot_pass_by_accident():
    with pytest.raises(TypeError, match="must be a bool"):
        claim("all seeds improve", np.array([True, False]), "")
    with pytest.raises(TypeError, match="must be a bool"):
        claim("something", None, "")
    with pytest.raises(TypeError, match="sentence"):
        claim("", True, "")
    claim("numpy bools are fine", np.bool_(True), "")
