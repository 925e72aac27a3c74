"""Raw pixels as the embedding (no parameters, no training): the baseline of lab 4 task 3c and the
raw-pixel matcher for stereo."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class IdentityEmbedding(nn.Module):
    """forward(x): the flattened input (B, C*H*W) - for an image, or a stereo patch.
    forward(x, dense=True): per-pixel features (B, C*window^2, H, W): the pixel's own values
    (window=1) or its zero-padded window x window neighbourhood (raw block matching).

    It has no parameters, so `dlrun train` refuses it; evaluate it with `dlrun eval model=identity`.
    """

    def __init__(self, window: int = 1) -> None:
        super().__init__()
        if window < 1 or window % 2 == 0:
            raise ValueError(f"window must be an odd number >= 1, got {window}")
        self.window = window

    def forward(self, x: torch.Tensor, dense: bool = False) -> torch.Tensor:
        if not dense:
            return x.flatten(1).float()
        if self.window == 1:
            return x.float()
        b, _, h, w = x.shape
        return F.unfold(x.float(), self.window, padding=self.window // 2).reshape(b, -1, h, w)
