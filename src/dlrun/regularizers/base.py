"""The regularizer interface and the weight selection the course prescribes (weights, not biases)."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

import torch
from torch import nn


def selected_weights(model: nn.Module, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()) -> list[torch.Tensor]:
    """Weight matrices and kernels (parameters with >= 2 dims) whose names match `include` and not
    `exclude` (glob patterns). Biases and normalization scales/shifts are 1-D and never selected."""
    return [
        p
        for name, p in model.named_parameters()
        if p.dim() >= 2
        and any(fnmatchcase(name, pat) for pat in include)
        and not any(fnmatchcase(name, pat) for pat in exclude)
    ]


class Regularizer:
    """A penalty added to the training loss and/or a projection after each optimizer step, and/or a
    change of each training batch (noise, augmentation) or of the weights for one forward/backward."""

    def setup(self, meta: dict[str, Any]) -> None:
        """Once before training, with the dataset's meta (e.g. num_classes)."""

    def before_forward(self, model: nn.Module, batch: Any) -> Any:
        """The training batch the model sees (called before each training forward pass)."""
        return batch

    def after_backward(self, model: nn.Module) -> None:
        """Called after each training backward pass (e.g. to take weight noise off again)."""

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        """The term added to the loss (None: nothing to add)."""
        return None

    def after_step(self, model: nn.Module) -> None:
        """Called after each optimizer step (e.g. to project weights onto a constraint set)."""


class NoRegularizer(Regularizer):
    """No regularization."""


class WeightSelection(Regularizer):
    """A regularizer that acts on the weights chosen by include/exclude glob patterns."""

    def __init__(self, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()) -> None:
        self.include = list(include)
        self.exclude = list(exclude)
        self._cache: tuple[nn.Module, list[torch.Tensor]] | None = None

    def weights(self, model: nn.Module) -> list[torch.Tensor]:
        # keyed by the model itself, not id(): a re-built model (early stopping 7.2) may reuse a freed id
        if self._cache is None or self._cache[0] is not model:
            self._cache = (model, selected_weights(model, self.include, self.exclude))
        return self._cache[1]


class WeightPenalty(WeightSelection):
    """A penalty `weight * norm(w)` summed over the selected weights and added to the loss."""

    def __init__(self, weight: float, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()) -> None:
        super().__init__(include, exclude)
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = weight

    def norm(self, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        weights = self.weights(model)
        if not weights or self.weight == 0:
            return None
        return self.weight * sum(self.norm(w) for w in weights)
