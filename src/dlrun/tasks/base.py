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
    AMP, optimizer, clipping, schedules, early stopping, checkpoints and logging.

    Optional: `metric_names()` (BaseTask: None), the validation metrics `evaluate` reports, so the
    pre-flight can refuse a trainer.monitor naming none of them before any training."""

    def setup(self, data: DataModule, device: torch.device) -> None:
        """Called once before training or evaluation with the prepared data."""

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of one training batch (scalar, differentiable) and batch-mean metrics to show."""

    def evaluate(self, model: nn.Module, batches: Iterable[Any], split: str) -> dict[str, float]:
        """Metrics over a whole split (the trainer has set eval mode, no_grad and autocast)."""

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        """Figures and files at the end of a run or an evaluation (e.g. a confusion matrix PNG)."""

    def on_train_step(self, model: nn.Module, step: int, logger: RunLogger) -> None:
        """Periodic figures: once before training (step = steps done so far), then after every optimizer step."""

    def on_epoch_end(self, model: nn.Module, epoch: int, history: list[dict[str, float]], logger: RunLogger) -> None:
        """After each epoch's metrics are logged; `history` holds one {"epoch": e, **metrics} per epoch."""

    def state_dict(self) -> dict[str, Any]:
        """Training state the task carries between batches (e.g. an RNN hidden state), saved in checkpoints."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (on resume, after `setup`), so a run continues exactly."""


class BaseTask:
    """No-op defaults for the optional parts of `Task`, so a task family writes only what it needs."""

    def setup(self, data: DataModule, device: torch.device) -> None:
        """Nothing to prepare by default."""

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        """No figures by default."""

    def on_train_step(self, model: nn.Module, step: int, logger: RunLogger) -> None:
        """No periodic figures by default."""

    def on_epoch_end(self, model: nn.Module, epoch: int, history: list[dict[str, float]], logger: RunLogger) -> None:
        """No per-epoch figures by default."""

    def metric_names(self) -> list[str] | None:
        """The metrics `evaluate` reports for the validation split (no 'val/' prefix), known before any
        data, so a trainer.monitor naming none of them fails up front; None: not known in advance."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """A stateless task saves nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A stateless task restores nothing."""
