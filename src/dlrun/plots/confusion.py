"""Confusion matrix figure (rows = true class, columns = predicted class)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlrun.plots.figure import margins_in_inches, new_figure, text_inches

TICK_FONT = 10.0  # matplotlib's default tick label size, which the margins are measured for
PAD = 0.15  # inches between the figure's edge, a label and the next


def confusion_figure(confusion: Any, class_names: Sequence[str]) -> Any:
    """`confusion` (a tensor or array of counts, n x n); numpy only, so the figure process draws it without torch.
    The margins are measured from the class names, so the figure is saved as laid out (drawn once)."""
    import numpy as np

    confusion = np.asarray(confusion)
    n = confusion.shape[0]
    names = [str(name) for name in list(class_names)[:n]]
    name_width = max((text_inches(name, TICK_FONT)[0] for name in names), default=0.0)
    line = text_inches("Ag", TICK_FONT)[1]
    side = max(3.5, 0.5 * n)  # the matrix itself, square
    left = PAD + line + PAD + name_width + PAD  # axis label, tick labels, ticks
    bottom = PAD + line + PAD + 0.71 * (name_width + line) + PAD  # tick labels turned 45 degrees
    top, right = 0.55, PAD
    width, height = left + side + right, bottom + side + top
    fig, ax = new_figure(figsize=(width, height), margins=margins_in_inches(width, height, left, right, bottom, top))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=TICK_FONT)
    ax.set_yticks(range(n), names, fontsize=TICK_FONT)
    top_count = confusion.max().item() or 1
    if n <= 20:
        for i in range(n):
            for j in range(n):
                value = int(confusion[i, j])
                ax.text(j, i, str(value), ha="center", va="center", color="white" if value > top_count / 2 else "black", fontsize=8)
    ax.set_title(f"confusion matrix (accuracy {np.trace(confusion).item() / max(1, confusion.sum().item()):.4f})")
    return fig
