"""PNG plots of training curves (matplotlib, no display needed).

The one place that chooses matplotlib's backend: every module that draws
imports ``plt`` from here, so the non-interactive Agg backend is always set
before pyplot is first imported.
"""
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def draw_curves(ax, curves: dict, xlabel="epoch", ylabel="", title="") -> None:
    """Draw each curve of `curves` (``{label: sequence of numbers}``) against its 1-based index on `ax`,
    with integer ticks on the x axis (epochs are whole) and a legend when there are several."""
    for label, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend()


def save_figure(fig, path) -> Path:
    """Render `fig` in the format of `path`'s suffix (PNG by default), write it atomically
    (`keras_hw2.runs.write_bytes`: a crash leaves the old picture or the new one, never half of one)
    and close it. Returns ``Path(path)``."""
    from keras_hw2.runs import write_bytes  # runs imports Keras: only once a figure is written

    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix[1:] or "png")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path


def plot_curves(curves: dict, path, xlabel="epoch", ylabel="", title="") -> Path:
    """Plot one or more curves against their index (1-based) and save a PNG (`draw_curves`).

    Args:
        curves: ``{label: sequence of numbers}``; each is drawn as a line.
        path: where the PNG goes.

    Returns:
        The path written.
    """
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    draw_curves(ax, curves, xlabel=xlabel, ylabel=ylabel, title=title)
    fig.tight_layout()
    return save_figure(fig, path)
