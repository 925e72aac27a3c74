"""Mean squared error against one-hot targets (the course's CE-vs-MSE comparison)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlrun.losses.targets import dense_targets


class MSEOnOneHot(nn.Module):
    """mean((p - onehot(y))^2) where p = softmax(logits) (`outputs: probs`) or the raw logits."""

    def __init__(self, outputs: str = "probs") -> None:
        super().__init__()
        if outputs not in ("probs", "logits"):
            raise ValueError(f"unknown outputs '{outputs}' (valid: probs, logits)")
        self.outputs = outputs

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        outputs = logits
        if self.outputs == "probs":
            outputs = logits.softmax(dim=1) if logits.dim() == 2 and logits.shape[1] > 1 else logits.sigmoid()
        return F.mse_loss(outputs, dense_targets(outputs, targets))
