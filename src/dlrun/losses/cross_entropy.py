"""Cross-entropy with optional per-class weights given as a YAML list."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dlrun.losses.class_weights import checked, weight_buffer


class CrossEntropy(nn.Module):
    """`F.cross_entropy`: with `weight`, the mean is sum_i w_{y_i} l_i / sum_i w_{y_i} (torch's weighted mean)."""

    weight: torch.Tensor | None

    def __init__(self, weight: Sequence[float] | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        weight_buffer(self, "weight", weight)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        weight = checked(self.weight, "weight", logits.shape[1])
        return F.cross_entropy(logits, targets, weight=None if weight is None else weight.to(logits.dtype),
                               label_smoothing=self.label_smoothing)
