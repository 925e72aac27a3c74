"""Piecewise-constant learning rate by epoch, in the course's `{1: 0.1, 3: 0.01, ...}` form."""

from __future__ import annotations

from collections.abc import Mapping

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class PiecewiseConstantLR(LRScheduler):
    """During (1-based) epoch e the lr is values[k] for the largest key k <= e; epochs before the
    smallest key keep the optimizer's initial lr. Absolute values, the same for every param group."""

    def __init__(self, optimizer: Optimizer, values: Mapping[int | str, float], last_epoch: int = -1) -> None:
        if not values:
            raise ValueError("values must name at least one {epoch: lr} pair")
        self.values = sorted((int(k), float(v)) for k, v in dict(values).items())
        if any(k < 1 for k, _ in self.values) or any(v <= 0 for _, v in self.values):
            raise ValueError(f"epochs must be >= 1 and lrs > 0, got {dict(values)}")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int, base_lr: float) -> float:
        """The lr during 1-based `epoch`."""
        lr = base_lr
        for start, value in self.values:
            if epoch >= start:
                lr = value
        return lr

    def get_lr(self) -> list[float]:
        return [self.lr_at(self.last_epoch + 1, base) for base in self.base_lrs]
