"""Max-norm constraint: after each step, project each unit's incoming weights onto ||w|| <= c."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.regularizers.base import WeightSelection


class MaxNormProjection(WeightSelection):
    def __init__(self, max_norm: float = 3.0, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()) -> None:
        super().__init__(include, exclude)
        if max_norm <= 0:
            raise ValueError(f"max_norm must be > 0, got {max_norm}")
        self.max_norm = max_norm

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        for w in self.weights(model):
            norms = w.flatten(1).norm(dim=1).clamp_min(1e-12)
            scale = (self.max_norm / norms).clamp(max=1.0)
            w.mul_(scale.view(-1, *([1] * (w.dim() - 1))))
