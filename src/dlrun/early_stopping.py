"""The monitored metric: its checks (trainer.monitor names a reported metric, before training and after each
validation) and its tracking: best value and epoch, patience, and the best weights (Alg 7.1)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from dlrun.errors import DlrunError


ALGORITHMS = ("7.1", "7.2", "7.3")  # course: 7.1 alone; 7.2 / 7.3 add a phase on train + val (dlrun.retrain)


def check_algorithm(algorithm: str | float) -> str:
    """trainer.early_stopping.algorithm as a string ("7.2"; a command line's 7.2 arrives as a float)."""
    name = str(algorithm)
    if name not in ALGORITHMS:
        raise ValueError(f"early_stopping.algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm}")
    return name


class EarlyStopping:
    """The course's Algorithm 7.1: only a strict improvement (by more than min_delta) resets the
    patience counter; after `patience` evaluations without one, training stops. With patience None
    it never stops but still tracks the best epoch (for best.pt and restoring the best weights)."""

    def __init__(self, mode: str = "min", patience: int | None = None, min_delta: float = 0.0, keep_best_weights: bool = True) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"unknown mode '{mode}' (valid: min, max)")
        if patience is not None and patience < 0:
            raise ValueError(f"patience must be >= 0 or null, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.mode = mode
        self.patience = patience
        self.min_delta = min_delta
        self.keep_best_weights = keep_best_weights
        self.best: float = math.inf if mode == "min" else -math.inf
        self.best_epoch: int = 0
        self.bad_evals: int = 0
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, float] = {}

    def is_improvement(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int, model: nn.Module, metrics: dict[str, float] | None = None) -> bool:
        """Record an evaluation after `epoch` (1-based); True when it is the new best. `metrics`
        (all validation metrics of that evaluation) are kept as the best epoch's metrics."""
        if self.is_improvement(value):
            self.best, self.best_epoch, self.bad_evals = value, epoch, 0
            self.best_metrics = dict(metrics or {})
            if self.keep_best_weights:
                self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            return True
        self.bad_evals += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_evals >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_evals": self.bad_evals,
                "best_weights": self.best_weights, "best_metrics": self.best_metrics}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.bad_evals = state["bad_evals"]
        self.best_weights = state["best_weights"]
        self.best_metrics = dict(state.get("best_metrics", {}))


def monitored(metrics: dict[str, float], monitor: str) -> float:
    """The value of `monitor` in `metrics`; a missing name is a one-line error listing the valid ones."""
    if monitor not in metrics:
        raise unknown_monitor(monitor, [k for k in metrics if k.startswith("val/")])
    return metrics[monitor]


def unknown_monitor(monitor: str, valid: list[str]) -> DlrunError:
    """The one-line error for a trainer.monitor that names no metric, listing the validation metrics."""
    return DlrunError(f"trainer.monitor: no metric '{monitor}' (valid: {', '.join(sorted(valid))})")


EPOCH_KEYS = ("lr", "time/epoch_s", "time/samples_per_s")  # recorded every epoch besides train/* and val/*


def check_monitor(monitor: str, task: Any) -> None:
    """Before training: refuse a trainer.monitor the task never reports, i.e. a `val/` name it does not
    declare (`metric_names`) or a name with no split; `train/*` names come from the training steps
    and are checked after the first epoch, as is everything for a task that declares nothing."""
    names = task.metric_names() if callable(getattr(task, "metric_names", None)) else None
    if names is None or monitor.startswith("train/") or monitor in EPOCH_KEYS:
        return
    valid = [f"val/{name}" for name in names]
    if monitor not in valid:
        raise unknown_monitor(monitor, valid)
