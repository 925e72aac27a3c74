"""Binary cross-entropy on logits that accepts integer class targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlrun.losses.targets import dense_targets


class BCEWithLogits(nn.Module):
    """`BCEWithLogitsLoss` after one-hot encoding integer targets (per-output binary problems)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, dense_targets(logits, targets))
