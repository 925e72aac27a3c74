"""Random rotation, scaling and translation of image batches (course lecture on regularization:
augmentation by transformations that keep the label), one batched affine_grid + grid_sample for the
whole batch, each image with its own draw. Works on every image dataset's (N, C, H, W) batches. The
warp and its sampling are dlrun.data.augment's, which `dataset.augment.{degrees,scale,translate}` use too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from dlrun.data.augment import affine_batch, check_affine, random_affine
from dlrun.errors import DlrunError
from dlrun.regularizers.base import Regularizer
from dlrun.regularizers.noise import float_inputs, rebuilt

__all__ = ["AffineAugment", "affine_batch"]


class AffineAugment(Regularizer):
    """Each training image gets angle ~ U(−degrees, degrees), scale ~ U(scale[0], scale[1]) and a shift
    ~ U(−translate, translate) of its width and of its height; 0 / [1, 1] / 0 turn a part off. Draws
    from the global RNG (its state travels in checkpoints), on the normalized inputs (zeros outside)."""

    def __init__(self, degrees: float = 15.0, scale: Sequence[float] = (0.9, 1.1), translate: float = 0.1) -> None:
        self.degrees, self.scale, self.translate = check_affine(degrees, scale, translate)

    def before_forward(self, model: nn.Module, batch: Any) -> Any:
        parts, x = float_inputs(batch, "affine")
        if x.dim() != 4:
            raise DlrunError(f"regularizer affine: needs image batches (N, C, H, W), got shape {tuple(x.shape)}")
        parts[0] = random_affine(x, self.degrees, self.scale, self.translate)
        return rebuilt(batch, parts)
