"""Turn integer class targets into the dense targets that elementwise losses need."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dense_targets(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """One-hot `targets` for (B, C) outputs with C > 1; for (B,) or (B, 1) outputs, a float copy
    shaped like `outputs`. Float targets already shaped like `outputs` pass through."""
    if targets.is_floating_point() and targets.shape == outputs.shape:
        return targets
    if outputs.dim() == 2 and outputs.shape[1] > 1:
        return F.one_hot(targets.long(), outputs.shape[1]).to(outputs.dtype)
    return targets.to(outputs.dtype).reshape(outputs.shape)
