"""Linear softmax classifier (logistic regression): logits = W x + b."""

from __future__ import annotations

import torch
from torch import nn

from dlrun.models.init import initialize


class LogReg(nn.Module):
    """One linear layer; `init*`/`bias_init` as in dlrun.models.init (gain 1: no activation)."""

    def __init__(self, in_features: int, num_classes: int, init: str = "default", init_fan: str | None = None,
                 init_gain: float | None = None, bias_init: float | None = None) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(in_features, num_classes)
        initialize(self, init, init_fan, init_gain, bias_init, activation="linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.flatten(x))
