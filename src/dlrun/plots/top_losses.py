"""The test images with the largest loss, each with its true class and the top-3 predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dlrun.plots.figure import DPI, blank_figure

CELL_WIDTH, CELL_HEIGHT = 2.6, 3.0  # inches per tile: its title lines above the image
HEADER = 0.5  # inches above the grid for the figure's title
PAD = 0.15  # inches between a cell's edge and its contents
TITLE = 0.62  # inches of a tile's four 7-point title lines
TILE = 2.2  # inches: the largest side of a tile's image

if TYPE_CHECKING:
    import torch


def denormalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo (x - mean) / std per channel and clip to [0, 1] (the course's img * std + mean)."""
    import torch

    m = torch.tensor(list(mean), dtype=torch.float32).reshape(1, -1, 1, 1)
    s = torch.tensor(list(std), dtype=torch.float32).reshape(1, -1, 1, 1)
    return (images.float().cpu() * s + m).clamp(0, 1)


def top_losses_figure(images: Any, targets: Any, probs: Any, losses: Any, class_names: Sequence[str], columns: int = 5) -> Any:
    """images (K, C, H, W) in [0, 1], targets (K,), probs (K, classes), losses (K,) (tensors or arrays;
    numpy only, for the figure process): a grid of tiles titled with the true class and the top-3
    classes with their probabilities. The tiles are pasted into one pixel array and the titles are
    figure text (no axes, no ticks): a fraction of the drawing cost of a grid of subplots."""
    import numpy as np

    images, targets, probs, losses = (np.asarray(a, dtype=np.float64 if a is probs else None) for a in (images, targets, probs, losses))
    count = len(images)
    rows = max(1, -(-count // columns))
    width, height = CELL_WIDTH * columns, CELL_HEIGHT * rows + HEADER
    fig = blank_figure(width, height)
    canvas = np.full((round(height * DPI), round(width * DPI), 3), 255, dtype=np.uint8)  # white, row 0 at the top
    top_c = np.argsort(-probs, axis=1, kind="stable")[:, : min(3, probs.shape[1])]
    top_p = np.take_along_axis(probs, top_c, axis=1)
    for k in range(count):
        row, column = divmod(k, columns)
        left, top = column * CELL_WIDTH + PAD, HEADER + row * CELL_HEIGHT + PAD  # inches from the top-left corner
        tile = (enlarged(images[k].transpose(1, 2, 0), TILE * DPI) * 255).round()
        y, x = round((top + TITLE) * DPI), round(left * DPI)
        canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        lines = [f"true: {class_names[int(targets[k])]}  (loss {float(losses[k]):.2f})"]
        lines += [f"{i + 1}. {class_names[int(c)]} {float(p):.2f}" for i, (c, p) in enumerate(zip(top_c[k], top_p[k]))]
        fig.text(left / width, 1 - (top + TITLE - 0.05) / height, "\n".join(lines), fontsize=7, va="bottom")
    fig.figimage(canvas, 0, 0, origin="upper")
    fig.suptitle(f"{count} test images with the largest loss", y=1 - 0.15 / height)
    return fig


def enlarged(image: Any, size: float) -> Any:
    """An (H, W, C) image in [0, 1] as RGB, scaled by a whole factor (nearest neighbour) to at most
    `size` pixels a side, or thinned to fit when it is larger."""
    import numpy as np

    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    side = max(image.shape[:2])
    if side > size:
        step = -(-side // int(size))
        return image[::step, ::step]
    factor = max(1, int(size // side))
    return image.repeat(factor, axis=0).repeat(factor, axis=1)
