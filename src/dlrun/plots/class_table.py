"""Per-class precision / recall / F1 as a table figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlrun.plots.figure import new_figure


def class_table_figure(rows: Sequence[dict[str, Any]]) -> Any:
    """rows: {class, precision, recall, f1, support} per class, as a matplotlib table."""
    fig, ax = new_figure(figsize=(7, 0.35 * len(rows) + 1.2))
    ax.axis("off")
    cells = [[r["class"], f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1']:.4f}", str(r["support"])] for r in rows]
    table = ax.table(cellText=cells, colLabels=["class", "precision", "recall", "F1", "support"], loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    ax.set_title("test split, per class")
    return fig
