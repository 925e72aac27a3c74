"""A headless matplotlib figure (Agg backend: no display needed), and margins set in inches from the
text they must hold, so a figure is drawn once when saved (no `tight_layout`, no `bbox_inches="tight"`)."""

from __future__ import annotations

from typing import Any

DPI = 100  # what figures are drawn and saved at
FIXED_MARGINS = "dlrun:fixed-margins"  # the label of a figure whose margins are set: saved as is, not trimmed


def new_figure(*args: Any, margins: dict[str, float] | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """`plt.subplots(*args, **kwargs)` on the Agg backend. `margins` (subplots_adjust's arguments) fix
    the layout, so saving it draws once instead of three times (tight_layout, bbox_inches="tight")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*args, **kwargs)
    if margins is not None:
        fix_margins(fig, margins)
    return fig, axes


def blank_figure(width: float, height: float) -> Any:
    """A figure with no axes, `width` x `height` inches, saved as laid out (for pixels and text placed by hand)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height), label=FIXED_MARGINS)


def fix_margins(fig: Any, margins: dict[str, float]) -> None:
    """Lay `fig` out with these subplots_adjust margins and mark it to be saved as laid out."""
    fig.subplots_adjust(**margins)
    fig.set_label(FIXED_MARGINS)


def text_inches(text: str, fontsize: float) -> tuple[float, float]:
    """(width, height) of one line of `text` at `fontsize` points, in inches, as Agg draws it at
    DPI (figures are saved at 100 dpi): the font's layout only, nothing drawn."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    width, height, _ = RendererAgg(1, 1, DPI).get_text_width_height_descent(text, FontProperties(size=fontsize), ismath=False)
    return width / DPI, height / DPI


def tick_labels_width(axis: Any) -> float:
    """The widest tick label `axis` (an XAxis or YAxis whose limits are set) will draw, in inches."""
    labels = axis.get_major_formatter().format_ticks(axis.get_major_locator()())
    size = axis.get_ticklabels()[0].get_fontsize() if axis.get_ticklabels() else 10.0
    return max((text_inches(label, size)[0] for label in labels), default=0.0)


def margins_in_inches(width: float, height: float, left: float, right: float, bottom: float, top: float,
                      **spacing: float) -> dict[str, float]:
    """subplots_adjust's fractions for margins given in inches on a `width` x `height` inch figure
    (`spacing`: wspace/hspace as they are, fractions of the average axes size)."""
    return {"left": left / width, "right": 1 - right / width, "bottom": bottom / height, "top": 1 - top / height, **spacing}
