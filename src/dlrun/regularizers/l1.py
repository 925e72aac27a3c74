"""L1 penalty: weight * sum |w| over selected weights, added to the loss (drives weights to zero)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.regularizers.base import WeightSelection


class L1Penalty(WeightSelection):
    def __init__(self, weight: float = 1e-4, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()) -> None:
        super().__init__(include, exclude)
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = weight

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        weights = self.weights(model)
        if not weights or self.weight == 0:
            return None
        return self.weight * sum(w.abs().sum() for w in weights)
