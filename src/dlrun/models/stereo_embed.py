"""Žbontar & LeCun's fast stereo matching network (course lecture): 4 x conv3x3, 64 maps, no
padding in training (a 9x9 patch gives one 64-d vector), padded convs on whole images at inference."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlrun.models.init import initialize


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of each position of (B, C, H, W): the same statistics on a 9x9 patch
    and on a whole image (a norm over positions would differ between training and dense inference)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class StereoEmbedding(nn.Module):
    """forward(patches) -> (B, channels) for patches of `patch_size`; forward(images, dense=True) ->
    (B, channels, H, W), the same weights with zero padding. ReLU between the convs (not after the
    last), optional BatchNorm (or LayerNorm over the channels of each position) before each ReLU,
    L2-normalized output (cosine matching). `init*`,
    `bias_init`: every conv (dlrun.models.init, ReLU's gain)."""

    def __init__(self, in_channels: int, channels: int = 64, num_layers: int = 4, kernel_size: int = 3,
                 batch_norm: bool = False, normalize: bool = True, layer_norm: bool = False, init: str = "default", init_fan: str | None = None,
                 init_gain: float | None = None, bias_init: float | None = None) -> None:
        super().__init__()
        if in_channels < 1 or channels < 1 or num_layers < 1:
            raise ValueError(f"in_channels, channels and num_layers must be >= 1, got {in_channels}, {channels}, {num_layers}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if batch_norm and layer_norm:
            raise ValueError("choose batch_norm or layer_norm, not both")
        norm = batch_norm or layer_norm
        widths = [in_channels] + [channels] * num_layers
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], kernel_size, bias=not (norm and i < num_layers - 1))
                                   for i in range(num_layers))
        make = (lambda: nn.BatchNorm2d(channels)) if batch_norm else (lambda: ChannelLayerNorm(channels))
        self.norms = nn.ModuleList(make() for _ in range(num_layers - 1)) if norm else None
        self.kernel_size = kernel_size
        self.normalize = normalize
        self.patch_size = 1 + num_layers * (kernel_size - 1)  # receptive field: 9 for 4 x 3x3
        initialize(self, init, init_fan, init_gain, bias_init, activation="relu")

    def forward(self, x: torch.Tensor, dense: bool = False) -> torch.Tensor:
        padding = self.kernel_size // 2 if dense else 0
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            x = F.conv2d(x, conv.weight, conv.bias, padding=padding)
            if i < last:
                if self.norms is not None:
                    x = self.norms[i](x)
                x = F.relu(x)
        if self.normalize:
            x = F.normalize(x, dim=1)
        if dense:
            return x
        if x.shape[-2:] != (1, 1):
            raise ValueError(f"patch input must be {self.patch_size}x{self.patch_size}, got {tuple(x.shape[-2:])} features per patch")
        return x.flatten(1)
