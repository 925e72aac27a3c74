"""The Trainer: the only training loop in dlrun. Tasks plug in through dlrun.tasks.base.Task."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlrun import distributed
from dlrun.checkpoint import save_checkpoint
from dlrun.data.base import Batches, DataModule
from dlrun.early_stopping import EarlyStopping
from dlrun.errors import DlrunError, TrainingDiverged, TrainingInterrupted
from dlrun.interrupt import StopRequest
from dlrun.regularizers.base import NoRegularizer, Regularizer
from dlrun.run_logger import RunLogger
from dlrun.schedulers.schedule import Schedule
from dlrun.seeding import rng_state, set_rng_state
from dlrun.tasks.base import Task

@dataclass
class FitResult:
    """What a finished fit reports (also the content of results.json's metric fields)."""

    status: str = "completed"
    epochs_run: int = 0
    global_step: int = 0
    best_epoch: int = 0
    best_value: float = math.nan
    stopped_early: bool = False
    best_metrics: dict[str, float] = field(default_factory=dict)
    final_metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when available; an unavailable CUDA device is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise DlrunError(f"trainer.device: unknown device '{name}' (valid: auto, cpu, cuda, cuda:N)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DlrunError("trainer.device=cuda but no CUDA GPU is available (use trainer.device=auto or cpu)")
    return device


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a batch (tensor, or tuple/list/dict of them) to `device`; no copy if already there."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def batch_size_of(batch: Any) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else next(iter(batch.values())) if isinstance(batch, dict) else batch
    return len(first)


# Nested trainer options: (type, default).
EARLY_STOPPING_OPTIONS: dict[str, tuple[Any, Any]] = {"patience": (int | None, None), "min_delta": (float, 0.0), "restore_best": (bool, True)}
CHECKPOINT_OPTIONS: dict[str, tuple[Any, Any]] = {"save_last": (bool, True), "save_best": (bool, True), "every_n_steps": (int | None, None)}


def checked_options(name: str, given: dict[str, Any] | None, options: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """`given` merged over the defaults, rejecting unknown keys and values of the wrong type."""
    from dlrun.config_types import describe, matches

    merged = {key: default for key, (_, default) in options.items()}
    for key, value in (given or {}).items():
        if key not in options:
            raise ValueError(f"unknown key '{name}.{key}' (valid: {', '.join(options)})")
        if not matches(value, options[key][0]):
            raise ValueError(f"{name}.{key}: expected {describe(options[key][0])}, got {value!r}")
        merged[key] = value
    return merged


class Trainer:
    """Runs epochs of a task: device, AMP, gradient clipping and accumulation, lr schedules,
    validation, early stopping, checkpoints (last and best) and TensorBoard logging."""

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
        early_stopping: dict[str, Any] | None = None,
        checkpoint: dict[str, Any] | None = None,
        log_every_n_steps: int = 50,
        deterministic: bool = False,
        progress_bar: bool = True,
        devices: int = 1,
    ) -> None:
        positive = {"max_epochs": max_epochs, "accumulate_grad_batches": accumulate_grad_batches, "devices": devices,
                    "val_every_n_epochs": val_every_n_epochs, "log_every_n_steps": log_every_n_steps}
        for key, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be an integer >= 1, got {value}")
        for key, clip in (("gradient_clip_norm", gradient_clip_norm), ("gradient_clip_value", gradient_clip_value)):
            if clip is not None and clip <= 0:
                raise ValueError(f"{key} must be > 0 or null, got {clip}")
        if amp_dtype not in ("auto", "float16", "bfloat16"):
            raise ValueError(f"unknown amp_dtype '{amp_dtype}' (valid: auto, float16, bfloat16)")
        es = checked_options("early_stopping", early_stopping, EARLY_STOPPING_OPTIONS)
        self.ckpt = checked_options("checkpoint", checkpoint, CHECKPOINT_OPTIONS)
        if self.ckpt["every_n_steps"] is not None and self.ckpt["every_n_steps"] < 1:
            raise ValueError(f"checkpoint.every_n_steps must be >= 1 or null, got {self.ckpt['every_n_steps']}")
        self.run_dir = Path(run_dir)
        self.logger = logger
        self.device = resolve_device(device)
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
        self.restore_best = bool(es["restore_best"])
        self.stopper = EarlyStopping(mode, es["patience"], es["min_delta"], keep_best_weights=self.restore_best)
        self.log_every = log_every_n_steps
        self.deterministic = deterministic
        self.progress_bar = progress_bar and distributed.is_main()
        self.devices = devices  # processes of a data-parallel run (started by dlrun.train through torchrun)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp and self.device.type == "cuda" and self.amp_dtype == torch.float16)
        self.epoch = 0          # completed epochs
        self.batch_in_epoch = 0  # batches of the current epoch already trained (mid-epoch resume)
        self.global_step = 0     # optimizer steps
        self.metrics: dict[str, float] = {}
        self.history: list[dict[str, float]] = []  # one entry per finished epoch: {"epoch": e, **metrics}

    # -- pieces of the loop -------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _batches(self, batches: Batches) -> Iterator[Any]:
        for batch in batches:
            yield to_device(batch, self.device)

    def evaluate(self, task: Task, model: nn.Module, data: DataModule, split: str) -> dict[str, float]:
        """Metrics of `task` on a whole split, keys prefixed with the split name."""
        model.eval()
        with torch.no_grad(), self.autocast():
            metrics = task.evaluate(model, self._batches(data.loader(split)), split)
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

    def _checkpoint_state(self, task: Task, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Schedule,
                          data: DataModule, config: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "task": task.state_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "global_step": self.global_step,
            "early_stopping": self.stopper.state_dict(),
            "rng": rng_state(),
            "metrics": dict(self.metrics),
            "history": [dict(h) for h in self.history],
            "data": data.state_dict(),
            "config": config or {},
        }

    def _save(self, name: str, state: dict[str, Any]) -> None:
        if not distributed.is_main():
            return
        try:
            save_checkpoint(state, self.run_dir / "checkpoints" / name)
        except OSError as err:
            raise DlrunError(f"cannot write checkpoint {self.run_dir / 'checkpoints' / name}: {err.strerror or err}") from err

    def restore(self, state: dict[str, Any], task: Task, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Schedule) -> None:
        """Load a checkpoint's full training state so training continues exactly where it stopped."""
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise DlrunError(f"checkpoint does not fit this model config: {str(err).splitlines()[0]}") from err
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = state["epoch"]
        self.batch_in_epoch = state["batch_in_epoch"]
        self.global_step = state["global_step"]
        self.stopper.load_state_dict(state["early_stopping"])
        self.metrics = dict(state["metrics"])
        self.history = [dict(h) for h in state.get("history", [])]
        task.load_state_dict(state.get("task", {}))
        set_rng_state(state["rng"])

    # -- the loop --------------------------------------------------------------------------------
    def steps_per_epoch(self, data: DataModule) -> int:
        """Optimizer steps per epoch (what per-iteration schedules count)."""
        return math.ceil(len(distributed.shard(data.loader("train", train=True))) / self.accumulate)

    def fit(
        self,
        task: Task,
        model: nn.Module,
        data: DataModule,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        regularizer: Regularizer | None = None,
        resume: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> FitResult:
        """Train `model` (already on self.device, optimizer built on its parameters) for max_epochs
        or until early stopping, restore the best weights if asked, then test it.

        Optional task hooks, called only when the task defines them: `on_train_step(model, step,
        logger)` once before training (step = steps done so far) and after every optimizer step;
        `on_epoch_end(model, epoch, history, logger)` after each epoch's metrics are logged."""
        regularizer = regularizer or NoRegularizer()
        task.setup(data, self.device)
        if len(data.loader("train", train=True)) == 0:
            raise DlrunError("the training split is empty (check the dataset size and batch settings)")
        if resume is not None:
            self.restore(resume, task, model, optimizer, schedule)
        with StopRequest() as stop:
            result = self._train_epochs(task, model, data, optimizer, schedule, regularizer, config, seed, stop)
        if self.restore_best and self.stopper.best_weights is not None:
            model.load_state_dict(self.stopper.best_weights)
        result.test_metrics = self.evaluate(task, model, data, "test")
        return result

    def _train_epochs(self, task: Task, model: nn.Module, data: DataModule, optimizer: torch.optim.Optimizer,
                      schedule: Schedule, regularizer: Regularizer, config: dict[str, Any] | None, seed: int,
                      stop: StopRequest) -> FitResult:
        from tqdm import tqdm

        train_batches = distributed.shard(data.loader("train", train=True))
        result = FitResult()
        step_hook = getattr(task, "on_train_step", None)
        epoch_hook = getattr(task, "on_epoch_end", None)
        if step_hook is not None:
            step_hook(model, self.global_step, self.logger)
        model.train()
        while self.epoch < self.max_epochs and not self.stopper.should_stop:
            epoch = self.epoch + 1
            started = time.perf_counter()
            train_batches.set_epoch(self.epoch, seed)
            train_batches.skip = self.batch_in_epoch
            sums: dict[str, torch.Tensor] = {}
            samples = 0
            first_bad = torch.tensor(-1, device=self.device)
            bar = tqdm(total=len(train_batches), initial=self.batch_in_epoch, desc=f"epoch {epoch}/{self.max_epochs}",
                       disable=None if self.progress_bar else True, leave=False, dynamic_ncols=True)
            for batch in self._batches(train_batches):
                with self.autocast():
                    loss, stats = task.training_step(model, batch)
                    penalty = regularizer.penalty(model)
                    total = loss if penalty is None else loss + penalty
                self.scaler.scale(total / self.accumulate).backward()
                n = batch_size_of(batch)
                samples += n
                detached = loss.detach().float()
                first_bad = torch.where((first_bad < 0) & ~torch.isfinite(detached), self.global_step + 1, first_bad)
                for key, value in {"loss": detached, **stats}.items():
                    sums[key] = sums.get(key, 0.0) + value.detach().float() * n
                self.batch_in_epoch += 1
                bar.update(1)
                if self.batch_in_epoch % self.accumulate and self.batch_in_epoch != len(train_batches):
                    continue
                log_now = (self.global_step + 1) % self.log_every == 0
                grad_norm = self._optimizer_step(model, optimizer, regularizer, want_norm=log_now)
                schedule.on_step(self.global_step, self.epoch + self.batch_in_epoch / len(train_batches))
                if step_hook is not None:
                    step_hook(model, self.global_step, self.logger)
                if log_now:
                    self._check_finite(first_bad, epoch)
                    step_metrics = {"train/loss_step": detached.item(), "lr": schedule.lr}
                    if grad_norm is not None:
                        step_metrics["train/grad_norm"] = float(grad_norm)
                    self.logger.scalars(step_metrics, self.global_step)
                    bar.set_postfix({k: f"{(v / samples).item():.4f}" for k, v in sums.items()})
                every = self.ckpt.get("every_n_steps")
                mid_epoch = self.batch_in_epoch < len(train_batches)
                stopping = distributed.any_rank(stop.requested)  # all ranks stop at the same step
                if mid_epoch and (stopping or (every and self.global_step % int(every) == 0)):
                    self._check_finite(first_bad, epoch)
                    if self.ckpt["save_last"]:
                        self._save("last.pt", self._checkpoint_state(task, model, optimizer, schedule, data, config))
                    if stopping:
                        bar.close()
                        raise self._interrupted(epoch)
            bar.close()
            self._check_finite(first_bad, epoch)
            elapsed = time.perf_counter() - started
            sums, samples = distributed.sum_across_ranks(sums, samples)
            self.epoch, self.batch_in_epoch = epoch, 0
            metrics = {f"train/{k}": (v / max(samples, 1)).item() for k, v in sums.items()}
            metrics.update({"lr": schedule.lr, "time/epoch_s": elapsed, "time/samples_per_s": samples / max(elapsed, 1e-9)})
            improved = False
            monitored: float | None = None
            if epoch % self.val_every == 0 or epoch == self.max_epochs:
                metrics.update(self.evaluate(task, model, data, "val"))
                monitored = self._monitored(metrics)
                improved = self.stopper.update(monitored, epoch, model, {k: v for k, v in metrics.items() if k.startswith("val/")})
            schedule.on_epoch_end(self.global_step, monitored)
            self.metrics = metrics
            self.history.append({"epoch": epoch, **metrics})
            self.logger.scalars(metrics, epoch)
            if epoch_hook is not None:
                epoch_hook(model, epoch, self.history, self.logger)
            self._print_epoch(epoch, metrics, improved, tqdm)
            state = None
            if self.ckpt["save_last"] or (improved and self.ckpt["save_best"]):
                state = self._checkpoint_state(task, model, optimizer, schedule, data, config)
            if improved and self.ckpt["save_best"]:
                self._save("best.pt", state)
            if self.ckpt["save_last"]:
                self._save("last.pt", state)
            if distributed.any_rank(stop.requested):
                raise self._interrupted(epoch)
        if self.ckpt["save_last"] and not (self.run_dir / "checkpoints" / "last.pt").exists():
            self._save("last.pt", self._checkpoint_state(task, model, optimizer, schedule, data, config))  # resumed at the end
        result.stopped_early = self.stopper.should_stop and self.epoch < self.max_epochs
        result.epochs_run = self.epoch
        result.global_step = self.global_step
        result.best_epoch = self.stopper.best_epoch
        result.best_value = self.stopper.best
        result.best_metrics = dict(self.stopper.best_metrics)
        result.final_metrics = dict(self.metrics)
        return result

    def _interrupted(self, epoch: int) -> TrainingInterrupted:
        path = self.run_dir / "checkpoints" / "last.pt"
        return TrainingInterrupted(epoch, self.global_step, str(path) if self.ckpt["save_last"] else None)

    def _monitored(self, metrics: dict[str, float]) -> float:
        if self.monitor not in metrics:
            valid = ", ".join(sorted(k for k in metrics if k.startswith("val/")))
            raise DlrunError(f"trainer.monitor: no metric '{self.monitor}' (valid: {valid})")
        return metrics[self.monitor]

    def _check_finite(self, first_bad: torch.Tensor, epoch: int) -> None:
        step = int(distributed.max_across_ranks(first_bad).item())
        if step >= 0:
            raise TrainingDiverged(epoch, step)

    def _print_epoch(self, epoch: int, metrics: dict[str, float], improved: bool, tqdm: Any) -> None:
        if not distributed.is_main():
            return
        shown = [k for k in ("train/loss", "train/acc", "val/loss", "val/acc") if k in metrics]
        shown += [k for k in metrics if k.startswith("val/") and k not in shown]
        parts = [f"{k} {metrics[k]:.4f}" for k in shown] + [f"lr {metrics['lr']:.3g}", f"{metrics['time/epoch_s']:.1f}s"]
        tqdm.write(f"epoch {epoch:>3}/{self.max_epochs}  " + "  ".join(parts) + ("  *" if improved else ""))
