"""The interface between the one Trainer and a task family (classification, metric, stereo, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from dlrun.data.base import DataModule
from dlrun.run_logger import RunLogger


class Task(Protocol):
    """A task turns batches into a loss and metrics. The trainer owns everything else: device,
    AMP, optimizer, clipping, schedules, early stopping, checkpoints and logging."""

    def setup(self, data: DataModule, device: torch.device) -> None:
        """Called once before training or evaluation with the prepared data."""

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of one training batch (scalar, differentiable) and batch-mean metrics to show."""

    def evaluate(self, model: nn.Module, batches: Iterable[Any], split: str) -> dict[str, float]:
        """Metrics over a whole split (the trainer has set eval mode, no_grad and autocast)."""

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        """Figures and files at the end of a run or an evaluation (e.g. a confusion matrix PNG)."""
