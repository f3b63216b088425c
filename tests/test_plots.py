import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib import plots  # noqa: E402


def test_summary_of_straight_lines_is_exact_on_the_shared_range():
    # seed k: y = x + k on different x ranges; the shared range is [10, 90]
    curves = [(np.array([0.0, 100.0]), np.array([0.0, 100.0]) + k) for k in (0, 1, 2)]
    curves.append((np.array([10.0, 90.0]), np.array([10.0, 90.0]) + 3))
    s = plots.summarise_seeds(curves, points=9, band="minmax")
    np.testing.assert_allclose(s.x, np.linspace(10, 90, 9))
    np.testing.assert_allclose(s.mean, s.x + 1.5)
    np.testing.assert_allclose(s.low, s.x)
    np.testing.assert_allclose(s.high, s.x + 3)
    std = plots.summarise_seeds(curves, points=9, band="std")
    np.testing.assert_allclose(std.high - std.mean, np.std([0, 1, 2, 3]))


def test_default_band_is_the_bootstrap_ci_of_the_mean():
    # seed k: y = x + k, k = 0..4: at every x the band is the bootstrap CI of the mean of {0..4} shifted by x
    x = np.linspace(0.0, 10.0, 11)
    s = plots.summarise_seeds([(x, x + k) for k in range(5)], points=11)
    from course_lib.stats import bootstrap_ci
    ci = bootstrap_ci(np.arange(5.0), n_resamples=2000)
    np.testing.assert_allclose(s.mean, x + 2.0)
    np.testing.assert_allclose(s.low - x, ci.low, atol=1e-12)
    np.testing.assert_allclose(s.high - x, ci.high, atol=1e-12)
    assert 0.0 < ci.low < 2.0 < ci.high < 4.0  # narrower than min-max, wider than nothing
    one = plots.summarise_seeds([(x, x)], points=11)  # one seed: no interval to draw
    np.testing.assert_allclose(one.low, one.high)


def test_nan_points_are_dropped_before_interpolating():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    s = plots.summarise_seeds([(x, np.array([np.nan, 1.0, 2.0, 3.0]))], points=3)
    np.testing.assert_allclose(s.x, [1, 2, 3])
    np.testing.assert_allclose(s.mean, [1, 2, 3])


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="band"):
        plots.summarise_seeds([(np.arange(3), np.arange(3))], band="iqr")
    with pytest.raises(ValueError, match="two finite points"):
        plots.summarise_seeds([(np.arange(3), np.array([np.nan, np.nan, 1.0]))])
    with pytest.raises(ValueError, match="at least one"):
        plots.summarise_seeds([])


def test_learning_curves_draws_one_line_per_label():
    class FakeHistory:
        def __init__(self, k):
            self.k = k

        def column(self, name):
            return np.arange(5.0) * 10 if name == "env_steps" else np.arange(5.0) + self.k

    plots.use_course_style()
    ax = plots.learning_curves({"A": [FakeHistory(0), FakeHistory(2)], "B": [FakeHistory(5)]}, title="t")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A (n=2, 95% bootstrap CI)", "B (n=1)"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.linspace(0, 4, 100) + 1)
    plt.close("all")


def test_mean_and_spread_format():
    assert plots.mean_and_spread([1.0, 2.0, 3.0]) == "2.0 ± 0.8 (1.0 … 3.0)"
    assert plots.mean_and_spread([0.001, 0.003], digits=4) == "0.0020 ± 0.0010 (0.0010 … 0.0030)"
