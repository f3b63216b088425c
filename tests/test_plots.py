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


# ------------------------------------------------------------------------------ figures shown with alt text

def _two_panel_figure():
    plots.use_course_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    left.plot([0, 1], [0, 1], label=r"$\gamma = 0.9$")
    left.plot([0, 1], [1, 0], label="no_baseline")
    left.set(title="returns", xlabel="env_steps", ylabel="return")
    left.legend()
    image = right.imshow(np.arange(6.0).reshape(2, 3))
    fig.colorbar(image, ax=right, label="final return")
    return fig


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_describe_reads_panels_axes_legends_and_colour_bars():
    fig = _two_panel_figure()
    text = plots.describe(fig)
    assert text.startswith("2 panels.")
    assert 'Panel 1, "returns": x: env steps; y: return; lines: gamma = 0.9, no baseline.' in text
    assert "Panel 2: heat map; colour: final return." in text
    assert "$" not in text and "\\" not in text
    plt.close(fig)


def test_alt_text_puts_the_authors_sentence_first_and_is_never_empty():
    fig = _two_panel_figure()
    assert plots.alt_text(fig, "Learning curves rise  and the map is bright") .startswith(
        "Learning curves rise and the map is bright. 2 panels.")
    setattr(fig, plots.ALT_ATTRIBUTE, "Stored sentence.")
    assert plots.alt_text(fig).startswith("Stored sentence. 2 panels.")
    plt.close(fig)
    bare, _ = plt.subplots()
    assert plots.alt_text(bare) == "A figure without title, labels or legend."
    plt.close(bare)


def test_figure_png_is_hidpi_and_reports_its_displayed_size():
    fig = _two_panel_figure()
    png, width, height = plots.figure_png(fig)
    pixels = _png_size(png)
    assert pixels[0] >= 2 * width - 1 and pixels[1] >= 2 * height - 1
    assert 0.5 * 8 * fig.dpi < width <= 8 * fig.dpi * 1.05   # tight box: about the figure's width in CSS px
    plt.close(fig)


def test_figure_bundle_carries_the_same_alt_text_in_html_png_metadata_and_plain_text():
    import base64
    import html

    fig = _two_panel_figure()
    data, metadata = plots.figure_bundle(fig, alt='Quotes "and" <brackets> are escaped')
    alt = data["text/plain"]
    assert alt.startswith('Quotes "and" <brackets> are escaped.')
    assert metadata["image/png"]["alt"] == alt
    assert f'alt="{html.escape(alt, quote=True)}"' in data["text/html"]
    assert f'width="{metadata["image/png"]["width"]}"' in data["text/html"]
    assert data["image/png"] in data["text/html"]
    width, height = _png_size(base64.b64decode(data["image/png"]))
    assert width >= 2 * metadata["image/png"]["width"] - 1 and height >= 2 * metadata["image/png"]["height"] - 1
    plt.close(fig)


def test_show_displays_the_bundle_once_and_closes_the_figure(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append((a, k)))
    fig = _two_panel_figure()
    plots.show(fig, alt="Two panels to test show")
    assert len(shown) == 1
    (data,), kwargs = shown[0]
    assert kwargs["raw"] is True and data["text/plain"].startswith("Two panels to test show. 2 panels.")
    assert kwargs["metadata"]["image/png"]["alt"] == data["text/plain"]
    assert not plt.fignum_exists(fig.number)


def test_every_figure_ipython_displays_gets_the_same_bundle():
    from IPython.core.interactiveshell import InteractiveShell

    from matplotlib_inline.backend_inline import select_figure_formats

    shell = InteractiveShell.instance()
    select_figure_formats(shell, {"png"})   # as the inline backend does in a kernel: a 1x PNG per Figure
    assert plots.install_display(shell)
    fig = _two_panel_figure()
    data, metadata = shell.display_formatter.format(fig)
    assert {"text/html", "image/png", "text/plain"} <= set(data)
    import base64
    width = int.from_bytes(base64.b64decode(data["image/png"])[16:20], "big")
    assert width >= 2 * metadata["image/png"]["width"] - 1   # the HiDPI PNG, not matplotlib's own
    assert data["image/png"] in data["text/html"]             # drawn once, the same picture in both
    select_figure_formats(shell, {"png"})   # the backend loads after install_display (lazily, at a first figure)
    data, metadata = shell.display_formatter.format(fig)
    assert data["image/png"] in data["text/html"]
    assert data["text/plain"] == plots.describe(fig) == metadata["image/png"]["alt"]
    assert "<img " in data["text/html"] and 'alt="2 panels.' in data["text/html"]
    plt.close(fig)
    assert plots.install_display(object()) is False
