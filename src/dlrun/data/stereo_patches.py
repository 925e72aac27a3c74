"""Training triplets of image patches for stereo matching (Žbontar & LeCun): an anchor patch at a
left-image pixel with ground truth, the positive at its true match in the right image (optionally
jittered) and the negative at a wrong disparity, offset from the match by neg_low..neg_high pixels
to either side. No patch ever leaves its image."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from dlrun.data.base import EpochSeeded
from dlrun.errors import DlrunError

MAX_DRAWS = 100  # rounds of candidate pixels before giving up (too little ground truth)


@dataclass
class StereoImages:
    """Rectified pairs padded into one tensor: uint8 (N, H, W, C) images, per-image mean and std of
    each side, float disparities (N, H, W) with 0 = no ground truth, and each image's (h, w)."""

    left: torch.Tensor
    right: torch.Tensor
    left_stats: torch.Tensor   # (N, 2): mean, std
    right_stats: torch.Tensor  # (N, 2)
    disparity: torch.Tensor
    sizes: torch.Tensor        # (N, 2) long: height, width

    def normalized(self, side: str, n: int) -> torch.Tensor:
        """Image n of one side cropped to its size, as (1, C, h, w) float with zero mean, unit variance."""
        images, stats = (self.left, self.left_stats) if side == "left" else (self.right, self.right_stats)
        h, w = (int(v) for v in self.sizes[n])
        image = images[n, :h, :w].permute(2, 0, 1).float()
        return ((image - stats[n, 0]) / stats[n, 1]).unsqueeze(0)


def sample_triplet_pixels(
    data: StereoImages, image_ids: torch.Tensor, count: int, half: int, pos_jitter: int, neg_low: int, neg_high: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`count` triplets as (image, row, anchor column, positive column, negative column), drawn by
    vectorized rejection sampling: candidate pixels without ground truth, or whose patches would
    leave the image, are dropped."""
    device = data.disparity.device
    found: list[torch.Tensor] = []
    have = 0
    for _ in range(MAX_DRAWS):
        m = max(4 * (count - have), 256)
        n = image_ids[torch.randint(len(image_ids), (m,), generator=generator)]
        h, w = data.sizes[n, 0], data.sizes[n, 1]
        y = half + (torch.rand(m, generator=generator, dtype=torch.float64) * (h - 2 * half)).long()
        x = half + (torch.rand(m, generator=generator, dtype=torch.float64) * (w - 2 * half)).long()
        jitter = torch.randint(-pos_jitter, pos_jitter + 1, (m,), generator=generator)
        offset = torch.randint(neg_low, neg_high + 1, (m,), generator=generator)
        offset = torch.where(torch.rand(m, generator=generator) < 0.5, -offset, offset)
        n, y, x, w = n.to(device), y.to(device), x.to(device), w.to(device)
        d = data.disparity[n, y, x]
        match = torch.round(x - d).long()
        xp, xn = match + jitter.to(device), match + offset.to(device)
        ok = (d > 0) & (xp >= half) & (xp < w - half) & (xn >= half) & (xn < w - half)
        found.append(torch.stack([n, y, x, xp, xn])[:, ok])
        have += int(ok.sum())
        if have >= count:
            picked = torch.cat(found, dim=1)[:, :count]
            return picked[0], picked[1], picked[2], picked[3], picked[4]
    raise DlrunError(f"could not sample {count} stereo training patches: too few pixels with ground truth "
                     "whose match lies inside the image (check the disparity files and dataset.neg_high)")


def extract_patches(images: torch.Tensor, stats: torch.Tensor, n: torch.Tensor, y: torch.Tensor, x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, size, size) normalized patches centred at (y, x) of images n (one gather, no loop)."""
    offsets = torch.arange(size, device=images.device) - size // 2
    rows = (y[:, None] + offsets)[:, :, None]
    cols = (x[:, None] + offsets)[:, None, :]
    patches = images[n[:, None, None], rows, cols].float()  # (B, size, size, C)
    mean, std = stats[n, 0], stats[n, 1]
    return ((patches - mean[:, None, None, None]) / std[:, None, None, None]).permute(0, 3, 1, 2).contiguous()


class StereoPatchBatches(EpochSeeded):
    """`num_batches` batches of (anchor, positive, negative) patches, each (B, C, size, size).

    Batch b of an epoch is drawn from a generator seeded by (seed, epoch, b): resume-exact, and a
    fixed seed and epoch (validation) give the same batches every time. Sharded for DDP, each rank
    draws every world_size-th batch number."""

    def __init__(self, data: StereoImages, image_ids: torch.Tensor, batch_size: int, num_batches: int, patch_size: int,
                 pos_jitter: int, neg_low: int, neg_high: int, seed: int = 0) -> None:
        self.data = data
        self.image_ids = image_ids
        self.batch_size = batch_size
        self.num_batches = num_batches
        self.patch_size = patch_size
        self.pos_jitter = pos_jitter
        self.neg_low = neg_low
        self.neg_high = neg_high
        self.seed = seed

    def __len__(self) -> int:
        return self.rank_count(self.num_batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        start = self.take_skip()
        half = self.patch_size // 2
        for number in self.rank_numbers(self.num_batches)[start:]:
            generator = self.batch_generator(number)
            n, y, x, xp, xn = sample_triplet_pixels(self.data, self.image_ids, self.batch_size, half, self.pos_jitter,
                                                    self.neg_low, self.neg_high, generator)
            d = self.data
            yield (extract_patches(d.left, d.left_stats, n, y, x, self.patch_size),
                   extract_patches(d.right, d.right_stats, n, y, xp, self.patch_size),
                   extract_patches(d.right, d.right_stats, n, y, xn, self.patch_size))
