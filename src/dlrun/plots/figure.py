"""A headless matplotlib figure (Agg backend: no display needed)."""

from __future__ import annotations

from typing import Any

FIXED_MARGINS = "dlrun:fixed-margins"  # the label of a figure whose margins are set: saved as is, not trimmed


def new_figure(*args: Any, margins: dict[str, float] | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """`plt.subplots(*args, **kwargs)` on the Agg backend. `margins` (subplots_adjust's arguments) fix
    the layout, so saving it draws once instead of three times (tight_layout, bbox_inches="tight")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*args, **kwargs)
    if margins is not None:
        fig.subplots_adjust(**margins)
        fig.set_label(FIXED_MARGINS)
    return fig, axes
