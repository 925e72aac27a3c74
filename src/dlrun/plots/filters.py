"""First-layer conv filters as one image grid, built with tensor ops (no matplotlib: it is drawn
every N training steps and must stay cheap)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def first_conv(model: nn.Module) -> nn.Conv2d | None:
    """The model's first Conv2d in registration order (the layer that sees the pixels)."""
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


def filter_grid(weight: torch.Tensor, columns: int = 8, border: int = 1, tile: int = 32) -> np.ndarray:
    """(O, I, kh, kw) weights -> uint8 image (H, W, 3): one tile per filter (RGB when I == 3, else one
    grey tile per input channel), min-max normalised over all filters together (as in the course),
    enlarged by nearest neighbour to about `tile` pixels, `border` pixels apart."""
    w = weight.detach().float().cpu()
    out_ch, in_ch, kh, kw = w.shape
    tiles = w if in_ch == 3 else w.reshape(out_ch * in_ch, 1, kh, kw).expand(-1, 3, -1, -1)
    low, high = tiles.min(), tiles.max()
    tiles = (tiles - low) / (high - low) if high > low else torch.zeros_like(tiles)
    scale = max(1, tile // max(kh, kw))
    tiles = tiles.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    count, _, th, tw = tiles.shape
    cols = min(columns, count)
    rows = -(-count // cols)
    blank = torch.ones(rows * cols - count, 3, th, tw)
    tiles = F.pad(torch.cat([tiles, blank]), (0, border, 0, border), value=1.0)
    grid = tiles.reshape(rows, cols, 3, th + border, tw + border).permute(2, 0, 3, 1, 4)
    grid = F.pad(grid.reshape(3, rows * (th + border), cols * (tw + border)), (border, 0, border, 0), value=1.0)
    return (grid.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
