"""Per-class weights given as YAML lists: held as a tensor buffer, checked against the class count."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.errors import DlrunError


def weight_buffer(module: nn.Module, name: str, values: Sequence[float] | None) -> None:
    """Register `values` (a list from YAML, or None) as a float buffer `name` of `module`."""
    if values is not None:
        values = [float(v) for v in values]
        if not values or any(v < 0 for v in values):
            raise ValueError(f"{name} must be a non-empty list of weights >= 0, got {values}")
    module.register_buffer(name, None if values is None else torch.tensor(values), persistent=False)


def checked(weights: torch.Tensor | None, name: str, num_classes: int) -> torch.Tensor | None:
    """`weights` if they have one entry per class (else a one-line error naming the class count)."""
    if weights is not None and weights.numel() != num_classes:
        raise DlrunError(f"loss.{name} lists {weights.numel()} weights but the model outputs {num_classes} classes; "
                         f"give one weight per class ({num_classes})")
    return weights
