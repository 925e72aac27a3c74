"""A compact residual network for 32x32 images (the ResNet-9 layout of fast CIFAR-10 training):
prep conv, then stages of conv-BN-act-pool, some followed by a residual pair of convs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.models.activations import make_activation
from dlrun.models.init import initialize
from dlrun.models.memory_format import channels_last_input, use_channels_last


def conv_bn(in_channels: int, out_channels: int, activation: str) -> nn.Sequential:
    """3x3 conv (no bias) -> BatchNorm2d -> activation."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        make_activation(activation),
    )


class Residual(nn.Module):
    """x + f(x), with f two conv-BN-act layers of the same width."""

    def __init__(self, channels: int, activation: str) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels, activation), conv_bn(channels, channels, activation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetSmall(nn.Module):
    """prep conv(widths[0]) -> for each later width: conv-BN-act, 2x2 max pool, and a residual pair
    where `residual` says so -> global max pool -> linear -> logits * logit_scale. `init*`, `bias_init`,
    `head_init`: dlrun.models.init (the convs have no bias: BatchNorm follows; the head is `logits`)."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: Sequence[int] = (64, 128, 256, 512),
        residual: Sequence[bool] = (True, False, True),
        activation: str = "relu",
        logit_scale: float = 0.125,
        channels_last: bool = False,
        init: str = "default",
        init_fan: str | None = None,
        init_gain: float | None = None,
        bias_init: float | None = None,
        head_init: str = "same",
    ) -> None:
        super().__init__()
        if len(widths) < 2 or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must list at least two positive sizes, got {list(widths)}")
        if len(residual) != len(widths) - 1:
            raise ValueError(f"residual needs one flag per stage after the prep conv ({len(widths) - 1}), got {len(residual)}")
        make_activation(activation)
        layers: list[nn.Module] = [conv_bn(in_channels, int(widths[0]), activation)]
        for width_in, width_out, has_residual in zip(widths[:-1], widths[1:], residual):
            layers += [conv_bn(int(width_in), int(width_out), activation), nn.MaxPool2d(2)]
            if has_residual:
                layers.append(Residual(int(width_out), activation))
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.logits = nn.Linear(int(widths[-1]), num_classes, bias=False)
        self.logit_scale = logit_scale
        initialize(self, init, init_fan, init_gain, bias_init, head_init, activation, head=self.logits)
        self.channels_last = use_channels_last(self, channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(channels_last_input(x, self.channels_last))) * self.logit_scale
