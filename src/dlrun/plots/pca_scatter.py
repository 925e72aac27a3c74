"""2-D PCA scatter of vectors coloured by class (lab 4 task 4: Cityscapes colours, s=5)."""

from __future__ import annotations

from typing import Any

import torch

from dlrun.plots.figure import new_figure

# The lab's colour map: the first 10 Cityscapes class colours.
CITYSCAPES_10 = [(128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
                 (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152)]


def pca_2d(x: torch.Tensor) -> torch.Tensor:
    """(N, 2) projection on the two principal axes (torch.pca_lowrank, centred)."""
    x = x.float()
    _, _, v = torch.pca_lowrank(x, q=min(2, *x.shape), center=True)
    projected = (x - x.mean(0)) @ v
    return projected if projected.shape[1] == 2 else torch.cat([projected, torch.zeros(len(x), 1)], dim=1)


def pca_scatter_figure(x: torch.Tensor, labels: torch.Tensor, title: str) -> Any:
    points = pca_2d(x.cpu()).numpy()
    labels = labels.cpu()
    fig, ax = new_figure(figsize=(6, 6))
    for cls in labels.unique().tolist():
        mask = (labels == cls).numpy()
        colour = [c / 255 for c in CITYSCAPES_10[int(cls) % len(CITYSCAPES_10)]]
        ax.scatter(points[mask, 0], points[mask, 1], s=5, color=colour, label=str(cls))
    ax.legend(markerscale=3, fontsize=8, loc="best")
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    return fig
