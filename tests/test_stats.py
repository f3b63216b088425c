"""Bootstrap confidence intervals and the interquartile mean, checked against exact values and by simulation."""
import numpy as np
import pytest

from course_lib import stats


def test_iqm_known_values():
    assert stats.iqm(np.arange(8.0)) == pytest.approx(3.5)  # mean of 2, 3, 4, 5
    assert stats.iqm([1.0, 2.0, 3.0, 4.0, 100.0]) == pytest.approx(3.0)  # the outlier does not count
    # n = 6: the middle 50 % is [1.5, 4.5) in rank units, i.e. half of x(1), x(2), x(3), half of x(4)
    assert stats.iqm([0.0, 10.0, 20.0, 30.0, 40.0, 50.0]) == pytest.approx((5 + 20 + 30 + 20) / 3)
    np.testing.assert_allclose(stats.iqm(np.array([[0.0, 1.0], [4.0, 1.0], [8.0, 1.0], [100.0, 1.0]])), [6.0, 1.0])


def test_ci_of_a_constant_is_the_constant_and_estimate_is_the_statistic():
    ci = stats.bootstrap_ci(np.full(5, 3.0))
    assert ci == (3.0, 3.0, 3.0)
    x = np.array([1.0, 2.0, 4.0, 8.0, 100.0])
    assert stats.bootstrap_ci(x).estimate == pytest.approx(x.mean())
    assert stats.bootstrap_ci(x, statistic="iqm").estimate == pytest.approx(stats.iqm(x))
    assert stats.bootstrap_ci(x, seed=3) == stats.bootstrap_ci(x, seed=3)  # reproducible


def test_ci_of_the_mean_matches_the_normal_theory_interval_for_many_samples():
    # for n = 400 normal samples the percentile bootstrap CI ≈ mean ± 1.96 s / sqrt(n)
    x = np.random.default_rng(0).normal(5.0, 2.0, size=400)
    ci = stats.bootstrap_ci(x, n_resamples=20_000)
    half = 1.96 * x.std() / np.sqrt(len(x))
    assert ci.low == pytest.approx(x.mean() - half, abs=0.03)
    assert ci.high == pytest.approx(x.mean() + half, abs=0.03)


def test_coverage_is_close_to_nominal_by_simulation():
    # sampled estimate against the exact value: over 400 data sets of 30 normal samples, the 95 % interval
    # contains the true mean about 95 % of the time (percentile bootstrap undercovers slightly at small n)
    rng = np.random.default_rng(1)
    hits = sum(ci.low <= 0.0 <= ci.high for ci in
               (stats.bootstrap_ci(rng.normal(size=30), n_resamples=1000, seed=i) for i in range(400)))
    assert 0.90 <= hits / 400 <= 0.98


def test_interval_shrinks_with_more_seeds_and_vectorises_over_columns():
    rng = np.random.default_rng(2)
    small = stats.bootstrap_ci(rng.normal(size=5))
    large = stats.bootstrap_ci(rng.normal(size=500))
    assert large.high - large.low < (small.high - small.low) / 4
    table = rng.normal(size=(6, 3)) + np.array([0.0, 10.0, 20.0])
    ci = stats.bootstrap_ci(table)
    for j in range(3):
        one = stats.bootstrap_ci(table[:, j])
        assert ci.estimate[j] == pytest.approx(one.estimate)
        assert ci.low[j] <= ci.estimate[j] <= ci.high[j]


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        stats.bootstrap_ci([1.0])
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_ci([1.0, np.nan])
    with pytest.raises(ValueError, match="statistic"):
        stats.bootstrap_ci([1.0, 2.0], statistic="median")
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci([1.0, 2.0], confidence=95)
    with pytest.raises(ValueError, match="no values"):
        stats.iqm([])


def test_bootstrap_in_blocks_gives_the_same_interval_and_handles_large_tables(monkeypatch):
    rng = np.random.default_rng(4)
    table = rng.normal(size=(40, 7))
    whole = stats.bootstrap_ci(table, n_resamples=500, seed=1)
    for statistic in ("mean", "iqm"):
        expected = stats.bootstrap_ci(table, statistic, n_resamples=500, seed=1)
        monkeypatch.setattr(stats, "_BOOTSTRAP_BLOCK_ELEMENTS", 3 * table.size + 5)   # blocks of 3 resamples
        blocked = stats.bootstrap_ci(table, statistic, n_resamples=500, seed=1)
        monkeypatch.undo()
        for a, b in zip(blocked, expected):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(whole.low, whole.high)
    # 1000 runs x 100 episodes x 2000 resamples would be 1.6 GB if resampled at once
    big = np.random.default_rng(5).random((1000, 100))
    ci = stats.bootstrap_ci(big, n_resamples=2000)
    assert ci.low.shape == (100,) and np.all(ci.low < big.mean(0)) and np.all(big.mean(0) < ci.high)
