"""Decision surface of a 2-D classifier: the predicted-class map with the points drawn over it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dlrun.plots.figure import fix_margins, margins_in_inches, new_figure, text_inches, tick_labels_width

if TYPE_CHECKING:
    import torch
    from torch import nn


def decision_grid(model: nn.Module, x: torch.Tensor, predictions: Callable[[torch.Tensor], torch.Tensor],
                  resolution: int = 200) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's classes on a resolution x resolution grid covering `x` (one batch, no loops):
    (grid x, grid y, classes), each (resolution, resolution); `predictions` is the task's rule."""
    import torch

    x = x.float().cpu()
    low, high = x.min(0).values, x.max(0).values
    margin = torch.where(high > low, (high - low) * 0.1, torch.ones_like(low))  # one point: a unit square around it
    xs = torch.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = torch.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        classes = predictions(model(grid.to(device))).cpu().reshape(resolution, resolution)
    model.train(was_training)
    return gx, gy, classes


def decision_surface_plot(gx: Any, gy: Any, classes: Any, x: Any, y: Any) -> Any:
    """The figure of a `decision_grid` with the points `x` (N, 2) coloured by `y` (numpy only: the figure process draws it)."""
    import numpy as np

    gx, gy, classes, x, y = (np.asarray(a) for a in (gx, gy, classes, x, y))
    width, height = 6.4, 5.0
    fig, ax = new_figure(figsize=(width, height))
    extent = (float(gx.min()), float(gx.max()), float(gy.min()), float(gy.max()))  # a uniform grid: an image, cheaper than a mesh
    ax.imshow(classes, extent=extent, origin="lower", aspect="auto", interpolation="nearest", cmap="Pastel1", vmin=0, vmax=8)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="Set1", vmin=0, vmax=8, s=10, edgecolors="k", linewidths=0.3)
    ax.set_title("decision surface (test points over the predicted class)")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    line = text_inches("Ag", 10)[1]
    right = max(0.15, text_inches("0", 10)[0] * 4)  # the last x tick label's half
    fix_margins(fig, margins_in_inches(width, height, left=0.1 + line + 0.15 + tick_labels_width(ax.yaxis) + 0.1,
                                       right=right, bottom=0.1 + line + 0.15 + line + 0.1, top=0.4))
    return fig


def decision_surface_figure(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                            predictions: Callable[[torch.Tensor], torch.Tensor], resolution: int = 200) -> Any:
    """`decision_grid` drawn by `decision_surface_plot`."""
    return decision_surface_plot(*decision_grid(model, x, predictions, resolution), x.float().cpu(), y.cpu())
