"""SimCLR's two augmented views of every training image, drawn on the whole batch as tensor ops
(random resized crop, flip, colour jitter, greyscale, optional blur) with a generator seeded by
(seed, epoch, batch number) alone, so a run resumed mid-epoch draws exactly the same views."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, TypedDict

import torch
import torch.nn.functional as F

from dlrun.data.base import Batches, EpochSeeded

GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """n draws from U(low, high) on the CPU."""
    return low + (high - low) * torch.rand(n, generator=generator)


def grey(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luma of RGB images (the image itself when it has one channel)."""
    if images.shape[1] == 1:
        return images
    weights = torch.tensor(GREY_WEIGHTS, device=images.device, dtype=images.dtype).reshape(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def resized_crop_and_flip(images: torch.Tensor, scale: Sequence[float], ratio: Sequence[float], flip_p: float,
                          generator: torch.Generator) -> torch.Tensor:
    """Per image: a crop of area share U(scale) and aspect ratio log-U(ratio) at a random place,
    mirrored with probability flip_p, resized back to H x W (one affine grid_sample for the batch)."""
    n = len(images)
    area = uniform(n, scale[0], scale[1], generator)
    log_ratio = uniform(n, math.log(ratio[0]), math.log(ratio[1]), generator)
    width = (area * log_ratio.exp()).sqrt().clamp(max=1.0)
    height = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
    cx = (1 - width) * uniform(n, -1.0, 1.0, generator)
    cy = (1 - height) * uniform(n, -1.0, 1.0, generator)
    flip = torch.where(torch.rand(n, generator=generator) < flip_p, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def colour_jitter(images: torch.Tensor, strength: Sequence[float], p: float, generator: torch.Generator) -> torch.Tensor:
    """With probability p per image: brightness, contrast, saturation (RGB) factors from
    U(1 - s, 1 + s) and a hue rotation by U(-h, h) turns (RGB), strength = (b, c, s, h)."""
    n, c = images.shape[:2]
    apply = (torch.rand(n, generator=generator) < p).reshape(n, 1, 1, 1).to(images.device)
    b, con, sat, hue = (float(v) for v in strength)
    factors = [uniform(n, 1 - v, 1 + v, generator).reshape(n, 1, 1, 1).to(images) for v in (b, con, sat)]
    turns = uniform(n, -hue, hue, generator).to(images)
    out = (images * factors[0]).clamp(0, 1)
    mean = grey(out).mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * factors[1] + mean).clamp(0, 1)
    if c == 3:
        luma = grey(out)
        out = ((out - luma) * factors[2] + luma).clamp(0, 1)
        out = rotate_hue(out, turns).clamp(0, 1)
    return torch.where(apply, out, images)


def rotate_hue(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of RGB images in YIQ space by `turns` (N,) full turns."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=images.device, dtype=images.dtype)
    angle = 2 * math.pi * turns
    cos, sin = angle.cos(), angle.sin()
    rotation = torch.zeros(len(images), 3, 3, device=images.device, dtype=images.dtype)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
    matrix = torch.linalg.inv(to_yiq) @ rotation @ to_yiq  # (N, 3, 3)
    return torch.einsum("nij,njhw->nihw", matrix, images)


def random_grey(images: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """RGB images turned to greyscale (kept 3-channel) with probability p each."""
    pick = (torch.rand(len(images), generator=generator) < p).reshape(-1, 1, 1, 1).to(images.device)
    if images.shape[1] != 3:
        return images
    return torch.where(pick, grey(images).expand_as(images), images)


def random_blur(images: torch.Tensor, p: float, sigma: Sequence[float], generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur with sigma U(sigma) with probability p per image; kernel ~10% of the image side
    (odd), separable, one grouped conv per direction for the whole batch."""
    n, c, h, w = images.shape
    pick = (torch.rand(n, generator=generator) < p).reshape(n, 1, 1, 1).to(images.device)
    sigmas = uniform(n, sigma[0], sigma[1], generator).to(images)
    size = max(3, (int(0.1 * min(h, w)) // 2) * 2 + 1)
    offsets = torch.arange(size, device=images.device, dtype=images.dtype) - size // 2
    kernels = torch.exp(-0.5 * (offsets[None, :] / sigmas[:, None]) ** 2)
    kernels = (kernels / kernels.sum(1, keepdim=True)).repeat_interleave(c, dim=0)  # (N*C, size)
    flat = images.reshape(1, n * c, h, w)
    flat = F.conv2d(F.pad(flat, (size // 2, size // 2, 0, 0), mode="reflect"), kernels[:, None, None, :], groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, size // 2, size // 2), mode="reflect"), kernels[:, None, :, None], groups=n * c)
    return torch.where(pick, flat.reshape(n, c, h, w), images)


class TwoViewsOptions(TypedDict, total=False):
    """task.augment of SimCLR (TwoViews' settings), checked key by key by dlrun.config_types."""

    crop_scale: list[float]
    crop_ratio: list[float]
    flip_p: float
    jitter: list[float]
    jitter_p: float
    grey_p: float
    blur_p: float
    blur_sigma: list[float]


class TwoViews:
    """Normalized (N, C, H, W) batch -> two independently augmented views, normalized the same way.
    mean/std: the data's normalization (undone before and redone after augmenting in [0, 1])."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], crop_scale: Sequence[float] = (0.2, 1.0),
                 crop_ratio: Sequence[float] = (0.75, 4 / 3), flip_p: float = 0.5, jitter: Sequence[float] = (0.4, 0.4, 0.4, 0.1),
                 jitter_p: float = 0.8, grey_p: float = 0.2, blur_p: float = 0.0, blur_sigma: Sequence[float] = (0.1, 2.0)) -> None:
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must be 0 < low <= high <= 1, got {list(crop_scale)}")
        if not 0 < crop_ratio[0] <= crop_ratio[1]:
            raise ValueError(f"crop_ratio must be 0 < low <= high, got {list(crop_ratio)}")
        if len(jitter) != 4 or any(v < 0 for v in jitter) or jitter[0] > 1 or jitter[1] > 1 or jitter[2] > 1:
            raise ValueError(f"jitter must be 4 values [brightness, contrast, saturation, hue] in [0, 1], got {list(jitter)}")
        for name, prob in (("flip_p", flip_p), ("jitter_p", jitter_p), ("grey_p", grey_p), ("blur_p", blur_p)):
            if not 0 <= prob <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {prob}")
        if not 0 < blur_sigma[0] <= blur_sigma[1]:
            raise ValueError(f"blur_sigma must be 0 < low <= high, got {list(blur_sigma)}")
        self.mean = torch.tensor([float(m) for m in mean]).reshape(1, -1, 1, 1)
        self.std = torch.tensor([float(s) for s in std]).reshape(1, -1, 1, 1)
        self.crop_scale, self.crop_ratio, self.flip_p = list(crop_scale), list(crop_ratio), flip_p
        self.jitter, self.jitter_p, self.grey_p = list(jitter), jitter_p, grey_p
        self.blur_p, self.blur_sigma = blur_p, list(blur_sigma)

    def view(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One augmented view of a batch of [0, 1] images."""
        out = resized_crop_and_flip(images, self.crop_scale, self.crop_ratio, self.flip_p, generator)
        out = colour_jitter(out, self.jitter, self.jitter_p, generator)
        out = random_grey(out, self.grey_p, generator)
        if self.blur_p > 0:
            out = random_blur(out, self.blur_p, self.blur_sigma, generator)
        return out

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        images = (x.float() * std + mean).clamp(0, 1)
        first, second = self.view(images, generator), self.view(images, generator)
        return (first - mean) / std, (second - mean) / std


class TwoViewBatches(EpochSeeded):
    """Wraps a split's training batches (x, labels...) into (view1, view2, labels...): batch number b
    of epoch e gets the generator batch_generator(seed, e, b), whatever batches were skipped before."""

    def __init__(self, inner: Batches, views: TwoViews) -> None:
        self.inner = inner
        self.views = views
        self.rank = 0

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        super().set_epoch(epoch, seed)
        self.inner.set_epoch(epoch, seed)

    def shard(self, rank: int, world_size: int) -> None:
        """Data-parallel: the inner batches are sharded; ranks draw views from their own (seed, rank) stream."""
        shard = getattr(self.inner, "shard", None)
        if not callable(shard):
            raise ValueError(f"{type(self.inner).__name__} cannot be split across processes")
        shard(rank, world_size)
        self.rank = rank

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        start = self.take_skip()
        self.inner.skip = start
        offset = self.rank * 1_000_000_007
        for number, (x, *rest) in enumerate(self.inner, start=start):
            first, second = self.views(x, self.batch_generator(number + offset))
            yield (first, second, *rest)


class TwoViewLoader:
    """A data module's `loader` whose training batches come as two views (installed by task=simclr);
    evaluation batches are the data's own."""

    def __init__(self, loader: Any, views: TwoViews) -> None:
        self.plain = loader
        self.views = views

    def __call__(self, split: str, train: bool = False) -> Batches:
        batches = self.plain(split, train)
        return TwoViewBatches(batches, self.views) if train else batches


def serve_two_views(data: Any, views: TwoViews) -> None:
    """Make data.loader(split, train=True) yield two views per image (once, however often called)."""
    current = data.loader
    data.loader = TwoViewLoader(current.plain if isinstance(current, TwoViewLoader) else current, views)
