"""Seq2seq attention maps (output steps x source steps): a cheap image for every epoch, a labelled
figure at the end, and the decoded examples as markdown."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dlrun.plots.figure import new_figure


def attention_image(weights: torch.Tensor | None, cell: int = 16) -> np.ndarray:
    """uint8 (H, W, 3) image of weights (T, S) in [0, 1]: white = 0, black = 1, each weight a
    `cell` x `cell` square (no matplotlib, so it can be drawn every epoch)."""
    if weights is None or weights.numel() == 0:
        return np.full((cell, cell, 3), 255, dtype=np.uint8)
    grey = (255 * (1 - weights.clamp(0, 1))).round().to(torch.uint8).numpy()
    big = grey.repeat(cell, axis=0).repeat(cell, axis=1)
    return np.repeat(big[:, :, None], 3, axis=2)


def attention_maps_figure(examples: list[dict[str, Any]]) -> Any:
    """One heat map per example: rows = greedy output tokens, columns = source tokens."""
    shown = [ex for ex in examples if ex["attention"] is not None]
    fig, axes = new_figure(1, max(len(shown), 1), figsize=(3.2 * max(len(shown), 1), 3.4), squeeze=False)
    for ax, ex in zip(axes[0], shown):
        ax.imshow(ex["attention"].numpy(), cmap="Greys", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(ex["source"])), ex["source"], fontsize=8)
        ax.set_yticks(range(len(ex["greedy"])), ex["greedy"], fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("output (greedy)")
        ax.set_title("right" if ex["greedy"] == ex["target"] else "wrong", fontsize=9)
    fig.suptitle("attention weights on test sequences")
    fig.tight_layout()
    return fig


def examples_markdown(examples: list[dict[str, Any]]) -> str:
    """A markdown table: source, target, greedy and beam outputs."""
    rows = ["| source | target | greedy | beam |", "|---|---|---|---|"]
    for ex in examples:
        cells = (" ".join(ex[key]).replace("<", "&lt;") for key in ("source", "target", "greedy", "beam"))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
