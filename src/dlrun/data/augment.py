"""Batch-level image transforms: random crop with padding, horizontal flip, and normalization,
each one tensor op over the whole batch (no per-sample Python)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import torch
import torch.nn.functional as F


class AugmentOptions(TypedDict, total=False):
    """dataset.augment of the image datasets, checked key by key by dlrun.config_types."""

    crop_padding: int  # random crop of the image zero-padded by this many pixels (0: off)
    hflip: bool        # random horizontal flip


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad (N, C, H, W) by `padding` and cut an H x W window at a random offset per image."""
    if padding <= 0:
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(images.device)
    rows = (offsets[0, :, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (offsets[1, :, None] + torch.arange(w, device=images.device))[:, None, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_hflip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = (torch.rand(len(images), generator=generator) < 0.5).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(3), images)


class ImageTransform:
    """uint8 (N, C, H, W) batch -> optional crop/flip -> float (x / 255 - mean) / std, with labels kept."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], crop_padding: int = 0, hflip: bool = False) -> None:
        self.scale = torch.tensor([1.0 / (255.0 * s) for s in std]).reshape(1, -1, 1, 1)
        self.shift = torch.tensor([-m / s for m, s in zip(mean, std)]).reshape(1, -1, 1, 1)
        self.crop_padding = int(crop_padding)
        self.hflip = bool(hflip)

    def to(self, device: torch.device) -> ImageTransform:
        """Keep the normalization constants on the data's device."""
        self.scale, self.shift = self.scale.to(device), self.shift.to(device)
        return self

    def __call__(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        images, *rest = batch
        if self.crop_padding:
            images = random_crop(images, self.crop_padding, generator)
        if self.hflip:
            images = random_hflip(images, generator)
        return (torch.addcmul(self.shift, images.float(), self.scale), *rest)
