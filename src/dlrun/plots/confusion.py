"""Confusion matrix figure (rows = true class, columns = predicted class)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlrun.plots.figure import new_figure


def confusion_figure(confusion: Any, class_names: Sequence[str]) -> Any:
    """`confusion` (a tensor or array of counts, n x n); numpy only, so the figure process draws it without torch."""
    import numpy as np

    confusion = np.asarray(confusion)
    n = confusion.shape[0]
    size = max(4.0, 0.5 * n + 2)
    fig, ax = new_figure(figsize=(size, size))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(range(n), list(class_names)[:n], rotation=45, ha="right")
    ax.set_yticks(range(n), list(class_names)[:n])
    top = confusion.max().item() or 1
    if n <= 20:
        for i in range(n):
            for j in range(n):
                value = int(confusion[i, j])
                ax.text(j, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black", fontsize=8)
    ax.set_title(f"confusion matrix (accuracy {np.trace(confusion).item() / max(1, confusion.sum().item()):.4f})")
    return fig
