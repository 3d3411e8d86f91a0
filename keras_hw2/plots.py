"""PNG plots of training curves (matplotlib, no display needed).

The one place that chooses matplotlib's backend: every module that draws
imports ``plt`` from here, so the non-interactive Agg backend is always set
before pyplot is first imported.
"""
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
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
