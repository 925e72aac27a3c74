"""Early stopping's second phase (course Alg 7.2 / 7.3, `trainer.early_stopping.algorithm`): after the
Alg 7.1 run on train (subtrain) with val (valid), train on train + val.

7.2: re-initialise the model (the run's seed again, so θ₀ is the first phase's) and train on train + val
for i* optimizer steps, i* = the steps up to the best epoch. 7.3: keep θ* (the best weights) and train on
train + val, one epoch between checks, until the validation loss falls below ε = J(θ*, subtrain), the
training-split loss at θ* (at most trainer.max_epochs epochs). Both phases get a fresh optimizer and lr
schedule; the second writes to `<run dir>/retrain/` (its own checkpoints and event file) and is not
resumable: a resumed run repeats it from its start."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from dlrun.callbacks import Callback, Fit, FitResult
from dlrun.data.train_plus_val import TrainPlusVal

Trainer = Any  # dlrun.trainer.Trainer (imports callbacks; not imported here to keep the graph simple)


class StepBudget(Callback):
    """Ends a fit after exactly `steps` optimizer steps (the last epoch is cut short)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_train_epoch_start(self, trainer: Trainer, fit: Fit) -> None:
        remaining = max(self.steps - trainer.global_step, 0)
        fit.batches_per_epoch = min(fit.batches_per_epoch, trainer.batch_in_epoch + remaining * trainer.accumulate)


class LossTarget(Callback):
    """Stops a fit at the first validation whose loss is below `target` (Alg 7.3's while condition)."""

    def __init__(self, target: float) -> None:
        self.target = target
        self.reached = False

    def on_validation_end(self, trainer: Trainer, fit: Fit, metrics: dict[str, float]) -> None:
        if metrics["val/loss"] < self.target:
            self.reached = trainer.should_stop = True


def phase_config(cfg: DictConfig, max_epochs: int) -> DictConfig:
    """The run's config for the second phase: max_epochs, no early stopping, no restore of a 'best' epoch."""
    phase = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    phase.trainer.max_epochs = max_epochs
    phase.trainer.early_stopping = {**phase.trainer.early_stopping, "patience": None, "restore_best": False, "algorithm": "7.1"}
    phase.trainer.checkpoint.save_best = False
    return phase


def second_phase(cfg: DictConfig, first: FitResult, trainer: Trainer, task: Any, model: nn.Module, data: Any,
                 regularizer: Any, run_dir: Path) -> tuple[FitResult | None, nn.Module, dict[str, Any]]:
    """Run Alg 7.2 or 7.3 after `first` (the Alg 7.1 fit of `model`); (its fit or None when there was
    nothing to do, the final model, the report for results.json's `early_stopping`)."""
    from dlrun import build, distributed
    from dlrun.run_logger import RunLogger
    from dlrun.seeding import seed_everything

    algorithm = trainer.early_stopping_algorithm
    best_step = first.best_epoch * trainer.steps_per_epoch(data)
    report: dict[str, Any] = {"algorithm": algorithm, "best_epoch": first.best_epoch, "best_step": best_step,
                              "test_before_retrain": dict(first.test_metrics)}
    merged = TrainPlusVal(data)
    callback: StepBudget | LossTarget
    if algorithm == "7.2":
        if best_step == 0:
            return None, model, {**report, "retrain_steps": 0}
        seed_everything(int(cfg.seed))
        model = build.build_model(cfg, data).to(trainer.device)
        callback = StepBudget(best_step)
        epochs = math.ceil(best_step / trainer.steps_per_epoch(merged))
    else:
        target = trainer.evaluate(task, model, data, "train")["train/loss"]
        start_val = trainer.evaluate(task, model, data, "val")["val/loss"]
        report.update(target_loss=target, val_loss_at_best=start_val)
        if start_val < target:
            return None, model, {**report, "retrain_steps": 0, "reached_target": True}
        callback = LossTarget(target)
        epochs = int(cfg.trainer.max_epochs)
    phase_cfg = phase_config(cfg, epochs)
    logger = RunLogger(run_dir / "retrain", tensorboard=distributed.is_main())
    try:
        phase = build.build_trainer(phase_cfg, run_dir / "retrain", logger)
        # the budget cuts the epoch before anything reads its length; the target acts after EarlyStop has spoken
        phase.callbacks = [callback, *phase.callbacks] if algorithm == "7.2" else [*phase.callbacks, callback]
        optimizer = build.build_optimizer(phase_cfg, model)
        schedule = build.build_schedule_for(phase_cfg, optimizer, phase.steps_per_epoch(merged))
        fit = phase.fit(task, distributed.wrap_model(model, trainer.device), merged, optimizer, schedule, regularizer,
                        config=build.resolved(phase_cfg), seed=int(cfg.seed))
    finally:
        logger.close()
    report.update(retrain_steps=fit.global_step, retrain_epochs=fit.epochs_run, retrain_final=dict(fit.final_metrics))
    if isinstance(callback, LossTarget):
        report["reached_target"] = callback.reached
    return fit, model, report
