"""Multiclass hinge loss (course lab 2 bonus)."""

from __future__ import annotations

import torch
from torch import nn


class MulticlassHingeLoss(nn.Module):
    """L = mean_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta)  (Weston-Watkins / cs231n form)."""

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        if delta < 0:
            raise ValueError(f"delta must be >= 0, got {delta}")
        self.delta = delta

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        correct = logits.gather(1, targets.long().unsqueeze(1))
        margins = (logits - correct + self.delta).clamp_min(0)
        margins = margins.scatter(1, targets.long().unsqueeze(1), 0.0)
        return margins.sum(dim=1).mean()
