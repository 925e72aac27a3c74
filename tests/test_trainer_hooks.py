"""The trainer's optional task hooks (on_train_step, on_epoch_end) and the per-epoch history it
keeps in checkpoints."""

from __future__ import annotations

import pytest

from conftest import read_results
from dlrun.checkpoint import load_checkpoint
from dlrun.tasks.classification import ClassificationTask


def test_hooks_see_every_step_and_epoch(train_run, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[int] = []
    epochs: list[tuple[int, int, float]] = []
    monkeypatch.setattr(ClassificationTask, "on_train_step", lambda self, model, step, logger: steps.append(step))
    monkeypatch.setattr(ClassificationTask, "on_epoch_end",
                        lambda self, model, epoch, history, logger: epochs.append((epoch, len(history), history[-1]["val/loss"])))
    # gmm2d: 6 * 300 points, 60% train = 1080, batch 100 -> 11 steps per epoch; accumulate 2 -> 6 steps
    code, run = train_run("dataset.batch_size=100", "trainer.accumulate_grad_batches=2")
    assert code == 0
    assert steps == list(range(0, 13))  # once before training (step 0), then after each of 2 x 6 steps
    assert [(e, n) for e, n, _ in epochs] == [(1, 1), (2, 2)]
    history = load_checkpoint(run / "checkpoints" / "last.pt")["history"]
    assert [h["epoch"] for h in history] == [1, 2] and history[1]["val/loss"] == epochs[1][2]
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "lr"} <= set(history[0])


def test_history_survives_a_resume(train_run) -> None:
    code, first = train_run("trainer.max_epochs=2")
    assert code == 0
    code, second = train_run("trainer.max_epochs=3", f"ckpt_path={first / 'checkpoints' / 'last.pt'}", name="resumed")
    assert code == 0
    history = load_checkpoint(second / "checkpoints" / "last.pt")["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[0] == load_checkpoint(first / "checkpoints" / "last.pt")["history"][0]
    assert (second / "training_plot.png").read_bytes()[:4] == b"\x89PNG"


def test_a_task_without_hooks_still_trains(train_run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(ClassificationTask, "on_train_step")
    monkeypatch.delattr(ClassificationTask, "on_epoch_end")
    code, run = train_run()
    assert code == 0
    assert read_results(run)["epochs_run"] == 2
