"""Decision surface of a 2-D classifier: the predicted-class map with the points drawn over it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dlrun.plots.figure import new_figure


@torch.no_grad()
def decision_surface_figure(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                            predictions: Callable[[torch.Tensor], torch.Tensor], resolution: int = 300) -> Any:
    """Evaluates `model` on a resolution x resolution grid covering `x` (one batch, no loops);
    `predictions` turns its outputs into class indices (the task's rule)."""
    x, y = x.float().cpu(), y.cpu()
    low, high = x.min(0).values, x.max(0).values
    margin = (high - low) * 0.1
    xs = torch.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = torch.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    classes = predictions(model(grid.to(device))).cpu().reshape(resolution, resolution)
    model.train(was_training)
    fig, ax = new_figure(figsize=(6, 5))
    ax.pcolormesh(gx.numpy(), gy.numpy(), classes.numpy(), cmap="Pastel1", shading="auto", vmin=0, vmax=8)
    ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), c=y.numpy(), cmap="Set1", vmin=0, vmax=8, s=10, edgecolors="k", linewidths=0.3)
    ax.set_title("decision surface (test points over the predicted class)")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    return fig
