"""A headless matplotlib figure (Agg backend: no display needed)."""

from __future__ import annotations

from typing import Any


def new_figure(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """`plt.subplots(*args, **kwargs)` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)
