"""Stereo results: the left image, ground-truth and predicted disparity maps, and an error map."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dlrun.plots.figure import new_figure


def error_map(truth: torch.Tensor, predicted: torch.Tensor, tolerance: float) -> np.ndarray:
    """(H, W, 3) RGB: green = within tolerance, red = wrong, black = no ground truth."""
    rgb = np.zeros((*truth.shape, 3), dtype=np.float32)
    valid = (truth > 0).numpy()
    ok = ((predicted.float() - truth).abs() <= tolerance).numpy()
    rgb[valid & ok] = (0.1, 0.8, 0.1)
    rgb[valid & ~ok] = (0.9, 0.1, 0.1)
    return rgb


def disparity_figure(left: torch.Tensor, truth: torch.Tensor, predicted: torch.Tensor, tolerance: float, max_disparity: int, title: str = "") -> Any:
    """Four stacked panels for one image pair; `left` is the normalized (C, H, W) left image."""
    h, w = truth.shape
    fig, axes = new_figure(4, 1, figsize=(10, 4 * 4 * h / w + 1.2))
    image = left.permute(1, 2, 0).numpy()
    image = (image - image.min()) / max(float(image.max() - image.min()), 1e-6)
    axes[0].imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
    axes[0].set_title(f"{title} left image")
    shown_truth = np.ma.masked_where((truth <= 0).numpy(), truth.numpy())
    axes[1].imshow(shown_truth, cmap="jet", vmin=0, vmax=max_disparity)
    axes[1].set_title("ground-truth disparity")
    axes[2].imshow(predicted.numpy(), cmap="jet", vmin=0, vmax=max_disparity)
    axes[2].set_title("winner-takes-all disparity")
    valid = truth > 0
    acc = float(((predicted.float() - truth).abs() <= tolerance)[valid].float().mean()) if valid.any() else float("nan")
    axes[3].imshow(error_map(truth, predicted, tolerance))
    axes[3].set_title(f"error map (green: within ±{tolerance:g} px, red: wrong; {100 * acc:.2f}% correct)")
    for ax in axes:
        ax.axis("off")
    return fig
