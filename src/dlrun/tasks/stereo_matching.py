"""Dense stereo matching from per-pixel features: cosine cost volume over disparities 0..D-1 and
winner-takes-all, as batched tensor ops (never a loop over pixels)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK_FLOATS = 1 << 22  # similarity entries per block (16 MB of float32) on CPU


def wta_disparity(left: torch.Tensor, right: torch.Tensor, max_disparity: int, normalize: bool = True,
                  tile: int = 256, rows_per_block: int | None = None) -> torch.Tensor:
    """(B, H, W) long: argmax_d cos(f_L(y, x), f_R(y, x - d)) for d in 0..max_disparity-1.

    Left pixels with x < d have no candidate at d; ties keep the smaller disparity. Each block of
    image rows and `tile` left columns is one batched matrix product of its left features with the
    right features of columns x0-D+1..x1 (the only ones it can match), from which the D-wide band
    of the cost volume is gathered: no loop over pixels or disparities, the full D x H x W volume
    is never stored, and the work runs at matrix-multiply speed.
    """
    if left.shape != right.shape or left.dim() != 4:
        raise ValueError(f"left and right features must be (B, C, H, W) of one shape, got {tuple(left.shape)} and {tuple(right.shape)}")
    if normalize:
        left, right = F.normalize(left.float(), dim=1), F.normalize(right.float(), dim=1)
    b, c, h, w = left.shape
    rows_left = left.permute(0, 2, 3, 1).reshape(b * h, w, c)  # one matrix per image row
    rows_right = right.permute(0, 2, 3, 1).reshape(b * h, w, c)
    disparities = torch.arange(max_disparity, device=left.device)
    tile = max(1, tile)
    if rows_per_block is None:
        rows_per_block = b * h if left.is_cuda else max(1, BLOCK_FLOATS // (tile * (tile + max_disparity)))
    best = torch.empty(b * h, w, dtype=torch.long, device=left.device)
    for x0 in range(0, w, tile):
        x1 = min(w, x0 + tile)
        r0 = max(0, x0 - max_disparity + 1)
        columns = torch.arange(x0, x1, device=left.device)[:, None] - disparities[None, :] - r0  # (t, D) into r0..x1
        valid = columns >= 0  # x - d >= 0
        index = columns.clamp_min(0)
        for top in range(0, b * h, rows_per_block):
            rows = slice(top, min(b * h, top + rows_per_block))
            similarity = torch.bmm(rows_left[rows, x0:x1], rows_right[rows, r0:x1].transpose(1, 2))  # (rows, t, x1 - r0)
            band = similarity.gather(2, index.expand(similarity.shape[0], -1, -1))  # (rows, t, D)
            best[rows, x0:x1] = band.masked_fill(~valid, float("-inf")).argmax(2)
    return best.reshape(b, h, w)


def cost_volume(left: torch.Tensor, right: torch.Tensor, max_disparity: int) -> torch.Tensor:
    """(B, D, H, W) cosine similarities, -inf where x < d (for inspection and tests; WTA uses
    `wta_disparity`, which never stores the volume)."""
    left, right = F.normalize(left.float(), dim=1), F.normalize(right.float(), dim=1)
    b, _, h, w = left.shape
    volume = torch.full((b, max_disparity, h, w), float("-inf"), device=left.device)
    for d in range(min(max_disparity, w)):
        volume[:, d, :, d:] = (left[..., d:] * right[..., : w - d]).sum(1)
    return volume


def disparity_errors(predicted: torch.Tensor, truth: torch.Tensor, tolerance: float) -> tuple[int, int, float]:
    """(correct, counted, sum of absolute errors) over pixels with ground truth (truth > 0)."""
    valid = truth > 0
    error = (predicted.float() - truth).abs()[valid]
    return int((error <= tolerance).sum()), int(valid.sum()), float(error.sum())
