"""Steps any lr scheduler at its granularity, with optional linear warmup on top."""

from __future__ import annotations

import inspect
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, ReduceLROnPlateau

from dlrun.config_types import check_node, locate
from dlrun.errors import DlrunError

META_KEYS = ("interval", "warmup_steps")


class Schedule:
    """Owns one torch scheduler and decides when it steps.

    interval "epoch": stepped after each epoch (ReduceLROnPlateau gets the monitored metric);
    interval "step": after each optimizer step; CosineAnnealingWarmRestarts then gets the fractional
    epoch, so T_cur advances every iteration. Warmup multiplies the scheduled lr by (s+1)/warmup_steps
    during the first warmup_steps steps without disturbing the scheduler's own state.
    """

    def __init__(self, optimizer: Optimizer, scheduler: Any, interval: str = "epoch", warmup_steps: int = 0) -> None:
        if interval not in ("epoch", "step"):
            raise ValueError(f"unknown interval '{interval}' (valid: epoch, step)")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.interval = interval
        self.warmup_steps = int(warmup_steps)
        self.intended = [g["lr"] for g in optimizer.param_groups]
        self._apply_warmup(0)

    def _set(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr

    def _apply_warmup(self, steps_done: int) -> None:
        if steps_done < self.warmup_steps:
            factor = (steps_done + 1) / self.warmup_steps
            self._set([lr * factor for lr in self.intended])
        elif steps_done == self.warmup_steps:
            self._set(self.intended)

    def _step_scheduler(self, *args: Any) -> None:
        self._set(self.intended)
        self.scheduler.step(*args)
        self.intended = [g["lr"] for g in self.optimizer.param_groups]

    def on_step(self, steps_done: int, epoch_float: float) -> None:
        """After an optimizer step; `steps_done` counts steps so far, `epoch_float` epochs so far."""
        if self.interval == "step":
            if isinstance(self.scheduler, CosineAnnealingWarmRestarts):
                self._step_scheduler(epoch_float)
            else:
                self._step_scheduler()
        self._apply_warmup(steps_done)

    def on_epoch_end(self, steps_done: int, metric: float | None) -> None:
        """After an epoch; `metric` is the monitored value (None when this epoch had no validation)."""
        if self.interval != "epoch":
            return
        if isinstance(self.scheduler, ReduceLROnPlateau):
            if metric is None:
                return
            self._step_scheduler(metric)
        else:
            self._step_scheduler()
        self._apply_warmup(steps_done)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict(), "intended": list(self.intended)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        self.intended = list(state["intended"])


def build_schedule(cfg: DictConfig, optimizer: Optimizer, steps_per_epoch: int, max_epochs: int) -> Schedule:
    """Instantiate the scheduler config: meta keys go to Schedule; lengths left null (T_max, tau,
    total_steps) become the run's length in the scheduler's interval."""
    from hydra.utils import instantiate

    options = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(options, dict)
    meta = {key: options.pop(key) for key in META_KEYS if key in options}
    interval = meta.get("interval", "epoch")
    length = max_epochs if interval == "epoch" else max_epochs * steps_per_epoch
    params = inspect.signature(locate(options["_target_"])).parameters
    fill = {"T_max": length, "tau": length, "total_steps": max_epochs * steps_per_epoch}
    options.update({k: v for k, v in fill.items() if k in params and options.get(k) is None})
    check_node("scheduler", options)
    try:
        scheduler = instantiate(options)(optimizer)
    except (TypeError, ValueError) as err:
        raise DlrunError(f"scheduler: {err}") from err
    return Schedule(optimizer, scheduler, interval=interval, warmup_steps=meta.get("warmup_steps", 0) or 0)
