"""Noise regularizers (course lecture on regularization: noise on the inputs, the weights or the
labels), applied to training batches only; evaluation never sees them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dlrun.errors import DlrunError
from dlrun.regularizers.base import Regularizer, WeightSelection


def batch_parts(batch: Any, who: str) -> list[Any]:
    """A batch tuple as a list (inputs first, labels last), or a one-line error for other batches."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise DlrunError(f"regularizer {who}: needs (inputs, ..., labels) batches, got {type(batch).__name__}")
    return list(batch)


def rebuilt(batch: Any, parts: list[Any]) -> Any:
    """`parts` in the batch's own container type (tuple, named tuple or list)."""
    if hasattr(batch, "_fields"):
        return type(batch)(*parts)
    return tuple(parts) if isinstance(batch, tuple) else parts


def float_inputs(batch: Any, who: str) -> tuple[list[Any], torch.Tensor]:
    """(the batch as a list, its float input tensor); a one-line error for token ids and the like."""
    parts = batch_parts(batch, who)
    x = parts[0]
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise DlrunError(f"regularizer {who}: the model's inputs must be a float tensor (not token ids), got "
                         f"{getattr(x, 'dtype', type(x).__name__)}")
    return parts, x


class InputNoise(Regularizer):
    """x̃ = x + ε, ε ~ N(0, std²) elementwise, drawn anew for every training batch (Bishop: for a
    linear model, like an L2 penalty of std² · Σ w²)."""

    def __init__(self, std: float = 0.1) -> None:
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        self.std = std

    def before_forward(self, model: nn.Module, batch: Any) -> Any:
        parts, x = float_inputs(batch, "input_noise")
        parts[0] = x + self.std * torch.randn_like(x)
        return rebuilt(batch, parts)


class WeightNoise(WeightSelection):
    """w̃ = w + ε, ε ~ N(0, std²), on the selected weights for the forward and backward pass; the
    clean w is put back before the optimizer step, so the update ∇J(w̃) is applied to w."""

    def __init__(self, std: float = 0.01, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()) -> None:
        super().__init__(include, exclude)
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        self.std = std
        self.clean: list[torch.Tensor] | None = None

    @torch.no_grad()
    def before_forward(self, model: nn.Module, batch: Any) -> Any:
        self.after_backward(model)  # a forward without a backward (an exception) must not stack noise
        weights = self.weights(model)
        self.clean = [w.detach().clone() for w in weights]
        for w in weights:
            w.add_(torch.randn_like(w), alpha=self.std)
        return batch

    @torch.no_grad()
    def after_backward(self, model: nn.Module) -> None:
        if self.clean is not None:
            for w, clean in zip(self.weights(model), self.clean):
                w.copy_(clean)
            self.clean = None


class LabelNoise(Regularizer):
    """Each training label is replaced, with probability `flip_rate`, by one of the other C − 1 classes
    drawn uniformly (C = num_classes; null: the dataset's). The lecture's soft version of this is label
    smoothing: loss.label_smoothing."""

    def __init__(self, flip_rate: float = 0.1, num_classes: int | None = None) -> None:
        if not 0.0 <= flip_rate <= 1.0:
            raise ValueError(f"flip_rate must be in [0, 1], got {flip_rate}")
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.flip_rate = flip_rate
        self.num_classes = num_classes

    def setup(self, meta: dict[str, Any]) -> None:
        if self.num_classes is None:
            classes = meta.get("num_classes")
            if not isinstance(classes, int) or classes < 2:
                raise DlrunError("regularizer label_noise: the dataset has no num_classes; set regularizer.num_classes")
            self.num_classes = classes

    def before_forward(self, model: nn.Module, batch: Any) -> Any:
        parts = batch_parts(batch, "label_noise")
        y = parts[-1]
        if self.num_classes is None or not isinstance(y, torch.Tensor) or y.is_floating_point():
            raise DlrunError("regularizer label_noise: needs integer class labels and num_classes")
        flip = torch.rand(y.shape, device=y.device) < self.flip_rate
        other = (y + torch.randint(1, self.num_classes, y.shape, device=y.device)) % self.num_classes
        parts[-1] = torch.where(flip, other, y)
        return rebuilt(batch, parts)
