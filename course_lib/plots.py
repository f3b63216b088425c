"""One plot style for the whole course, figures shown sharp and with alt text, and learning curves over seeds.

Every comparison in the course is shown over several seeds: the line is the mean and the band, by default, its
95 % bootstrap confidence interval over seeds (``course_lib.stats``), so a learner sees both the effect and how
sure we are of it. The spread of the seeds themselves (min to max, or mean ± one standard deviation) is there too.

Every figure of the course is shown by :func:`show` (``plots.show(fig, alt="what it shows")``): a HiDPI
("retina") PNG at twice the pixels of its displayed size, with alt text. The alt text is the author's sentence
followed by what :func:`describe` reads off the figure (panel titles, axis labels, legend entries, colour bars).
It is saved three ways, so every viewer finds it: in an ``<img alt=...>`` of the ``text/html`` representation
(JupyterLab 4 and nbconvert's default ``lab`` template render that one; they ignore PNG metadata), in the
``image/png`` metadata (``alt``, ``width``, ``height``: nbconvert's ``classic`` template, MyST-NB via
``site/course_site.py``) and as the ``text/plain`` representation. :func:`use_course_style` also registers the
same display for every other matplotlib figure (``plt.show()``, a figure as a cell's last value), with the alt
text from :func:`describe` alone — so a learner's own figures are sharp and described too.
"""
from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from course_lib import stats

# Colour-blind-safe palette (Okabe & Ito 2008), used in the same order in every notebook.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def use_course_style() -> None:
    """Apply the course's matplotlib style (sizes, grid, palette) to every figure drawn after the call."""
    plt.rcParams.update(
        {
            "figure.figsize": (7.0, 3.6),
            "figure.dpi": 90,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": plt.cycler(color=PALETTE),
            "legend.frameon": False,
            "font.size": 10,
        }
    )
    install_display()


# ------------------------------------------------------------------------------------------ showing figures

RETINA = 2   # PNG pixels per displayed (CSS) pixel
ALT_ATTRIBUTE = "course_alt"   # the author's sentence, kept on the Figure by ``show`` until it is displayed
MAX_ALT = 600   # characters; a screen reader reads all of it, so the structure part is cut beyond this


def _plain(text: str) -> str:
    """A label as it reads aloud: TeX markup and underscores removed, spaces collapsed."""
    text = re.sub(r"\\(?:mathrm|text|mathbf|operatorname)\{([^}]*)\}", r"\1", text)
    text = re.sub(r"\\([A-Za-z]+)", r"\1", text)   # \gamma -> gamma
    text = re.sub(r"[$\\{}]", "", text).replace("_", " ")
    return " ".join(text.split())


def _is_colorbar(ax: plt.Axes) -> bool:
    return ax.get_label() == "<colorbar>" or hasattr(ax, "_colorbar")


def describe(fig: Figure) -> str:
    """What a reader could learn from the figure's text: its title, and per panel the title, the axes' labels,
    the legend's entries and a colour bar's label. One sentence per panel; "" for a figure without text.

    Example: ``Two panels. Panel 1, "returns": x: env steps; y: return; lines: lr 0.01, lr 0.1.``
    """
    panels = [ax for ax in fig.axes if not _is_colorbar(ax) and ax.get_visible()]
    bars = {id(ax._colorbar.ax): _plain(ax._colorbar.ax.get_ylabel() or ax._colorbar.ax.get_xlabel())
            for ax in fig.axes if hasattr(ax, "_colorbar")}
    sentences = []
    title = _plain(fig._suptitle.get_text()) if getattr(fig, "_suptitle", None) else ""
    if title:
        sentences.append(f"Title: {title}.")
    if len(panels) > 1:
        sentences.append(f"{len(panels)} panels.")
    for index, ax in enumerate(panels, 1):
        bits = []
        name = _plain(" ".join(t for t in (ax.get_title("left"), ax.get_title(), ax.get_title("right")) if t))
        for label, text in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if _plain(text):
                bits.append(f"{label}: {_plain(text)}")
        legend = ax.get_legend()
        entries = [_plain(t.get_text()) for t in legend.get_texts()] if legend is not None else []
        entries = [e for e in entries if e]
        if entries:
            bits.append("lines: " + ", ".join(entries))
        if ax.images or ax.collections and any(type(c).__name__ == "QuadMesh" for c in ax.collections):
            bits.append("heat map")
        for mappable in [*ax.images, *ax.collections]:
            bar = getattr(mappable, "colorbar", None)
            if bar is not None and bars.get(id(bar.ax)):
                bits.append(f"colour: {bars[id(bar.ax)]}")
                break
        if not bits and not name:
            continue
        head = (f'Panel {index}' if len(panels) > 1 else "Chart") + (f', "{name}"' if name else "")
        sentences.append(head + (": " + "; ".join(bits) if bits else "") + ".")
    text = " ".join(sentences)
    return text if len(text) <= MAX_ALT else text[: MAX_ALT - 1].rsplit(" ", 1)[0] + "…"


def alt_text(fig: Figure, alt: str | None = None) -> str:
    """The figure's alt text: the author's sentence (``alt``, else the one ``show`` stored on the figure), then
    :func:`describe`. Never empty: a figure without any text is called a figure without labels."""
    alt = alt if alt is not None else getattr(fig, ALT_ATTRIBUTE, None)
    parts = [" ".join(alt.split()).rstrip(".") + "." if alt and alt.strip() else "", describe(fig)]
    text = " ".join(p for p in parts if p)
    return text or "A figure without title, labels or legend."


def figure_png(fig: Figure, scale: int = RETINA) -> tuple[bytes, int, int]:
    """The figure as a PNG with ``scale`` pixels per displayed pixel (tight bounding box, as Jupyter's inline
    backend draws it), reduced to at most 256 colours (a third of the bytes; matplotlib's flat colours survive).
    Returns ``(png, width, height)`` with the displayed (CSS pixel) size."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi * scale, bbox_inches="tight",
                facecolor=fig.get_facecolor(), edgecolor="none")
    image = Image.open(io.BytesIO(buffer.getvalue()))
    small = io.BytesIO()
    image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(small, format="png", optimize=True)
    png = small.getvalue() if small.tell() < buffer.tell() else buffer.getvalue()
    return png, round(image.width / scale), round(image.height / scale)


def figure_bundle(fig: Figure, alt: str | None = None) -> tuple[dict, dict]:
    """The display data of a figure: ``({mime: data}, {mime: metadata})`` for ``text/html`` (an ``<img>`` with
    alt text and its displayed width), ``image/png`` (with ``alt``, ``width``, ``height`` metadata) and
    ``text/plain`` (the alt text)."""
    png, width, height = figure_png(fig)
    text = alt_text(fig, alt)
    encoded = base64.b64encode(png).decode("ascii")
    img = (f'<img src="data:image/png;base64,{encoded}" width="{width}" '
           f'alt="{html.escape(text, quote=True)}" />')
    data = {"text/html": img, "image/png": encoded, "text/plain": text}
    metadata = {"image/png": {"width": width, "height": height, "alt": text}}
    return data, metadata


def show(fig: Figure | None = None, alt: str | None = None, close: bool = True) -> None:
    """Display ``fig`` (default: the current figure) sharp on HiDPI screens, with alt text, and close it.

    Args:
        fig: the figure; ``None`` takes ``plt.gcf()``.
        alt: one or two sentences saying what the figure shows (what to see in it, not "figure 1");
            :func:`describe` appends the panels, axes and legends.
        close: close the figure after showing it, so Jupyter does not draw it a second time.
    """
    from IPython.display import display

    fig = plt.gcf() if fig is None else fig
    if alt is not None:
        setattr(fig, ALT_ATTRIBUTE, alt)
    data, metadata = figure_bundle(fig)
    display(data, metadata=metadata, raw=True)
    if close:
        plt.close(fig)


_PNG_STASH = "_course_png"   # the PNG and metadata of the bundle just made, for the image/png formatter


def _mimebundle(fig: Figure, shell=None) -> tuple[dict, dict]:
    data, metadata = figure_bundle(fig)
    setattr(fig, _PNG_STASH, (data["image/png"], metadata["image/png"]))
    if shell is not None:   # matplotlib_inline registers its 1x PNG when the backend loads, maybe after us
        shell.display_formatter.formatters["image/png"].for_type(Figure, _png)
    return data, metadata


def _png(fig: Figure) -> tuple[str, dict]:
    """IPython asks a per-type image/png formatter even when the mime bundle has a PNG (matplotlib_inline
    registers one for Figure): answer with the bundle's own HiDPI PNG, drawn once."""
    stashed = getattr(fig, _PNG_STASH, None)
    if stashed is None:
        data, metadata = figure_bundle(fig)
        stashed = data["image/png"], metadata["image/png"]
    else:
        delattr(fig, _PNG_STASH)
    return stashed


def install_display(shell=None) -> bool:
    """Make IPython display every matplotlib figure as :func:`show` does (HiDPI PNG with alt text), including
    ``plt.show()`` with the inline backend and a figure left as a cell's value. False outside IPython.

    matplotlib_inline registers its own 1x PNG formatter for Figure when the backend loads, which can be after
    this call, and IPython prefers a per-type PNG formatter to the bundle's PNG: each bundle re-registers ours.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    shell.display_formatter.mimebundle_formatter.for_type(Figure, lambda fig: _mimebundle(fig, shell))
    shell.display_formatter.formatters["image/png"].for_type(Figure, _png)
    return True


BANDS = ("ci", "minmax", "std")
BAND_LABELS = {"ci": "95% bootstrap CI", "minmax": "min-max", "std": "mean ± std"}


class SeedSummary(NamedTuple):
    """Curves of several seeds put on one x grid. ``x``: (G,); ``mean``, ``low``, ``high``: (G,)."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def summarise_seeds(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], points: int = 100, band: str = "ci"
) -> SeedSummary:
    """Interpolate each seed's curve onto a shared grid and summarise across seeds.

    Args:
        curves: one ``(x, y)`` pair per seed, each 1-D with increasing ``x`` (e.g. env steps). NaN values of
            ``y`` (no finished episode yet) are dropped before interpolating.
        points: grid size ``G``; the grid spans the x-range that *every* seed covers, so no seed is extrapolated.
        band: ``"ci"`` (95 % percentile-bootstrap confidence interval of the mean over seeds; with a single seed
            the band is the line itself), ``"minmax"`` (from the worst to the best seed) or ``"std"`` (mean ± one
            standard deviation).
    Returns:
        ``SeedSummary`` of arrays with shape (G,).
    """
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    cleaned = []
    for x, y in curves:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        keep = np.isfinite(y)
        if keep.sum() < 2:
            raise ValueError("each seed's curve needs at least two finite points to be interpolated")
        cleaned.append((x[keep], y[keep]))
    if not cleaned:
        raise ValueError("summarise_seeds needs at least one (x, y) curve")
    start = max(x[0] for x, _ in cleaned)
    stop = min(x[-1] for x, _ in cleaned)
    grid = np.linspace(start, stop, points)
    ys = np.stack([np.interp(grid, x, y) for x, y in cleaned])  # (seeds, G)
    mean = ys.mean(axis=0)
    if band == "ci":
        low, high = (mean, mean) if len(ys) < 2 else stats.bootstrap_ci(ys, n_resamples=2000)[1:]
    elif band == "minmax":
        low, high = ys.min(axis=0), ys.max(axis=0)
    else:
        std = ys.std(axis=0)
        low, high = mean - std, mean + std
    return SeedSummary(grid, mean, low, high)


def plot_seeds(ax: plt.Axes, curves: Sequence[tuple[np.ndarray, np.ndarray]], label: str, color: str | None = None,
               band: str = "ci") -> SeedSummary:
    """Draw the mean of several seeds as a line and a shaded band (see ``summarise_seeds``) on ``ax``."""
    summary = summarise_seeds(curves, band=band)
    shown = f"n={len(curves)}, {BAND_LABELS[band]}" if len(curves) > 1 else "n=1"
    (line,) = ax.plot(summary.x, summary.mean, label=f"{label} ({shown})", color=color)
    ax.fill_between(summary.x, summary.low, summary.high, color=line.get_color(), alpha=0.2, linewidth=0)
    return summary


def learning_curves(runs: Mapping[str, Sequence], y: str = "episode_return_mean", x: str = "env_steps",
                    ax: plt.Axes | None = None, band: str = "ci", title: str | None = None) -> plt.Axes:
    """Plot one mean-and-spread curve per label from training histories.

    Args:
        runs: label -> list of histories (one per seed); each history has ``column(name) -> np.ndarray``.
        y, x: the history columns to plot.
    """
    if ax is None:
        _, ax = plt.subplots()
    for label, histories in runs.items():
        plot_seeds(ax, [(h.column(x), h.column(y)) for h in histories], label, band=band)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def mean_and_spread(values: Sequence[float], digits: int = 1) -> str:
    """Format per-seed values as 'mean ± std (min … max)' with ``digits`` decimals, for tables beside a plot."""
    v = np.asarray(values, dtype=float)
    f = f".{digits}f"
    return f"{v.mean():{f}} ± {v.std():{f}} ({v.min():{f}} … {v.max():{f}})"
