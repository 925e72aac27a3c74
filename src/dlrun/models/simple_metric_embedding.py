"""The lab 4 embedding network: 3 x (norm -> ReLU -> conv3x3) with max-pooling between, global
average pooling at the end."""

from __future__ import annotations

import torch
from torch import nn

from dlrun.models.init import initialize

NORMS = ("batch", "group", "layer")


def make_norm(kind: str, channels: int, groups: int) -> nn.Module:
    """BatchNorm2d, GroupNorm with `groups` groups (fewer when there are fewer channels), or layer norm:
    one group, i.e. each sample normalised over all its channels and positions (per-channel γ, β)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    num_groups = min(groups, channels)
    if channels % num_groups:
        raise ValueError(f"group norm: {channels} channels are not divisible into {num_groups} groups")
    return nn.GroupNorm(num_groups, channels)


class NormReluConv(nn.Sequential):
    """The lab's `_BNReluConv`: norm -> ReLU -> Conv2d(k) (no padding, as torch's default)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, norm: str = "batch", groups: int = 8, bias: bool = True) -> None:
        super().__init__(make_norm(norm, in_channels, groups), nn.ReLU(), nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias))


class SimpleMetricEmbedding(nn.Module):
    """`SimpleMetricEmbedding(input_channels, emb_size)` of lab 4: (B, C, 28, 28) -> (B, emb_size).

    norm: 'batch' (the lab's "BN" name), 'group' (its English text says group normalization) or 'layer';
    groups: GroupNorm groups (a 1-channel input gets one group). `init*`, `bias_init`: every conv
    (dlrun.models.init, ReLU's gain; there is no logits layer, so no head_init).
    """

    def __init__(self, in_channels: int, emb_size: int = 32, norm: str = "batch", groups: int = 8, init: str = "default",
                 init_fan: str | None = None, init_gain: float | None = None, bias_init: float | None = None) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown norm '{norm}' (valid: {', '.join(NORMS)})")
        if in_channels < 1 or emb_size < 1:
            raise ValueError(f"in_channels and emb_size must be >= 1, got {in_channels} and {emb_size}")
        self.emb_size = emb_size
        self.features = nn.Sequential(
            NormReluConv(in_channels, emb_size, 3, norm, groups),
            nn.MaxPool2d(3, stride=2),
            NormReluConv(emb_size, emb_size, 3, norm, groups),
            nn.MaxPool2d(3, stride=2),
            NormReluConv(emb_size, emb_size, 3, norm, groups),
        )
        initialize(self, init, init_fan, init_gain, bias_init, activation="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))  # global average pool; (B, emb) even for B = 1
