"""The airbench94 network (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024), built
from the paper's description: a 2x2 patch-whitening conv (24 maps, bias, no padding: 32x32 -> 31x31) with
GELU, three conv groups of widths 64, 256, 256, each conv3x3 -> maxpool 2 -> BN -> GELU -> conv3x3 ->
BN -> GELU (convs without bias, BN with a fixed scale of 1 and a learned bias, momentum 0.6 in the
paper's convention = 0.4 in torch's), then maxpool 3, a linear layer without bias and the logits x 1/9.
1.97M parameters. The paper's training recipe (whitening init from data, dirac init, lookahead, TTA)
is not part of the model; scripts/bench_gpu.py uses it for throughput against the `airbench` package."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.models.memory_format import channels_last_input, use_channels_last


def batch_norm(channels: int, momentum: float) -> nn.BatchNorm2d:
    """BatchNorm with a frozen unit scale and a learned bias (the paper's choice)."""
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=momentum)
    bn.weight.requires_grad = False
    return bn


class ConvGroup(nn.Sequential):
    """conv3x3 -> maxpool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU."""

    def __init__(self, channels_in: int, channels_out: int, momentum: float) -> None:
        super().__init__(
            nn.Conv2d(channels_in, channels_out, 3, padding="same", bias=False), nn.MaxPool2d(2),
            batch_norm(channels_out, momentum), nn.GELU(),
            nn.Conv2d(channels_out, channels_out, 3, padding="same", bias=False),
            batch_norm(channels_out, momentum), nn.GELU(),
        )


class Airbench94(nn.Module):
    """airbench94 for (N, in_channels, 32, 32) images; `widths` of the three conv groups."""

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (64, 256, 256), whiten_width: int = 24,
                 whiten_kernel: int = 2, bn_momentum: float = 0.4, logit_scale: float = 1 / 9, channels_last: bool = False) -> None:
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"airbench94 has three conv groups: widths needs 3 values, got {list(widths)}")
        if not 0 < bn_momentum <= 1:
            raise ValueError(f"bn_momentum must be in (0, 1], got {bn_momentum}")
        self.whiten = nn.Conv2d(in_channels, whiten_width, whiten_kernel, padding=0, bias=True)
        groups, width_in = [], whiten_width
        for width in widths:
            groups.append(ConvGroup(width_in, width, bn_momentum))
            width_in = width
        self.features = nn.Sequential(nn.GELU(), *groups, nn.MaxPool2d(3))
        self.head = nn.Linear(width_in, num_classes, bias=False)
        self.logit_scale = logit_scale
        self.channels_last = use_channels_last(self, channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.whiten(channels_last_input(x, self.channels_last)))
        return self.head(torch.amax(x, dim=(2, 3))) * self.logit_scale
