"""Binary cross-entropy on logits that accepts integer class targets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dlrun.losses.class_weights import checked, weight_buffer
from dlrun.losses.targets import dense_targets


class BCEWithLogits(nn.Module):
    """`BCEWithLogitsLoss` after one-hot encoding integer targets (per-output binary problems);
    `pos_weight` (one per output) scales the positive term: -[p_c y log s(x) + (1 - y) log(1 - s(x))]."""

    pos_weight: torch.Tensor | None

    def __init__(self, pos_weight: Sequence[float] | None = None) -> None:
        super().__init__()
        weight_buffer(self, "pos_weight", pos_weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        outputs = logits.shape[1] if logits.dim() == 2 else 1
        pos_weight = checked(self.pos_weight, "pos_weight", outputs)
        return F.binary_cross_entropy_with_logits(logits, dense_targets(logits, targets),
                                                  pos_weight=None if pos_weight is None else pos_weight.to(logits.dtype))
