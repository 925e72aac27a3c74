"""Attention weights over the tokens of a few texts: markdown for TensorBoard text and a heat map."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlrun.plots.figure import new_figure


def _class(names: Sequence[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def attention_markdown(examples: list[dict[str, Any]], class_names: Sequence[str], top: int = 5) -> str:
    """One paragraph per text: label and prediction, its `top` most attended tokens, then every
    token followed by its weight in percent."""
    parts = []
    for i, ex in enumerate(examples):
        ranked = sorted(range(len(ex["weights"])), key=lambda t: -ex["weights"][t])[:top]
        best = ", ".join(f"`{ex['tokens'][t]}` {ex['weights'][t]:.2f}" for t in ranked)
        body = " ".join(f"{tok}<sub>{100 * w:.0f}</sub>" for tok, w in zip(ex["tokens"], ex["weights"]))
        parts.append(f"**text {i}** true `{_class(class_names, ex['label'])}`, predicted "
                     f"`{_class(class_names, ex['predicted'])}`; most attended: {best}\n\n{body}")
    return "\n\n---\n\n".join(parts)


def attention_figure(examples: list[dict[str, Any]], class_names: Sequence[str], max_tokens: int = 60) -> Any:
    """One row per text: its first `max_tokens` tokens as cells coloured by attention weight."""
    import numpy as np

    width = min(max_tokens, max(len(ex["tokens"]) for ex in examples))
    grid = np.full((len(examples), width), np.nan)
    for row, ex in enumerate(examples):
        shown = ex["weights"][:width]
        grid[row, : len(shown)] = shown
    fig, ax = new_figure(figsize=(max(6.0, 0.45 * width), 1.0 + 0.9 * len(examples)))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="Reds", aspect="auto", vmin=0)
    for row, ex in enumerate(examples):
        for col, token in enumerate(ex["tokens"][:width]):
            ax.text(col, row, token, ha="center", va="center", rotation=90, fontsize=7)
    ax.set_yticks(range(len(examples)), [f"{i}: {_class(class_names, ex['label'])} -> {_class(class_names, ex['predicted'])}"
                                         for i, ex in enumerate(examples)])
    ax.set_xticks([])
    ax.set_title("attention weights (validation texts; label -> prediction)")
    fig.colorbar(image, ax=ax, fraction=0.02)
    return fig
