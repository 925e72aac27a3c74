"""task=simclr end to end on tiny Fashion-MNIST files: the encoder without its head, training,
the linear probe, exact mid-epoch resume, and task=linear_probe on the saved encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from conftest import FAST, compose_config, read_results, train_in_process
from dlrun.checkpoint import load_checkpoint
from dlrun.models.simclr import strip_head
from dlrun.tasks.logistic_probe import LogisticProbe
from image_files import write_idx


def write_tiny_fmnist(root: Path, n_train: int = 48, n_test: int = 16) -> Path:
    """Random 28x28 images, labels i % 10, as the four IDX files under root/FashionMNIST/raw."""
    rng = np.random.default_rng(0)
    raw = root / "FashionMNIST" / "raw"
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    return root


def tiny() -> list[str]:
    """experiment=simclr_fmnist shrunk: tiny data (found through $DLRUN_DATA_DIR), a 2-layer encoder, batch 8."""
    return [*FAST, "experiment=simclr_fmnist", "dataset.search_dirs=[]", "dataset.download=false",
            "dataset.val_size=16", "dataset.batch_size=8", "dataset.eval_batch_size=16", "model.encoder.channels=[4,8]",
            "model.projection_hidden=[16]", "model.projection_dim=8", "task.probe_every_n_epochs=1", "task.probe_steps=20",
            "trainer.early_stopping.restore_best=false", "trainer.log_every_n_steps=2"]


@pytest.fixture(scope="module")
def simclr_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], Path]]:
    """One finished tiny SimCLR run (2 epochs of 4 steps) shared by the tests below; the tiny
    dataset stays in $DLRUN_DATA_DIR while they run."""
    root = tmp_path_factory.mktemp("simclr")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DLRUN_DATA_DIR", str(write_tiny_fmnist(root / "data")))
        common = tiny()
        assert train_in_process(common, root / "straight") == 0
        yield common, root / "straight"


def test_strip_head_replaces_the_last_linear() -> None:
    from dlrun.models.cnn import CNN

    cnn = CNN(1, 10, [28, 28], channels=[4], fc=[24])
    assert strip_head(cnn) == 24
    assert isinstance(cnn.classifier.logits, nn.Identity) and isinstance(cnn.classifier.fc1, nn.Linear)
    assert cnn(torch.zeros(2, 1, 28, 28)).shape == (2, 24)
    from dlrun.models.resnet import ResNetSmall

    resnet = ResNetSmall(3, 10, widths=[4, 8], residual=[True])
    assert strip_head(resnet) == 8 and resnet(torch.zeros(2, 3, 16, 16)).shape == (2, 8)


def test_model_simclr_takes_any_image_model_as_encoder() -> None:
    from dlrun import build

    class Meta:
        meta = {"in_channels": 3, "num_classes": 10, "image_size": [32, 32], "input_shape": [3, 32, 32], "in_features": 3072}

    cfg = compose_config(["model=simclr", "model@model.encoder=resnet_small", "model.encoder.widths=[4,8]",
                          "model.encoder.residual=[true]", "model.projection_hidden=[16]", "model.projection_dim=5"])
    net = build.build_model(cfg, Meta())  # type: ignore[arg-type]
    assert net.feature_dim == 8
    assert [type(m) for m in net.projection] == [nn.Linear, nn.ReLU, nn.Linear]
    assert net.projection[0].in_features == 8 and net.projection[2].out_features == 5
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 5) and net.features(torch.zeros(2, 3, 32, 32)).shape == (2, 8)


def test_logistic_probe_separates_separable_data_without_touching_the_global_rng() -> None:
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    labels = torch.arange(3).repeat(30)
    features = centres[labels] + 0.3 * torch.randn(90, 2, generator=gen)
    state = torch.random.get_rng_state()
    probe = LogisticProbe(3, steps=50, weight_decay=1e-4).fit(features, labels)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert probe.accuracy(features, labels) == 1.0
    again = LogisticProbe(3, steps=50, weight_decay=1e-4).fit(features, labels)
    assert torch.equal(probe.weight, again.weight)
    assert probe.accuracy(torch.tensor([[5.0, 0.0], [-3.0, -5.0]]), torch.tensor([0, 2])) == 1.0


def test_training_reports_loss_pair_acc_and_probe(simclr_run: tuple[list[str], Path]) -> None:
    _, run = simclr_run
    results = read_results(run)
    assert results["status"] == "completed" and results["epochs_run"] == 2 and results["global_step"] == 8
    assert set(results["test"]) == {"test/loss", "test/pair_acc", "test/probe_acc"}
    assert 0.0 <= results["test"]["test/probe_acc"] <= 1.0 and 0.0 <= results["final"]["train/pair_acc"] <= 1.0
    assert np.isfinite(results["final"]["train/loss"])
    assert (run / "features_pca.png").is_file()
    weights = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    assert any(k.startswith("encoder.") for k in weights) and any(k.startswith("projection.") for k in weights)


def test_probe_is_logged_every_n_epochs_to_tensorboard(simclr_run: tuple[list[str], Path]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run = simclr_run
    events = EventAccumulator(str(run)).Reload()
    steps = [e.step for e in events.Scalars("probe/acc")]
    assert steps == [1, 2]


class InterruptingSimCLR:
    """task=simclr that raises KeyboardInterrupt (like Ctrl-C) after `after` training steps."""

    def __new__(cls, loss: Any, after: int, **options: Any) -> Any:
        from dlrun.tasks.simclr import SimCLRTask

        class _Task(SimCLRTask):
            calls = 0

            def training_step(self, model, batch):  # type: ignore[no-untyped-def]
                _Task.calls += 1
                if _Task.calls > after:
                    raise KeyboardInterrupt
                return super().training_step(model, batch)

        return _Task(loss, **options)


def test_resume_mid_epoch_is_exact(simclr_run: tuple[list[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """last.pt every 3 steps lands mid-epoch 2 (step 6 = batch 2 of 4); a run cut after step 7 resumes
    from it, redraws the same views for batches 3 and 4 and ends with the uninterrupted run's weights."""
    import conftest

    monkeypatch.setattr(conftest, "InterruptingSimCLR", InterruptingSimCLR, raising=False)
    common, straight = simclr_run
    assert train_in_process([*common, "trainer.checkpoint.every_n_steps=3", "task._target_=conftest.InterruptingSimCLR",
                             "+task.after=7"], tmp_path / "cut") == 130
    state = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert (state["epoch"], state["batch_in_epoch"], state["global_step"]) == (1, 2, 6)
    resume = [*common, "resume.allow_changes=[task]", f"ckpt_path={tmp_path / 'cut' / 'checkpoints' / 'last.pt'}"]
    assert train_in_process(resume, tmp_path / "resumed") == 0  # the cut run's interrupting task is not the run's
    want = load_checkpoint(straight / "checkpoints" / "last.pt")["model"]
    got = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["model"]
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    assert read_results(tmp_path / "resumed")["test"] == read_results(straight)["test"]


def test_linear_probe_trains_only_the_new_head(simclr_run: tuple[list[str], Path], tmp_path: Path) -> None:
    common, straight = simclr_run
    data = [o for o in common if o.startswith("dataset.") and "batch_size" not in o]
    ckpt = straight / "checkpoints" / "last.pt"
    probe = [*FAST, "dataset=fashion_mnist", *data, "task=linear_probe", f"encoder_ckpt={ckpt}", "optimizer.lr=0.01"]
    assert train_in_process(probe, tmp_path / "probe") == 0
    results = read_results(tmp_path / "probe")
    assert results["config"]["model"]["_target_"] == "dlrun.models.probe.EncoderClassifier"
    assert 0.0 <= results["test"]["test/acc"] <= 1.0
    pretrained = load_checkpoint(ckpt)["model"]
    trained = load_checkpoint(tmp_path / "probe" / "checkpoints" / "last.pt")["model"]
    encoder = {k: v for k, v in trained.items() if k.startswith("encoder.")}
    assert encoder and all(torch.equal(v, pretrained[k]) for k, v in encoder.items())  # frozen, BN statistics too
    assert trained["classifier.weight"].shape == (10, 8)
    tuned = [*probe, "model.freeze=false"]
    assert train_in_process(tuned, tmp_path / "tuned") == 0
    tuned_weights = load_checkpoint(tmp_path / "tuned" / "checkpoints" / "last.pt")["model"]
    assert any(not torch.equal(tuned_weights[k], pretrained[k]) for k in encoder if k.endswith("weight"))


def test_wrong_combinations_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_in_process([*FAST, "task=linear_probe"], tmp_path / "a") != 0
    assert "encoder_ckpt must name a checkpoint" in capsys.readouterr().err
    assert train_in_process([*FAST, "task=linear_probe", f"encoder_ckpt={tmp_path / 'nope.pt'}"], tmp_path / "b") != 0
    assert "checkpoint not found" in capsys.readouterr().err
    assert train_in_process([*FAST, "task=simclr", "loss=nt_xent", "task.augment.flip_p=2"], tmp_path / "c") != 0
    assert "flip_p must be in [0, 1]" in capsys.readouterr().err


def test_eval_of_a_simclr_checkpoint_reproduces_loss_and_probe(simclr_run: tuple[list[str], Path], tmp_path: Path) -> None:
    """`dlrun eval` rebuilds model=simclr (with its nested encoder) from the checkpoint's config and
    recomputes the run's test metrics, the probe included (deterministic)."""
    from dlrun.cli import main

    _, run = simclr_run
    out = tmp_path / "eval"
    assert main(["eval", f"ckpt={run / 'checkpoints' / 'last.pt'}", f"out_dir={out}"]) == 0
    assert read_results(out)["test"] == pytest.approx(read_results(run)["test"])
    assert (out / "features_pca.png").is_file()
