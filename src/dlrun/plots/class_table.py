"""Per-class precision / recall / F1 as a table figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlrun.plots.figure import margins_in_inches, new_figure

ROW = 0.32  # inches per table row
TITLE = 0.5  # inches above the table for its title


def class_table_figure(rows: Sequence[dict[str, Any]]) -> Any:
    """rows: {class, precision, recall, f1, support} per class, as a matplotlib table that fills a
    fixed-margin axes (saved as laid out: drawn once)."""
    width, height = 7.0, ROW * (len(rows) + 1) + TITLE + 0.15
    fig, ax = new_figure(figsize=(width, height), margins=margins_in_inches(width, height, 0.15, 0.15, 0.15, TITLE))
    ax.axis("off")
    cells = [[r["class"], f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1']:.4f}", str(r["support"])] for r in rows]
    table = ax.table(cellText=cells, colLabels=["class", "precision", "recall", "F1", "support"], bbox=(0, 0, 1, 1))
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    ax.set_title("test split, per class")
    return fig
