"""Fully connected network with a configurable activation, dropout and batch norm."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.models.activations import make_activation
from dlrun.models.init import initialize


class MLP(nn.Module):
    """in_features -> hidden[0] -> ... -> hidden[-1] -> num_classes (logits).

    Each hidden block is Linear -> [BatchNorm1d | LayerNorm] -> activation -> [Dropout]; with a norm
    the linear layer has no bias (the norm's shift replaces it). `init*`, `bias_init`, `head_init`: see
    dlrun.models.init (the head is the logits layer).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        layer_norm: bool = False,
        init: str = "default",
        init_fan: str | None = None,
        init_gain: float | None = None,
        bias_init: float | None = None,
        head_init: str = "same",
    ) -> None:
        super().__init__()
        if in_features < 1 or num_classes < 1 or any(int(h) < 1 for h in hidden):
            raise ValueError(f"layer sizes must be >= 1, got in={in_features} hidden={list(hidden)} out={num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if batch_norm and layer_norm:
            raise ValueError("choose batch_norm or layer_norm, not both")
        norm = batch_norm or layer_norm
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers.append(nn.Linear(width, int(size), bias=not norm))
            if norm:
                layers.append(nn.BatchNorm1d(int(size)) if batch_norm else nn.LayerNorm(int(size)))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(size)
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)
        initialize(self, init, init_fan, init_gain, bias_init, head_init, activation, head=layers[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
