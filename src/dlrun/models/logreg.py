"""Linear softmax classifier (logistic regression): logits = W x + b."""

from __future__ import annotations

import torch
from torch import nn


class LogReg(nn.Module):
    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.flatten(x))
