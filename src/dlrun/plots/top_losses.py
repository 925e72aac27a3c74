"""The test images with the largest loss, each with its true class and the top-3 predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dlrun.plots.figure import new_figure

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
    classes with their probabilities."""
    import numpy as np

    images, targets, probs, losses = (np.asarray(a) for a in (images, targets, probs, losses))
    count = len(images)
    rows = max(1, -(-count // columns))
    height = 3.0 * rows + 0.5
    fig, axes = new_figure(rows, columns, figsize=(2.6 * columns, height), squeeze=False)
    top_c = np.argsort(-probs.astype(np.float64), axis=1, kind="stable")[:, : min(3, probs.shape[1])]
    top_p = np.take_along_axis(probs, top_c, axis=1)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= count:
            continue
        image = images[k].transpose(1, 2, 0)
        ax.imshow(image[..., 0] if image.shape[2] == 1 else image, cmap="gray" if image.shape[2] == 1 else None, vmin=0, vmax=1)
        lines = [f"true: {class_names[int(targets[k])]}  (loss {float(losses[k]):.2f})"]
        lines += [f"{i + 1}. {class_names[int(c)]} {float(p):.2f}" for i, (c, p) in enumerate(zip(top_c[k], top_p[k]))]
        ax.set_title("\n".join(lines), fontsize=7, loc="left")
    fig.suptitle(f"{count} test images with the largest loss", y=1 - 0.15 / height)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 1.15 / height, wspace=0.15, hspace=0.75)
    return fig
