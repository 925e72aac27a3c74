"""The channels_last (NHWC) memory format of a conv model (`model.channels_last`): its weights are
converted once when it is built, its inputs on each forward pass (faster convolutions on GPUs and oneDNN)."""

from __future__ import annotations

import torch
from torch import nn


def use_channels_last(model: nn.Module, enabled: bool) -> bool:
    """Convert `model`'s parameters and buffers to channels_last when `enabled`; returns `enabled`."""
    if enabled:
        model.to(memory_format=torch.channels_last)
    return enabled


def channels_last_input(x: torch.Tensor, enabled: bool) -> torch.Tensor:
    """`x` in channels_last layout when `enabled` (a no-op for inputs already in it)."""
    return x.contiguous(memory_format=torch.channels_last) if enabled else x
