"""Multiclass hinge loss (course lab 2 bonus)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.losses.class_weights import checked, weight_buffer


class MulticlassHingeLoss(nn.Module):
    """L = mean_i sum_{j != y_i} max(0, s_ij - s_iy_i + delta)  (Weston-Watkins / cs231n form); with
    per-class `weight`, the weighted mean sum_i w_{y_i} L_i / sum_i w_{y_i}, as cross-entropy's."""

    weight: torch.Tensor | None

    def __init__(self, delta: float = 1.0, weight: Sequence[float] | None = None) -> None:
        super().__init__()
        if delta < 0:
            raise ValueError(f"delta must be >= 0, got {delta}")
        self.delta = delta
        weight_buffer(self, "weight", weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        correct = logits.gather(1, targets.long().unsqueeze(1))
        margins = (logits - correct + self.delta).clamp_min(0)
        margins = margins.scatter(1, targets.long().unsqueeze(1), 0.0)
        per_sample = margins.sum(dim=1)
        weight = checked(self.weight, "weight", logits.shape[1])
        if weight is None:
            return per_sample.mean()
        sample_weight = weight.to(logits.dtype)[targets.long()]
        return (sample_weight * per_sample).sum() / sample_weight.sum()
