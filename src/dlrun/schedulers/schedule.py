"""The `_target_` of every configs/scheduler/*.yaml: builds the torch scheduler named by the nested
`scheduler` node for this run's length, steps it at its `interval`, and adds linear warmup."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingWarmRestarts, LinearLR, ReduceLROnPlateau, SequentialLR

from dlrun.config_types import check_node
from dlrun.errors import DlrunError

NULL_LENGTHS = ("T_max", "total_iters", "total_steps")  # a scheduler's lengths that null fills with the run's


class Schedule:
    """Owns one lr scheduler and decides when it steps.

    `scheduler` is a factory (the YAML's nested `_partial_` node) called with the optimizer; its
    lengths left null become the run's length: T_max and total_iters in the scheduler's interval
    (epochs or optimizer steps), total_steps in optimizer steps.

    interval "epoch": stepped after each epoch (ReduceLROnPlateau gets the monitored metric);
    interval "step": after each optimizer step; CosineAnnealingWarmRestarts then gets the fractional
    epoch, so T_cur advances every iteration.

    warmup_steps w: during the first w optimizer steps the lr is (s+1)/w of the scheduled lr. With
    interval "step" this is torch's LinearLR followed by the scheduler in a SequentialLR (the
    scheduler's null length is then the steps after the warmup). An epoch-interval scheduler, a
    plateau schedule and SGDR's fractional epochs cannot share SequentialLR's step count, so there
    the warmup factor multiplies the scheduled lr here, without disturbing the scheduler's state.
    """

    def __init__(self, optimizer: Optimizer, scheduler: Callable[..., Any], interval: str = "epoch", warmup_steps: int = 0,
                 steps_per_epoch: int = 1, max_epochs: int = 1) -> None:
        if interval not in ("epoch", "step"):
            raise ValueError(f"unknown interval '{interval}' (valid: epoch, step)")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.optimizer = optimizer
        self.interval = interval
        cls = scheduler.func if isinstance(scheduler, functools.partial) else scheduler
        sequential = interval == "step" and warmup_steps > 1 and not issubclass(cls, (ReduceLROnPlateau, CosineAnnealingWarmRestarts))
        total = max_epochs * steps_per_epoch - (warmup_steps if sequential else 0)
        length = max_epochs if interval == "epoch" else total
        given = scheduler.keywords if isinstance(scheduler, functools.partial) else {}
        for key in NULL_LENGTHS:
            if given.get(key) is not None and given[key] < 1:
                raise ValueError(f"{key} must be >= 1 or null (the whole run), got {given[key]}")
        if cls is ConstantLR and given.get("factor") == 0:  # torch divides by it when the constant phase ends
            raise ValueError("factor must be > 0 (ConstantLR divides by it at total_iters)")
        params = inspect.signature(cls).parameters
        lengths = dict(zip(NULL_LENGTHS, (length, length, total)))
        fill = {k: v for k, v in lengths.items() if k in params and given.get(k) is None}
        self.scheduler = scheduler(optimizer, **fill)
        self.warmup_steps = 0 if sequential else int(warmup_steps)  # the by-hand warmup
        if sequential:
            warmup = LinearLR(optimizer, start_factor=1 / warmup_steps, end_factor=1.0, total_iters=warmup_steps - 1)
            self.scheduler = SequentialLR(optimizer, [warmup, self.scheduler], milestones=[warmup_steps])
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
    """The scheduler config (a partial Schedule around a partial scheduler) applied to `optimizer`
    for a run of `max_epochs` epochs of `steps_per_epoch` optimizer steps."""
    from hydra.utils import instantiate

    options = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(options, dict)
    check_node("scheduler", options)
    if isinstance(options.get("scheduler"), dict):
        check_node("scheduler.scheduler", {k: v for k, v in options["scheduler"].items() if not (k in NULL_LENGTHS and v is None)})
    try:
        return instantiate(options)(optimizer, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs)
    except (TypeError, ValueError) as err:
        raise DlrunError(f"scheduler: {err}") from err
