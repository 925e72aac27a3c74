"""Random rotation, scaling and translation of image batches (course lecture on regularization:
augmentation by transformations that keep the label), one batched affine_grid + grid_sample for the
whole batch, each image with its own draw. Works on every image dataset's (N, C, H, W) batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlrun.errors import DlrunError
from dlrun.regularizers.base import Regularizer
from dlrun.regularizers.noise import float_inputs, rebuilt


def affine_batch(x: torch.Tensor, degrees: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) rotated by `degrees` (N,) about their centre, scaled by `scale` (N,) (> 1 zooms
    in) and moved by `shift` (N, 2) = (right, down) as fractions of the width and height; bilinear,
    zeros outside. Positive degrees turn the image clockwise as displayed (row 0 at the top)."""
    n, _, h, w = x.shape
    rad = torch.deg2rad(degrees.to(torch.float32))
    cos, sin = torch.cos(rad), torch.sin(rad)
    # output pixel -> input pixel, in pixel units about the centre: p_in = R(-a) (p_out - t) / s
    inverse = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2) / scale.to(torch.float32)[:, None, None]
    half = torch.tensor([w / 2, h / 2], dtype=torch.float32, device=x.device)
    matrix = inverse * half[None, None, :] / half[None, :, None]  # D^-1 A D: the same map in [-1, 1] units
    offset = -(matrix @ (2 * shift.to(torch.float32))[:, :, None])
    theta = torch.cat([matrix, offset], dim=2).to(x.dtype)
    grid = F.affine_grid(theta, [n, x.shape[1], h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class AffineAugment(Regularizer):
    """Each training image gets angle ~ U(−degrees, degrees), scale ~ U(scale[0], scale[1]) and a shift
    ~ U(−translate, translate) of its width and of its height; 0 / [1, 1] / 0 turn a part off."""

    def __init__(self, degrees: float = 15.0, scale: Sequence[float] = (0.9, 1.1), translate: float = 0.1) -> None:
        if degrees < 0 or translate < 0:
            raise ValueError(f"degrees and translate must be >= 0, got {degrees} and {translate}")
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be [min, max] with 0 < min <= max, got {list(scale)}")
        self.degrees, self.scale, self.translate = degrees, (float(scale[0]), float(scale[1])), translate

    def before_forward(self, model: nn.Module, batch: Any) -> Any:
        parts, x = float_inputs(batch, "affine")
        if x.dim() != 4:
            raise DlrunError(f"regularizer affine: needs image batches (N, C, H, W), got shape {tuple(x.shape)}")
        n, device = x.shape[0], x.device
        degrees = (2 * torch.rand(n, device=device) - 1) * self.degrees
        scale = self.scale[0] + (self.scale[1] - self.scale[0]) * torch.rand(n, device=device)
        shift = (2 * torch.rand(n, 2, device=device) - 1) * self.translate
        parts[0] = affine_batch(x, degrees, scale, shift)
        return rebuilt(batch, parts)
