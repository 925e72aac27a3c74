"""The Trainer: exact resume, early stopping (course Alg 7.1), AMP, clipping, accumulation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import FAST, read_results, train_in_process
from dlrun.checkpoint import load_checkpoint


def weights(run: Path, name: str = "last.pt") -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints" / name)["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# Dropout and shuffling make the result depend on every RNG stream the checkpoint must carry.
RESUME = ["model.dropout=0.3", "optimizer=sgd", "optimizer.momentum=0.9", "scheduler=step", "scheduler.scheduler.step_size=1",
          "scheduler.scheduler.gamma=0.5", "trainer.early_stopping.restore_best=false"]


def test_resume_continues_exactly(tmp_path: Path) -> None:
    assert train_in_process([*FAST, *RESUME, "trainer.max_epochs=4"], tmp_path / "straight") == 0
    assert train_in_process([*FAST, *RESUME, "trainer.max_epochs=2"], tmp_path / "first") == 0
    assert load_checkpoint(tmp_path / "first" / "checkpoints" / "last.pt")["epoch"] == 2
    resume = [*FAST, *RESUME, "trainer.max_epochs=4", f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.pt'}"]
    assert train_in_process(resume, tmp_path / "resumed") == 0
    assert_same_weights(weights(tmp_path / "straight"), weights(tmp_path / "resumed"))
    straight, resumed = read_results(tmp_path / "straight"), read_results(tmp_path / "resumed")
    assert resumed["epochs_run"] == 4 and resumed["global_step"] == straight["global_step"]
    assert resumed["test"] == straight["test"]


def test_resume_from_mid_epoch_checkpoint_is_exact(tmp_path: Path) -> None:
    """last.pt written every 27 steps lands mid-epoch (epoch 2, batch 10 of 17); a run interrupted
    at batch 13 resumes from it and ends with the same weights as an uninterrupted run."""
    common = [*FAST, *RESUME, "trainer.max_epochs=2", "trainer.checkpoint.every_n_steps=27"]
    assert train_in_process(common, tmp_path / "straight") == 0
    interrupted = [*common, "task._target_=conftest.FaultyTask", "+task.interrupt_after_steps=30"]
    assert train_in_process(interrupted, tmp_path / "cut") == 130
    state = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert (state["epoch"], state["batch_in_epoch"], state["global_step"]) == (1, 10, 27)
    assert read_results(tmp_path / "cut")["status"] == "interrupted"
    resume = [*common, "resume.allow_changes=[task]", f"ckpt_path={tmp_path / 'cut' / 'checkpoints' / 'last.pt'}"]
    assert train_in_process(resume, tmp_path / "resumed") == 0
    assert_same_weights(weights(tmp_path / "straight"), weights(tmp_path / "resumed"))


class ScriptedValidation:
    """A classification task whose validation loss follows a given curve (to test early stopping)."""

    def __new__(cls, loss: object, curve: list[float], **options: object) -> object:
        from dlrun.tasks.classification import ClassificationTask

        class _Task(ClassificationTask):
            calls = 0

            def evaluate(self, model, batches, split):  # type: ignore[no-untyped-def]
                metrics = super().evaluate(model, batches, split)
                if split == "val":
                    metrics["loss"] = curve[min(_Task.calls, len(curve) - 1)]
                    _Task.calls += 1
                return metrics

        return _Task(loss, **options)  # options: the other keys of configs/task/classification.yaml


def test_early_stopping_alg_7_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import conftest

    monkeypatch.setattr(conftest, "ScriptedValidation", ScriptedValidation, raising=False)
    # Alg 7.1 with patience 2: an equal value (0.8 at epoch 3) is not an improvement, so epochs 3
    # and 4 exhaust the patience: stop after epoch 4 with the best at epoch 2.
    curve = "[1.0,0.8,0.8,0.9,0.5,0.4]"
    run = tmp_path / "run"
    code = train_in_process([*FAST, "trainer.max_epochs=10", "trainer.early_stopping.patience=2",
                             "task._target_=conftest.ScriptedValidation", f"+task.curve={curve}"], run)
    assert code == 0
    results = read_results(run)
    assert results["epochs_run"] == 4 and results["stopped_early"] is True
    assert results["best_epoch"] == 2 and results["best"]["val/loss"] == 0.8
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["epoch"] == 2
    # The test metrics were computed with the restored best (epoch 2) weights, not the last ones.
    assert not torch.equal(best["model"]["net.1.weight"], weights(run)["net.1.weight"])
    assert results["test"] == _test_metrics_of(best, tmp_path)


def _test_metrics_of(state: dict, tmp_path: Path) -> dict[str, float]:
    from dlrun.evaluate import main as eval_main

    out = tmp_path / "eval"
    ckpt = tmp_path / "best.pt"
    state["config"]["task"] = {"_target_": "dlrun.tasks.classification.ClassificationTask"}
    from dlrun.checkpoint import save_checkpoint

    save_checkpoint({k: v for k, v in state.items() if k not in ("format", "version")}, ckpt)
    assert eval_main([f"ckpt={ckpt}", f"out_dir={out}"]) == 0
    return read_results(out)["test"]


def test_early_stopping_min_delta_and_max_mode() -> None:
    from dlrun.early_stopping import EarlyStopping

    model = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(mode="max", patience=1, min_delta=0.05)
    assert stopper.update(0.50, 1, model)
    assert not stopper.update(0.54, 2, model)  # +0.04 < min_delta: not an improvement
    assert stopper.should_stop and stopper.best_epoch == 1


def test_amp_bfloat16_on_cpu(train_run) -> None:
    from dlrun.run_logger import RunLogger
    from dlrun.trainer import Trainer

    trainer = Trainer(Path("."), RunLogger(Path("."), tensorboard=False), device="cpu", amp=True)
    assert trainer.amp_dtype == torch.bfloat16 and not trainer.scaler.is_enabled()
    with trainer.autocast():
        out = torch.nn.Linear(4, 2)(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    code, run = train_run("trainer.amp=true", "trainer.max_epochs=5")
    assert code == 0 and read_results(run)["test"]["test/acc"] > 0.8


def test_gradient_accumulation_matches_large_batch(tmp_path: Path) -> None:
    """2 accumulated batches of 32 == 1 batch of 64 (no dropout/BN: the mean gradient is the same)."""
    base = [*FAST, "trainer.max_epochs=1", "optimizer=sgd", "dataset.samples_per_component=64",
            "dataset.val_size=0.25", "dataset.test_size=0.25"]
    # 6 * 64 = 384 samples, 192 train = 3 batches of 64 or 6 of 32
    assert train_in_process([*base, "dataset.batch_size=64"], tmp_path / "big") == 0
    assert train_in_process([*base, "dataset.batch_size=32", "trainer.accumulate_grad_batches=2"], tmp_path / "acc") == 0
    big, acc = weights(tmp_path / "big"), weights(tmp_path / "acc")
    for key in big:
        assert torch.allclose(big[key], acc[key], atol=1e-6), key
    assert read_results(tmp_path / "acc")["global_step"] == 3


def test_clipping_by_value_and_norm() -> None:
    from dlrun.regularizers.base import NoRegularizer
    from dlrun.run_logger import RunLogger
    from dlrun.trainer import Trainer

    for kwargs, check in (
        ({"gradient_clip_value": 0.1}, lambda g: g.abs().max() <= 0.1 + 1e-7),
        ({"gradient_clip_norm": 0.5}, lambda g: abs(g.norm().item() - 0.5) < 1e-5),
    ):
        trainer = Trainer(Path("."), RunLogger(Path("."), tensorboard=False), device="cpu", **kwargs)
        param = torch.nn.Parameter(torch.zeros(3))
        model = torch.nn.Module()
        model.p = param
        optimizer = torch.optim.SGD([param], lr=1.0)
        (param * torch.tensor([10.0, -20.0, 5.0])).sum().backward()
        trainer._optimizer_step(model, optimizer, NoRegularizer(), want_norm=False)
        assert check(-param.detach())  # after one SGD step with lr 1, -param is the clipped gradient


class CountingTask:
    """A classification task that carries state across batches (the number it has trained on), as
    a language model carries its RNN hidden state."""

    def __new__(cls, loss: object, **options: object) -> object:
        from dlrun.tasks.classification import ClassificationTask

        class _Task(ClassificationTask):
            def setup(self, data, device):  # type: ignore[no-untyped-def]
                super().setup(data, device)
                self.batches = torch.tensor(0)

            def training_step(self, model, batch):  # type: ignore[no-untyped-def]
                self.batches += 1
                return super().training_step(model, batch)

            def state_dict(self):  # type: ignore[no-untyped-def]
                return {"batches": self.batches.clone()}

            def load_state_dict(self, state):  # type: ignore[no-untyped-def]
                self.batches = state["batches"].clone()

        return _Task(loss, **options)


def test_task_state_travels_in_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import conftest

    monkeypatch.setattr(conftest, "CountingTask", CountingTask, raising=False)
    common = [*FAST, "task._target_=conftest.CountingTask"]  # gmm2d: 1080 train points, batch 64 -> 17 batches
    assert train_in_process([*common, "trainer.max_epochs=1"], tmp_path / "first") == 0
    assert int(load_checkpoint(tmp_path / "first" / "checkpoints" / "last.pt")["task"]["batches"]) == 17
    resume = [*common, "trainer.max_epochs=2", f"ckpt_path={tmp_path / 'first' / 'checkpoints' / 'last.pt'}"]
    assert train_in_process(resume, tmp_path / "resumed") == 0
    # restored to 17 on resume, then 17 more batches (without the restore it would read 17)
    assert int(load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["task"]["batches"]) == 34


def test_base_task_defaults() -> None:
    from dlrun.tasks.base import BaseTask

    task = BaseTask()
    assert task.state_dict() == {}
    task.load_state_dict({"anything": 1})  # a stateless task ignores what it is given
    assert task.state_dict() == {}
