"""The Trainer: the only training loop in dlrun, shaped like torchvision's `train_one_epoch` +
`evaluate`. Tasks plug in through dlrun.tasks.base.Task; checkpoints, NaN guard, logging, figures,
Ctrl-C and early stopping are the callbacks of dlrun.callbacks, called at named hook points.
(About 340 lines: the loop and every trainer.* option it acts on stay in the one file the YAML names.)"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import time
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlrun import distributed
from dlrun.callbacks import Callback, Checkpoint, EarlyStop, Fit, FitResult, Interrupt, MetricLogger, NanGuard, ProgressBar, TaskFigures
from dlrun.checkpoint import save_checkpoint
from dlrun.data.base import DataModule
from dlrun.devices import batch_size_of, compile_model, compile_mode, resolve_device, to_device
from dlrun.early_stopping import monitored
from dlrun.diagnostics import InitialLoss
from dlrun.early_stopping import check_algorithm
from dlrun.grad_flow import GradFlow
from dlrun.errors import DlrunError
from dlrun.regularizers.base import NoRegularizer, Regularizer
from dlrun.run_logger import RunLogger
from dlrun.schedulers.schedule import Schedule
from dlrun.seeding import rng_state, set_rng_state
from dlrun.tasks.base import Task

__all__ = ["FitResult", "Trainer"]


def limited(total: int, limit: int | float | None) -> int:
    """How many of `total` batches a limit keeps: a count, a fraction (at least 1 batch), or all."""
    if limit is None:
        return total
    if isinstance(limit, float):
        return min(total, max(1, int(total * limit)))
    return min(total, limit)


def check_limit(name: str, limit: Any) -> None:
    """A limit is a batch count >= 1, a fraction in (0, 1], or null."""
    ok = limit is None or (isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1) or (isinstance(limit, float) and 0 < limit <= 1)
    if not ok:
        raise ValueError(f"{name} must be a batch count >= 1, a fraction in (0, 1] or null, got {limit}")


@contextlib.contextmanager
def deterministic_algorithms(on: bool) -> Iterator[None]:
    """trainer.deterministic: torch's deterministic kernels (warn-only) on or off while the fit runs,
    then the previous settings (runs in one process do not leak the setting into each other)."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(on, warn_only=True)
    torch.backends.cudnn.deterministic = on
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2], before[3]


# Nested trainer options: (type, default).
class EarlyStoppingOptions(typing.TypedDict, total=False):
    """trainer.early_stopping (course Alg 7.1; 7.2 / 7.3 in dlrun.retrain), checked key by key by dlrun.config_types."""

    patience: int | None
    min_delta: float
    restore_best: bool
    algorithm: str | float


class CheckpointOptions(typing.TypedDict, total=False):
    """trainer.checkpoint, checked key by key by dlrun.config_types."""

    save_last: bool
    save_best: bool
    every_n_steps: int | None


EARLY_STOPPING_DEFAULTS: EarlyStoppingOptions = {"patience": None, "min_delta": 0.0, "restore_best": True, "algorithm": "7.1"}
CHECKPOINT_DEFAULTS: CheckpointOptions = {"save_last": True, "save_best": True, "every_n_steps": None}


class Trainer:
    """Runs epochs of a task: device, AMP, gradient clipping and accumulation, lr schedules and
    validation here; checkpoints, early stopping, logging and the rest in `self.callbacks`."""

    def __init__(
        self,
        run_dir: Path,
        logger: RunLogger,
        device: str = "auto",
        max_epochs: int = 30,
        amp: bool = False,
        amp_dtype: str = "auto",
        gradient_clip_norm: float | None = None,
        gradient_clip_value: float | None = None,
        accumulate_grad_batches: int = 1,
        val_every_n_epochs: int = 1,
        monitor: str = "val/loss",
        mode: str = "min",
        early_stopping: EarlyStoppingOptions | None = None,
        checkpoint: CheckpointOptions | None = None,
        log_every_n_steps: int = 50,
        limit_train_batches: int | float | None = None,
        limit_eval_batches: int | float | None = None,
        fast_dev_run: bool = False,
        deterministic: bool = False,
        progress_bar: bool = True,
        devices: int = 1,
        log_grad_flow: bool = False,
        compile: bool | str = False,
        divergence_factor: float | None = 1e6,
    ) -> None:
        positive = {"max_epochs": max_epochs, "accumulate_grad_batches": accumulate_grad_batches, "devices": devices,
                    "val_every_n_epochs": val_every_n_epochs, "log_every_n_steps": log_every_n_steps}
        for key, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be an integer >= 1, got {value}")
        if divergence_factor is not None and not divergence_factor > 1:
            raise ValueError(f"divergence_factor must be > 1 or null, got {divergence_factor}")
        for key, clip in (("gradient_clip_norm", gradient_clip_norm), ("gradient_clip_value", gradient_clip_value)):
            if clip is not None and clip <= 0:
                raise ValueError(f"{key} must be > 0 or null, got {clip}")
        if amp_dtype not in ("auto", "float16", "bfloat16"):
            raise ValueError(f"unknown amp_dtype '{amp_dtype}' (valid: auto, float16, bfloat16)")
        check_limit("limit_train_batches", limit_train_batches)
        check_limit("limit_eval_batches", limit_eval_batches)
        es: dict[str, Any] = {**EARLY_STOPPING_DEFAULTS, **(early_stopping or {})}
        ckpt: dict[str, Any] = {**CHECKPOINT_DEFAULTS, **(checkpoint or {})}
        self.early_stopping_algorithm = check_algorithm(es.pop("algorithm"))  # read by dlrun.train / dlrun.retrain
        if fast_dev_run:  # a smoke test: 1 epoch of 1 batch per split, nothing written to checkpoints/, no early stop
            max_epochs, limit_train_batches, limit_eval_batches, es["patience"] = 1, 1, 1, None
        self.run_dir = Path(run_dir)
        self.logger = logger
        self.device = resolve_device(device)
        self.compile = compile_mode(compile)  # torch.compile of the model at fit start (dlrun.devices.compile_model)
        self.max_epochs = max_epochs
        self.amp = amp
        self.amp_dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(
            amp_dtype, torch.float16 if self.device.type == "cuda" else torch.bfloat16
        )
        self.clip_norm = gradient_clip_norm
        self.clip_value = gradient_clip_value
        self.accumulate = accumulate_grad_batches
        self.val_every = val_every_n_epochs
        self.monitor = monitor
        self.log_every = log_every_n_steps
        self.limit_train = limit_train_batches
        self.limit_eval = limit_eval_batches
        self.deterministic = deterministic
        self.devices = devices  # processes of a data-parallel run; dlrun.distributed.launch starts them
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp and self.device.type == "cuda" and self.amp_dtype == torch.float16)
        saver = None if fast_dev_run else Checkpoint(**ckpt)
        # Order matters: the NaN guard checks before anything is logged or saved; Interrupt follows
        # Checkpoint (it relies on last.pt written at an epoch's end); EarlyStop restores the best
        # weights in on_fit_end only after Checkpoint has written the final last.pt.
        self.callbacks: list[Callback] = [NanGuard(divergence_factor), ProgressBar(progress_bar and distributed.is_main()), MetricLogger(),
                                          InitialLoss(), TaskFigures(), *([saver] if saver else []), Interrupt(saver),
                                          EarlyStop(mode, **es), *([GradFlow()] if log_grad_flow else [])]
        self.epoch = 0           # completed epochs
        self.batch_in_epoch = 0  # batches of the current epoch already trained (mid-epoch resume)
        self.global_step = 0     # optimizer steps
        self.should_stop = False  # set by EarlyStop
        self.metrics: dict[str, float] = {}
        self.history: list[dict[str, float]] = []  # one entry per finished epoch: {"epoch": e, **metrics}

    def _call(self, hook: str, fit: Fit, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, fit, *args)

    # -- pieces of the loop -------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _batches(self, batches: Iterable[Any], count: int) -> Iterator[Any]:
        for batch in itertools.islice(batches, count):
            yield to_device(batch, self.device)

    def evaluate(self, task: Task, model: nn.Module, data: DataModule, split: str) -> dict[str, float]:
        """Metrics of `task` on a split (limit_eval_batches of it), keys prefixed with the split name."""
        batches = data.loader(split)
        model.eval()
        with torch.no_grad(), self.autocast():
            metrics = task.evaluate(model, self._batches(batches, limited(len(batches), self.limit_eval)), split)
        model.train()
        return distributed.broadcast_object({f"{split}/{k}": v for k, v in metrics.items()})

    def _optimizer_step(self, model: nn.Module, optimizer: torch.optim.Optimizer, regularizer: Regularizer, want_norm: bool) -> torch.Tensor | None:
        grad_norm = None
        if self.clip_norm is not None or self.clip_value is not None or want_norm:
            self.scaler.unscale_(optimizer)
            params = [p for p in model.parameters() if p.grad is not None]
            if self.clip_value is not None:
                torch.nn.utils.clip_grad_value_(params, self.clip_value)
            if self.clip_norm is not None:
                grad_norm = torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
            elif want_norm:
                grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params])) if params else None
        self.scaler.step(optimizer)
        self.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        regularizer.after_step(model)
        self.global_step += 1
        return grad_norm

    # -- checkpoints ------------------------------------------------------------------------------
    def checkpoint_state(self, fit: Fit) -> dict[str, Any]:
        """The full training state; callbacks add theirs (early stopping) and vet it (NaN guard)."""
        state = {
            "model": fit.model.state_dict(), "optimizer": fit.optimizer.state_dict(), "schedule": fit.schedule.state_dict(),
            "scaler": self.scaler.state_dict(), "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "global_step": self.global_step, "rng": rng_state(), "metrics": dict(self.metrics),
            "history": [dict(h) for h in self.history], "data": fit.data.state_dict(), "task": fit.task.state_dict(),
            "config": fit.config,
        }
        self._call("on_save_checkpoint", fit, state)
        return state

    def save(self, name: str, state: dict[str, Any]) -> Path:
        """Write checkpoints/<name> (rank 0 only); its path."""
        path = self.run_dir / "checkpoints" / name
        if distributed.is_main():
            try:
                save_checkpoint(state, path)
            except OSError as err:
                raise DlrunError(f"cannot write checkpoint {path}: {err.strerror or err}") from err
        return path

    def restore(self, state: dict[str, Any], fit: Fit) -> None:
        """Load a checkpoint's full training state so training continues exactly where it stopped."""
        try:
            fit.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise DlrunError(f"checkpoint does not fit this model config: {str(err).splitlines()[0]}") from err
        fit.optimizer.load_state_dict(state["optimizer"])
        fit.schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batch_in_epoch, self.global_step = state["epoch"], state["batch_in_epoch"], state["global_step"]
        self.metrics = dict(state["metrics"])
        self.history = [dict(h) for h in state.get("history", [])]
        fit.task.load_state_dict(state.get("task", {}))
        self._call("on_load_checkpoint", fit, state)
        set_rng_state(state["rng"])

    # -- the loop --------------------------------------------------------------------------------
    def steps_per_epoch(self, data: DataModule) -> int:
        """Optimizer steps per epoch (what per-iteration schedules count)."""
        return math.ceil(limited(len(distributed.shard(data.loader("train", train=True))), self.limit_train) / self.accumulate)

    def fit(self, task: Task, model: nn.Module, data: DataModule, optimizer: torch.optim.Optimizer, schedule: Schedule,
            regularizer: Regularizer | None = None, resume: dict[str, Any] | None = None,
            config: dict[str, Any] | None = None, seed: int = 0) -> FitResult:
        """Train `model` (already on self.device, optimizer built on its parameters) for max_epochs
        or until early stopping, restore the best weights if asked, then test it."""
        world = distributed.world_size()
        if self.devices not in (1, world):  # the processes are started before this one runs (dlrun.distributed.launch)
            raise DlrunError(f"trainer.devices={self.devices} but torchrun started {world} processes")
        task.setup(data, self.device)
        model = compile_model(model, self.compile, self.device)
        if len(data.loader("train", train=True)) == 0:
            raise DlrunError("the training split is empty (check the dataset size and batch settings)")
        fit = Fit(task, model, data, optimizer, schedule, regularizer or NoRegularizer(), config or {}, seed)
        fit.regularizer.setup(data.meta)
        train_batches = distributed.shard(data.loader("train", train=True))
        fit.batches_per_epoch = limited(len(train_batches), self.limit_train)
        with deterministic_algorithms(self.deterministic):
            if resume is not None:
                self.restore(resume, fit)
            try:
                self._call("on_fit_start", fit)
                while self.epoch < self.max_epochs and not self.should_stop:
                    metrics = self.train_one_epoch(fit, train_batches)
                    self.end_epoch(fit, metrics)
                self._call("on_fit_end", fit)
            finally:
                self._call("teardown", fit)
            fit.result.epochs_run, fit.result.global_step, fit.result.final_metrics = self.epoch, self.global_step, dict(self.metrics)
            fit.result.test_metrics = self.evaluate(task, model, data, "test")
        return fit.result

    def train_one_epoch(self, fit: Fit, batches: Any) -> dict[str, float]:
        """One pass over the epoch's training batches (from batch_in_epoch on after a mid-epoch
        resume; the shuffle order comes from (seed, epoch)); the epoch's train metrics."""
        started = time.perf_counter()
        batches.set_epoch(self.epoch, fit.seed)
        batches.skip = self.batch_in_epoch
        fit.sums, fit.samples = {}, 0
        self._call("on_train_epoch_start", fit)
        fit.model.train()
        for batch in self._batches(batches, fit.batches_per_epoch - self.batch_in_epoch):
            batch = fit.regularizer.before_forward(fit.model, batch)  # input/label noise, augmentation, weight noise on
            with self.autocast():
                loss, stats = fit.task.training_step(fit.model, batch)
                penalty = fit.regularizer.penalty(fit.model)
                total = loss if penalty is None else loss + penalty
            self.scaler.scale(total / self.accumulate).backward()
            fit.regularizer.after_backward(fit.model)  # weight noise off before the update
            n = batch_size_of(batch)
            fit.samples += n
            fit.loss = loss.detach().float()
            for key, value in {"loss": fit.loss, **stats}.items():
                fit.sums[key] = fit.sums.get(key, 0.0) + value.detach().float() * n
            self.batch_in_epoch += 1
            self._call("on_train_batch_end", fit)
            if self.batch_in_epoch % self.accumulate and self.batch_in_epoch != fit.batches_per_epoch:
                continue
            fit.log_step = (self.global_step + 1) % self.log_every == 0
            fit.grad_norm = self._optimizer_step(fit.model, fit.optimizer, fit.regularizer, want_norm=fit.log_step)
            fit.schedule.on_step(self.global_step, self.epoch + self.batch_in_epoch / fit.batches_per_epoch)
            self._call("on_train_step_end", fit)
        self._call("on_train_epoch_end", fit)
        elapsed = time.perf_counter() - started
        sums, samples = distributed.sum_across_ranks(fit.sums, fit.samples)
        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        metrics = {f"train/{k}": (v / max(samples, 1)).item() for k, v in sums.items()}
        return {**metrics, "lr": fit.schedule.lr, "time/epoch_s": elapsed, "time/samples_per_s": samples / max(elapsed, 1e-9)}

    def end_epoch(self, fit: Fit, metrics: dict[str, float]) -> None:
        """Validate when due, step epoch schedules, record the epoch's metrics, run on_epoch_end."""
        fit.monitored, fit.improved = None, False
        if self.epoch % self.val_every == 0 or self.epoch == self.max_epochs:
            metrics.update(self.evaluate(fit.task, fit.model, fit.data, "val"))
            fit.monitored = monitored(metrics, self.monitor)
            self._call("on_validation_end", fit, metrics)
        fit.schedule.on_epoch_end(self.global_step, fit.monitored)
        self.metrics = metrics
        self.history.append({"epoch": self.epoch, **metrics})
        self._call("on_epoch_end", fit)
