"""The course's 2x2 training plot (lab 2 `plot_training_progress`) from per-epoch metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlrun.plots.figure import new_figure

MARGINS = {"left": 0.06, "right": 0.985, "bottom": 0.065, "top": 0.96, "wspace": 0.16, "hspace": 0.28}  # room for 7-digit tick labels


def training_plot_figure(history: Sequence[dict[str, float]]) -> Any:
    """Loss train/val, accuracy train/val, learning rate, and seconds per epoch, against epochs."""
    fig, axes = new_figure(2, 2, figsize=(12, 8), margins=MARGINS)
    from matplotlib.ticker import MaxNLocator

    panels = [
        (axes[0, 0], "Cross-entropy loss", [("train/loss", "train"), ("val/loss", "validation")]),
        (axes[0, 1], "Average class accuracy", [("train/acc", "train"), ("val/acc", "validation")]),
        (axes[1, 0], "Learning rate", [("lr", "learning rate")]),
        (axes[1, 1], "Seconds per epoch (training)", [("time/epoch_s", "train")]),
    ]
    for ax, title, series in panels:
        for key, label in series:
            points = [(h["epoch"], h[key]) for h in history if key in h]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="best")
    return fig
