"""The Trainer's loop driven directly: callback hook order, limit_*_batches, fast_dev_run,
deterministic, devices, and exact resume with limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import FAST, compose_config
from dlrun.callbacks import Callback
from dlrun.checkpoint import load_checkpoint
from dlrun.errors import DlrunError
from dlrun.tasks.classification import ClassificationTask

# gmm2d defaults: 6 x 300 points, 60/20/20 split, batch 64 -> 17 train, 6 val and 6 test batches
TRAIN_BATCHES, EVAL_BATCHES = 17, 6


class CountingTask(ClassificationTask):
    """Counts the batches it trains and evaluates on, and records whether deterministic kernels were on."""

    def __init__(self, loss: Any, interrupt_after: int | None = None) -> None:
        super().__init__(loss, top_losses=0, filters_every_n_steps=None)
        self.trained = 0
        self.evaluated: dict[str, int] = {}
        self.interrupt_after = interrupt_after
        self.deterministic: set[bool] = set()

    def training_step(self, model, batch):  # type: ignore[no-untyped-def]
        self.trained += 1
        if self.interrupt_after is not None and self.trained > self.interrupt_after:
            raise KeyboardInterrupt
        self.deterministic.add(torch.are_deterministic_algorithms_enabled())
        return super().training_step(model, batch)

    def evaluate(self, model, batches, split):  # type: ignore[no-untyped-def]
        seen = list(batches)
        self.evaluated[split] = self.evaluated.get(split, 0) + len(seen)
        return super().evaluate(model, seen, split)


def fit(run_dir: Path, *overrides: str, resume: dict[str, Any] | None = None, interrupt_after: int | None = None,
        callbacks: list[Callback] = ()) -> tuple[Any, CountingTask, Any]:  # type: ignore[assignment]
    """Build the parts of a gmm2d run from the real configs the way `dlrun train` does, and fit."""
    from dlrun import build
    from dlrun.run_logger import RunLogger

    cfg = compose_config([*FAST, "model.dropout=0.3", "optimizer=sgd", "optimizer.momentum=0.9", *overrides])
    torch.manual_seed(0)
    trainer = build.build_trainer(cfg, run_dir, RunLogger(run_dir, tensorboard=False))
    trainer.callbacks.extend(callbacks)
    data = build.build_data(cfg)
    data.setup(trainer.device)
    model = build.build_model(cfg, data)
    task = CountingTask(build.build("loss", cfg.loss), interrupt_after)
    optimizer = build.build_optimizer(cfg, model)
    schedule = build.build_schedule_for(cfg, optimizer, trainer.steps_per_epoch(data))
    result = trainer.fit(task, model, data, optimizer, schedule, resume=resume, config={}, seed=0)
    return trainer, task, result


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith(("on_", "teardown")):
            self.calls.append(name)
        return super().__getattribute__(name)


def test_hooks_run_in_loop_order(tmp_path: Path) -> None:
    recorder = Recorder()
    fit(tmp_path, "trainer.limit_train_batches=2", "trainer.limit_eval_batches=1", callbacks=[recorder])
    epoch = ["on_train_epoch_start", "on_train_batch_end", "on_train_step_end", "on_train_batch_end", "on_train_step_end",
             "on_train_epoch_end", "on_validation_end",
             "on_save_checkpoint",  # Checkpoint (before the recorder in the list) builds last.pt's state at on_epoch_end
             "on_epoch_end"]
    assert recorder.calls == ["on_fit_start", *epoch, *epoch, "on_fit_end", "teardown"]


def test_limit_batches_as_counts(tmp_path: Path) -> None:
    trainer, task, result = fit(tmp_path, "trainer.limit_train_batches=3", "trainer.limit_eval_batches=2")
    assert task.trained == 2 * 3 and result.global_step == 6
    assert task.evaluated == {"val": 2 * 2, "test": 2}


def test_limit_batches_as_fractions(tmp_path: Path) -> None:
    trainer, task, result = fit(tmp_path, "trainer.limit_train_batches=0.5", "trainer.limit_eval_batches=0.1",
                                "trainer.accumulate_grad_batches=3")
    assert task.trained == 2 * (TRAIN_BATCHES // 2)  # int(17 * 0.5) = 8 per epoch
    assert result.global_step == 2 * 3  # 8 batches in steps of 3, 3, 2
    assert task.evaluated == {"val": 2, "test": 1}  # int(6 * 0.1) = 0 -> at least 1 batch


def test_no_limit_sees_everything(tmp_path: Path) -> None:
    trainer, task, result = fit(tmp_path)
    assert task.trained == 2 * TRAIN_BATCHES and task.evaluated == {"val": 2 * EVAL_BATCHES, "test": EVAL_BATCHES}


@pytest.mark.parametrize("value", ["0", "1.5", "-2", "true"])
def test_bad_limits_are_one_line_errors(tmp_path: Path, value: str) -> None:
    from dlrun.build import build_trainer
    from dlrun.run_logger import RunLogger

    cfg = compose_config([f"trainer.limit_train_batches={value}"])
    with pytest.raises(DlrunError, match="limit_train_batches"):
        build_trainer(cfg, tmp_path, RunLogger(tmp_path, tensorboard=False))


def test_fast_dev_run(tmp_path: Path) -> None:
    trainer, task, result = fit(tmp_path, "trainer.fast_dev_run=true", "trainer.max_epochs=5", "trainer.early_stopping.patience=0")
    assert (task.trained, task.evaluated) == (1, {"val": 1, "test": 1})
    assert result.epochs_run == 1 and result.global_step == 1 and not result.stopped_early
    assert not (tmp_path / "checkpoints").exists()


def test_resume_with_limits_is_exact(tmp_path: Path) -> None:
    """10 batches per epoch, last.pt every 4 steps: a run cut after 13 batches resumes from step 12
    (epoch 2, batch 2) and ends with the weights of the uninterrupted run."""
    common = ["trainer.limit_train_batches=10", "trainer.limit_eval_batches=2", "trainer.checkpoint.every_n_steps=4",
              "trainer.early_stopping.restore_best=false"]
    fit(tmp_path / "straight", *common)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path / "cut", *common, interrupt_after=13)
    state = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert (state["epoch"], state["batch_in_epoch"], state["global_step"]) == (1, 2, 12)
    _, task, result = fit(tmp_path / "resumed", *common, resume=state)
    assert task.trained == 8 and result.global_step == 20
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")["model"]
    resumed = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_deterministic_is_set_by_the_trainer_for_the_fit_only(tmp_path: Path) -> None:
    before = torch.are_deterministic_algorithms_enabled()
    try:
        torch.use_deterministic_algorithms(False)
        _, task, _ = fit(tmp_path / "on", "trainer.deterministic=true", "trainer.limit_train_batches=2", "trainer.limit_eval_batches=1")
        assert task.deterministic == {True} and not torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)
        _, task, _ = fit(tmp_path / "off", "trainer.limit_train_batches=2", "trainer.limit_eval_batches=1")
        assert task.deterministic == {False} and torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)


def test_devices_must_match_the_process_count(tmp_path: Path) -> None:
    from dlrun.run_logger import RunLogger
    from dlrun.trainer import Trainer

    trainer = Trainer(tmp_path, RunLogger(tmp_path, tensorboard=False), device="cpu", devices=2)
    with pytest.raises(DlrunError, match="trainer.devices=2 but torchrun started 1 processes"):
        trainer.fit(None, None, None, None, None)  # type: ignore[arg-type]  # checked before anything is used
