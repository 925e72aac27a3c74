"""L1 penalty: weight * sum |w| over selected weights, added to the loss (drives weights to zero)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dlrun.regularizers.base import WeightPenalty


class L1Penalty(WeightPenalty):
    def __init__(self, weight: float = 1e-4, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()) -> None:
        super().__init__(weight, include, exclude)

    def norm(self, w: torch.Tensor) -> torch.Tensor:
        return w.abs().sum()
