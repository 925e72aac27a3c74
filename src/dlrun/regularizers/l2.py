"""L2 penalty: weight * 1/2 * sum ||w||^2 over selected weights, added to the loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.regularizers.base import WeightSelection


class L2Penalty(WeightSelection):
    def __init__(self, weight: float = 1e-3, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()) -> None:
        super().__init__(include, exclude)
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = weight

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        weights = self.weights(model)
        if not weights or self.weight == 0:
            return None
        return 0.5 * self.weight * sum(w.pow(2).sum() for w in weights)
