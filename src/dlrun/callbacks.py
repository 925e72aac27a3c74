"""The cross-cutting parts of the training loop (NaN guard, logging, progress, task figures,
checkpoints, Ctrl-C, early stopping) as callbacks with named hook points, so the loop in
dlrun.trainer reads like torchvision's `train_one_epoch` + `evaluate`. (Slightly over 300 lines:
the built-in callbacks stay next to the hook points they implement, each a few dozen lines.)

Hook points, in the order a fit reaches them: on_fit_start, on_train_epoch_start,
on_train_batch_end (after each backward), on_train_step_end (after each optimizer step and lr
step), on_train_epoch_end (last batch done), on_validation_end, on_epoch_end (metrics and history
complete), on_fit_end; on_save_checkpoint / on_load_checkpoint whenever a checkpoint state is
built or restored; teardown always, also after an exception. The Trainer calls every callback
at each hook in list order (`Trainer.callbacks`), so the order states who sees what first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dlrun import distributed
from dlrun.data.base import DataModule
from dlrun.early_stopping import EarlyStopping
from dlrun.errors import TrainingDiverged, TrainingInterrupted
from dlrun.interrupt import StopRequest
from dlrun.regularizers.base import Regularizer
from dlrun.schedulers.schedule import Schedule
from dlrun.tasks.base import Task

Trainer = Any  # dlrun.trainer.Trainer, which imports this module (not imported back: no cycle)


@dataclass
class FitResult:
    """What a finished fit reports (also the content of results.json's metric fields)."""

    epochs_run: int = 0
    global_step: int = 0
    best_epoch: int = 0
    stopped_early: bool = False
    best_metrics: dict[str, float] = field(default_factory=dict)
    final_metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Fit:
    """What one `Trainer.fit` works on, and the loop's per-step and per-epoch values that hooks read."""

    task: Task
    model: nn.Module
    data: DataModule
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    regularizer: Regularizer
    config: dict[str, Any]
    seed: int
    result: FitResult = field(default_factory=FitResult)
    batches_per_epoch: int = 0             # training batches per epoch (after limit_train_batches)
    loss: torch.Tensor | None = None       # the last batch's loss (detached, on the device)
    sums: dict[str, torch.Tensor] = field(default_factory=dict)  # this epoch's sample-weighted sums
    samples: int = 0
    log_step: bool = False                 # this optimizer step is a logging step
    grad_norm: torch.Tensor | None = None  # computed at logging steps (or when clipping by norm)
    monitored: float | None = None         # trainer.monitor after this epoch's validation
    improved: bool = False                 # this epoch's validation was the best so far


class Callback:
    """No-op hooks; a callback overrides the ones it needs."""

    def on_fit_start(self, trainer: Trainer, fit: Fit) -> None: ...
    def on_train_epoch_start(self, trainer: Trainer, fit: Fit) -> None: ...
    def on_train_batch_end(self, trainer: Trainer, fit: Fit) -> None: ...
    def on_train_step_end(self, trainer: Trainer, fit: Fit) -> None: ...
    def on_train_epoch_end(self, trainer: Trainer, fit: Fit) -> None: ...
    def on_validation_end(self, trainer: Trainer, fit: Fit, metrics: dict[str, float]) -> None: ...
    def on_epoch_end(self, trainer: Trainer, fit: Fit) -> None: ...
    def on_fit_end(self, trainer: Trainer, fit: Fit) -> None: ...
    def on_save_checkpoint(self, trainer: Trainer, fit: Fit, state: dict[str, Any]) -> None: ...
    def on_load_checkpoint(self, trainer: Trainer, fit: Fit, state: dict[str, Any]) -> None: ...
    def teardown(self, trainer: Trainer, fit: Fit) -> None: ...


class NanGuard(Callback):
    """Stops a diverged run: the first non-finite loss, or the first above the divergence bound
    (`factor` x the first step's loss, at least `factor`), is tracked on the device (no per-step host
    sync) and checked at logging steps, at each epoch's end and before any checkpoint is written."""

    def __init__(self, factor: float | None = None) -> None:
        self.first_bad: torch.Tensor | None = None
        self.first_over: torch.Tensor | None = None
        self.factor = factor
        self.reference: torch.Tensor | None = None  # |loss| of the run's first step (kept in checkpoints)
        self.epoch = 0

    def on_train_epoch_start(self, trainer: Trainer, fit: Fit) -> None:
        self.first_bad = torch.tensor(-1, device=trainer.device)
        self.first_over = torch.tensor(-1, device=trainer.device)
        self.epoch = trainer.epoch + 1

    def on_train_batch_end(self, trainer: Trainer, fit: Fit) -> None:
        assert self.first_bad is not None and self.first_over is not None and fit.loss is not None
        step = trainer.global_step + 1
        self.first_bad = torch.where((self.first_bad < 0) & ~torch.isfinite(fit.loss), step, self.first_bad)
        if self.factor is None:
            return
        if self.reference is None:
            self.reference = fit.loss.detach().abs().clamp_min(1.0)
        over = fit.loss.detach().abs() > self.reference.to(fit.loss.device) * self.factor
        self.first_over = torch.where((self.first_over < 0) & over, step, self.first_over)

    def check(self) -> None:
        if self.first_bad is None or self.first_over is None:
            return
        step = int(distributed.max_across_ranks(self.first_bad).item())
        if step >= 0:
            raise TrainingDiverged(self.epoch, step)
        over = int(distributed.max_across_ranks(self.first_over).item())
        if over >= 0 and self.reference is not None and self.factor is not None:
            raise TrainingDiverged(self.epoch, over, bound=float(self.reference) * self.factor)

    def on_train_step_end(self, trainer: Trainer, fit: Fit) -> None:
        if fit.log_step:
            self.check()

    def on_train_epoch_end(self, trainer: Trainer, fit: Fit) -> None:
        self.check()

    def on_save_checkpoint(self, trainer: Trainer, fit: Fit, state: dict[str, Any]) -> None:
        self.check()
        if self.reference is not None:
            state["divergence_reference"] = float(self.reference)

    def on_load_checkpoint(self, trainer: Trainer, fit: Fit, state: dict[str, Any]) -> None:
        if "divergence_reference" in state:
            self.reference = torch.tensor(float(state["divergence_reference"]), device=trainer.device)


class ProgressBar(Callback):
    """A tqdm bar per epoch (running means at logging steps) and one summary line per epoch."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def on_train_epoch_start(self, trainer: Trainer, fit: Fit) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=fit.batches_per_epoch, initial=trainer.batch_in_epoch, desc=f"epoch {trainer.epoch + 1}/{trainer.max_epochs}",
                        disable=None if self.enabled else True, leave=False, dynamic_ncols=True)

    def on_train_batch_end(self, trainer: Trainer, fit: Fit) -> None:
        self.bar.update(1)

    def on_train_step_end(self, trainer: Trainer, fit: Fit) -> None:
        if fit.log_step:
            self.bar.set_postfix({k: f"{(v / fit.samples).item():.4f}" for k, v in fit.sums.items()})

    def on_train_epoch_end(self, trainer: Trainer, fit: Fit) -> None:
        self.teardown(trainer, fit)

    def teardown(self, trainer: Trainer, fit: Fit) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_epoch_end(self, trainer: Trainer, fit: Fit) -> None:
        from tqdm import tqdm

        if not distributed.is_main():
            return
        metrics = trainer.metrics
        shown = [k for k in ("train/loss", "train/acc", "val/loss", "val/acc") if k in metrics]
        shown += [k for k in metrics if k.startswith("val/") and k not in shown]
        parts = [f"{k} {metrics[k]:.4f}" for k in shown] + [f"lr {metrics['lr']:.3g}", f"{metrics['time/epoch_s']:.1f}s"]
        tqdm.write(f"epoch {trainer.epoch:>3}/{trainer.max_epochs}  " + "  ".join(parts) + ("  *" if fit.improved else ""))


class MetricLogger(Callback):
    """Scalars to the run logger (TensorBoard): loss, lr and gradient norm at logging steps, and
    every epoch metric at each epoch's end, also as a plain-text table (metrics.csv in the run dir)."""

    def on_train_step_end(self, trainer: Trainer, fit: Fit) -> None:
        if not fit.log_step or fit.loss is None:
            return
        metrics = {"train/loss_step": fit.loss.item(), "train/lr_step": fit.schedule.lr}  # the epoch's `lr`: train/lr
        if fit.grad_norm is not None:
            metrics["train/grad_norm"] = float(fit.grad_norm)
        trainer.logger.scalars(metrics, trainer.global_step)

    def on_epoch_end(self, trainer: Trainer, fit: Fit) -> None:
        from dlrun.results import METRICS_CSV, write_metrics_csv

        trainer.logger.scalars(trainer.metrics, trainer.epoch)
        if distributed.is_main():
            write_metrics_csv(trainer.run_dir / METRICS_CSV, trainer.history)


class TaskFigures(Callback):
    """The task's periodic-figure hooks (`Task.on_train_step`, `Task.on_epoch_end`)."""

    def on_fit_start(self, trainer: Trainer, fit: Fit) -> None:
        fit.task.on_train_step(fit.model, trainer.global_step, trainer.logger)

    def on_train_step_end(self, trainer: Trainer, fit: Fit) -> None:
        fit.task.on_train_step(fit.model, trainer.global_step, trainer.logger)

    def on_epoch_end(self, trainer: Trainer, fit: Fit) -> None:
        fit.task.on_epoch_end(fit.model, trainer.epoch, trainer.history, trainer.logger)


class Checkpoint(Callback):
    """checkpoints/last.pt after every epoch (and every `every_n_steps` optimizer steps mid-epoch),
    best.pt when the monitored metric improves; a run resumed at its end still gets last.pt."""

    def __init__(self, save_last: bool = True, save_best: bool = True, every_n_steps: int | None = None) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"checkpoint.every_n_steps must be >= 1 or null, got {every_n_steps}")
        self.save_last = save_last
        self.save_best = save_best
        self.every = every_n_steps

    def write_last(self, trainer: Trainer, fit: Fit) -> str | None:
        """Write last.pt now (when save_last is on); its path, or None."""
        if not self.save_last:
            return None
        return str(trainer.save("last.pt", trainer.checkpoint_state(fit)))

    def on_train_step_end(self, trainer: Trainer, fit: Fit) -> None:
        if self.every and trainer.global_step % self.every == 0 and trainer.batch_in_epoch < fit.batches_per_epoch:
            self.write_last(trainer, fit)

    def on_epoch_end(self, trainer: Trainer, fit: Fit) -> None:
        best = fit.improved and self.save_best
        if not (best or self.save_last):
            return
        state = trainer.checkpoint_state(fit)
        if best:
            trainer.save("best.pt", state)
        if self.save_last:
            trainer.save("last.pt", state)

    def on_fit_end(self, trainer: Trainer, fit: Fit) -> None:
        if self.save_last and not (trainer.run_dir / "checkpoints" / "last.pt").exists():
            self.write_last(trainer, fit)


class Interrupt(Callback):
    """Ctrl-C: the first press stops the run cleanly after the current optimizer step (every rank
    at the same step), writing last.pt through `checkpoint` first; see dlrun.interrupt."""

    def __init__(self, checkpoint: Checkpoint | None) -> None:
        self.checkpoint = checkpoint
        self.stop: StopRequest | None = None

    def on_fit_start(self, trainer: Trainer, fit: Fit) -> None:
        self.stop = StopRequest().__enter__()

    def _requested(self) -> bool:
        assert self.stop is not None
        return distributed.any_rank(self.stop.requested)  # a collective: every rank calls it at every step

    def on_train_step_end(self, trainer: Trainer, fit: Fit) -> None:
        if self._requested() and trainer.batch_in_epoch < fit.batches_per_epoch:  # at an epoch's end: below
            path = self.checkpoint.write_last(trainer, fit) if self.checkpoint is not None else None
            raise TrainingInterrupted(trainer.epoch + 1, trainer.global_step, path)

    def on_epoch_end(self, trainer: Trainer, fit: Fit) -> None:
        if self._requested():  # last.pt (if on) was written by Checkpoint.on_epoch_end, earlier in the list
            saved = self.checkpoint is not None and self.checkpoint.save_last
            raise TrainingInterrupted(trainer.epoch, trainer.global_step, str(trainer.run_dir / "checkpoints" / "last.pt") if saved else None)

    def teardown(self, trainer: Trainer, fit: Fit) -> None:
        if self.stop is not None:
            self.stop.__exit__(None, None, None)
            self.stop = None


class EarlyStop(Callback):
    """Tracks trainer.monitor after each validation (course Alg 7.1, dlrun.early_stopping): stops
    the run after `patience` validations without improvement, and at the end restores the best
    weights (restore_best) and reports the best epoch."""

    def __init__(self, mode: str = "min", patience: int | None = None, min_delta: float = 0.0, restore_best: bool = True) -> None:
        self.restore_best = restore_best
        self.stopper = EarlyStopping(mode, patience, min_delta, keep_best_weights=restore_best)

    def on_fit_start(self, trainer: Trainer, fit: Fit) -> None:
        trainer.should_stop = self.stopper.should_stop  # patience 0: nothing to wait for

    def on_validation_end(self, trainer: Trainer, fit: Fit, metrics: dict[str, float]) -> None:
        assert fit.monitored is not None
        val = {k: v for k, v in metrics.items() if k.startswith("val/")}
        fit.improved = self.stopper.update(fit.monitored, trainer.epoch, fit.model, val)
        trainer.should_stop = self.stopper.should_stop

    def on_save_checkpoint(self, trainer: Trainer, fit: Fit, state: dict[str, Any]) -> None:
        state["early_stopping"] = self.stopper.state_dict()

    def on_load_checkpoint(self, trainer: Trainer, fit: Fit, state: dict[str, Any]) -> None:
        self.stopper.load_state_dict(state["early_stopping"])

    def on_fit_end(self, trainer: Trainer, fit: Fit) -> None:
        fit.result.stopped_early = self.stopper.should_stop and trainer.epoch < trainer.max_epochs
        fit.result.best_epoch = self.stopper.best_epoch
        fit.result.best_metrics = dict(self.stopper.best_metrics)
        if self.restore_best and self.stopper.best_weights is not None:
            fit.model.load_state_dict(self.stopper.best_weights)
