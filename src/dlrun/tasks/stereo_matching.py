"""Dense stereo matching from per-pixel features: cosine cost volume over disparities 0..D-1 and
winner-takes-all, as whole-image tensor ops (a loop over disparities, never over pixels)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

CHUNK_FLOATS = 1 << 20  # rows per block so one block's product (C x rows x W floats) stays cache-sized


def wta_disparity(left: torch.Tensor, right: torch.Tensor, max_disparity: int, normalize: bool = True,
                  rows_per_block: int | None = None) -> torch.Tensor:
    """(B, H, W) long: argmax_d cos(f_L(y, x), f_R(y, x - d)) for d in 0..max_disparity-1.

    Left pixels with x < d have no candidate at d. The volume is scanned with a running maximum
    (ties keep the smaller disparity), so the D x H x W cost volume is never stored; on CPU the
    rows are processed in blocks that stay in cache.
    """
    if left.shape != right.shape or left.dim() != 4:
        raise ValueError(f"left and right features must be (B, C, H, W) of one shape, got {tuple(left.shape)} and {tuple(right.shape)}")
    if normalize:
        left, right = F.normalize(left.float(), dim=1), F.normalize(right.float(), dim=1)
    b, c, h, w = left.shape
    if rows_per_block is None:
        rows_per_block = h if left.is_cuda else max(1, CHUNK_FLOATS // max(1, c * w))
    best_score = torch.full((b, h, w), float("-inf"), device=left.device, dtype=left.dtype)
    best_disp = torch.zeros(b, h, w, dtype=torch.long, device=left.device)
    for top in range(0, h, rows_per_block):
        rows = slice(top, min(h, top + rows_per_block))
        fl, fr = left[:, :, rows], right[:, :, rows]
        score_block, disp_block = best_score[:, rows], best_disp[:, rows]
        for d in range(min(max_disparity, w)):
            score = (fl[..., d:] * fr[..., : w - d]).sum(1)
            better = score > score_block[..., d:]
            score_block[..., d:] = torch.where(better, score, score_block[..., d:])
            disp_block[..., d:] = torch.where(better, d, disp_block[..., d:])
    return best_disp


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
