"""L2 penalty: weight * 1/2 * sum ||w||^2 over selected weights, added to the loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dlrun.regularizers.base import WeightPenalty


class L2Penalty(WeightPenalty):
    def __init__(self, weight: float = 1e-3, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()) -> None:
        super().__init__(weight, include, exclude)

    def norm(self, w: torch.Tensor) -> torch.Tensor:
        return 0.5 * w.pow(2).sum()
