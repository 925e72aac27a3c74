"""Batch-level image transforms: random crop with padding, horizontal flip, random rotation, scaling and
translation (one affine warp, shared with the `affine` regularizer), and normalization, each one tensor
op over the whole batch (no per-sample Python)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import torch
import torch.nn.functional as F


class AugmentOptions(TypedDict, total=False):
    """dataset.augment of the image datasets, checked key by key by dlrun.config_types."""

    crop_padding: int    # random crop of the image zero-padded by this many pixels (0: off)
    hflip: bool          # random horizontal flip
    degrees: float       # rotation by U(-degrees, degrees) (0: off)
    scale: list[float]   # zoom by U(min, max), > 1 zooms in ([1, 1]: off)
    translate: float     # shift by U(-t, t) of the width and of the height (0: off)


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


def check_affine(degrees: float, scale: Sequence[float], translate: float) -> tuple[float, tuple[float, float], float]:
    """The ranges of a random affine warp, checked (ValueError): degrees, translate >= 0; 0 < min <= max."""
    if degrees < 0 or translate < 0:
        raise ValueError(f"degrees and translate must be >= 0, got {degrees} and {translate}")
    if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
        raise ValueError(f"scale must be [min, max] with 0 < min <= max, got {list(scale)}")
    return float(degrees), (float(scale[0]), float(scale[1])), float(translate)


def random_affine(x: torch.Tensor, degrees: float, scale: Sequence[float], translate: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of a float (N, C, H, W) batch rotated by U(-degrees, degrees), scaled by U(scale[0],
    scale[1]) and shifted by U(-translate, translate) of its size; drawn from `generator` (a CPU one:
    per-batch seeding) or, without one, from the global RNG on the batch's device."""
    n, device = x.shape[0], x.device
    where = generator.device if generator is not None else device
    angle = ((2 * torch.rand(n, generator=generator, device=where) - 1) * degrees).to(device)
    zoom = (scale[0] + (scale[1] - scale[0]) * torch.rand(n, generator=generator, device=where)).to(device)
    shift = ((2 * torch.rand(n, 2, generator=generator, device=where) - 1) * translate).to(device)
    return affine_batch(x, angle, zoom, shift)


class ImageTransform:
    """uint8 (N, C, H, W) batch -> optional crop/flip -> float -> optional rotation/scale/translation (zeros
    outside: black) -> (x / 255 - mean) / std, with labels kept."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], crop_padding: int = 0, hflip: bool = False,
                 degrees: float = 0.0, scale: Sequence[float] = (1.0, 1.0), translate: float = 0.0) -> None:
        if crop_padding < 0:
            raise ValueError(f"augment.crop_padding must be >= 0, got {crop_padding}")
        try:
            self.degrees, self.scale, self.translate = check_affine(degrees, scale, translate)
        except ValueError as err:
            raise ValueError(f"augment: {err}") from None
        self.scale_by = torch.tensor([1.0 / (255.0 * s) for s in std]).reshape(1, -1, 1, 1)
        self.shift = torch.tensor([-m / s for m, s in zip(mean, std)]).reshape(1, -1, 1, 1)
        self.crop_padding = int(crop_padding)
        self.hflip = bool(hflip)
        self.affine = self.degrees > 0 or self.scale != (1.0, 1.0) or self.translate > 0

    def to(self, device: torch.device) -> ImageTransform:
        """Keep the normalization constants on the data's device."""
        self.scale_by, self.shift = self.scale_by.to(device), self.shift.to(device)
        return self

    def __call__(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        images, *rest = batch
        if self.crop_padding:
            images = random_crop(images, self.crop_padding, generator)
        if self.hflip:
            images = random_hflip(images, generator)
        images = images.float()
        if self.affine:
            images = random_affine(images, self.degrees, self.scale, self.translate, generator)
        return (torch.addcmul(self.shift, images, self.scale_by), *rest)
