"""Tiny datasets (one training sample, one-sample batches under batch norm, an empty or one-sample
validation split) fail in one clear line before the first step, or work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from conftest import FAST, compose_config, read_results, train_in_process
from dlrun.data.gmm2d import GMM2D
from dlrun.data.tensor_batches import TensorBatches
from dlrun.errors import DlrunError
from dlrun.models.mlp import MLP
from dlrun.split_checks import check_training_batches, check_val_split


class Split:
    """A data module stand-in whose training split has `n` samples in batches of `size`."""

    def __init__(self, n: int, size: int, drop_last: bool | None = None) -> None:
        self.batches = TensorBatches((torch.zeros(n, 2), torch.zeros(n)), size, shuffle=True, drop_last=bool(drop_last))
        if drop_last is not None:
            self.drop_last = drop_last

    def loader(self, split: str, train: bool = False) -> Any:
        return self.batches


BN = MLP(in_features=2, num_classes=2, hidden=[4], batch_norm=True)


@pytest.mark.parametrize(("n", "size", "why"), [
    (1, 4, "the train split has 1 sample; use more training samples or model.layer_norm=true"),
    (10, 1, "dataset.batch_size is 1"),
    (9, 4, r"the last batch of each epoch holds 1 sample \(9 training samples, batch size 4\)"),
])
def test_a_one_sample_batch_under_batch_norm_is_refused(n: int, size: int, why: str) -> None:
    with pytest.raises(DlrunError, match=rf"^model: batch norm needs at least 2 samples in every training batch, but {why}"):
        check_training_batches(BN, Split(n, size))


def test_what_batch_norm_can_train_on_passes() -> None:
    check_training_batches(BN, Split(10, 4))  # batches of 4, 4, 2
    check_training_batches(BN, Split(9, 4, drop_last=True))  # the lone sample is dropped
    check_training_batches(BN, Split(9, 4), limit=2)  # limit_train_batches=2: the last batch never runs
    check_training_batches(MLP(in_features=2, num_classes=2, hidden=[4]), Split(1, 4))  # no batch norm: fine
    check_training_batches(nn.BatchNorm2d(3), Split(1, 4))  # 2-D batch norm has H x W values per channel
    with pytest.raises(DlrunError, match="use another dataset.batch_size or dataset.drop_last=true or"):
        check_training_batches(BN, Split(9, 4, drop_last=False))  # a dataset with drop_last is told about it


def test_gmm2d_checks_its_training_points_from_the_config() -> None:
    with pytest.raises(ValueError, match=r"^3 points .* leave 1 training point, and standardize needs 2"):
        GMM2D(num_components=3, samples_per_component=1, val_size=1, test_size=1)
    with pytest.raises(ValueError, match=r"^2 points .* less val_size 0.2 and test_size 0.2 leave no training points$"):
        GMM2D(num_components=2, num_classes=2, samples_per_component=1)  # round(0.4) -> at least 1 each
    GMM2D(num_components=3, samples_per_component=1, val_size=1, test_size=1, standardize=False)
    GMM2D(num_components=3, samples_per_component=2, val_size=2, test_size=2)  # 2 training points


def test_an_empty_validation_split_needs_a_training_monitor() -> None:
    with pytest.raises(DlrunError, match=r"^dataset.val_size=0 leaves no validation split, so trainer.monitor=val/loss"):
        check_val_split(compose_config(["dataset.val_size=0"]), GMM2D())
    check_val_split(compose_config(["dataset.val_size=0", "trainer.monitor=train/loss"]), GMM2D())
    check_val_split(compose_config(["dataset.val_size=1"]), GMM2D())


ONE_TRAIN_POINT = ["dataset.num_components=3", "dataset.samples_per_component=1", "dataset.val_size=1", "dataset.test_size=1"]


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.fault("a 1-sample training split (gmm2d) with standardize on (std of one point: NaN inputs)",
                   "one line before any run dir; with standardize=false the run completes")
def test_a_one_point_gmm2d(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_in_process([*FAST, *ONE_TRAIN_POINT], tmp_path / "std") == 2
    assert "leave 1 training point, and standardize needs 2" in one_line_error(capsys)
    assert not (tmp_path / "std").exists()
    assert train_in_process([*FAST, *ONE_TRAIN_POINT, "dataset.standardize=false"], tmp_path / "plain") == 0
    assert read_results(tmp_path / "plain")["status"] == "completed"


@pytest.mark.fault("batch norm (model.batch_norm=true) with a one-sample training batch (the last of an epoch, batch_size=1, "
                   "a 1-sample train split)", "one line naming the sizes and the fixes before the first step; no checkpoint")
def test_batch_norm_with_a_one_sample_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 30 points less 5 val and 6 test = 19 training points in batches of 2: the last one holds 1
    sizes = ["dataset.num_components=3", "dataset.samples_per_component=10", "dataset.val_size=5", "dataset.test_size=6"]
    assert train_in_process([*FAST, *sizes, "dataset.batch_size=2", "model.batch_norm=true"], tmp_path / "bn") == 2
    assert one_line_error(capsys).endswith("the last batch of each epoch holds 1 sample (19 training samples, batch size 2); "
                                           "use another dataset.batch_size or model.layer_norm=true instead of batch norm")
    assert not (tmp_path / "bn" / "checkpoints" / "last.pt").exists()
    assert read_results(tmp_path / "bn")["status"] == "failed"


@pytest.mark.fault("dataset.val_size=0 (an empty validation split) with a val/ trainer.monitor",
                   "one line before any run dir; with trainer.monitor=train/loss the run completes")
def test_an_empty_validation_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_in_process([*FAST, "dataset.val_size=0"], tmp_path / "val") == 2
    assert "dataset.val_size=0 leaves no validation split" in one_line_error(capsys)
    assert not (tmp_path / "val").exists()
    assert train_in_process([*FAST, "dataset.val_size=0", "trainer.monitor=train/loss"], tmp_path / "train") == 0


@pytest.mark.fault("an image dataset of 1 training image (dataset.train_subset=1) and a validation split of 1 image",
                   "the run completes; with batch norm in an MLP, one line before the first step")
def test_one_training_image_and_one_validation_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from image_files import write_mnist

    write_mnist(tmp_path / "data" / "MNIST" / "raw", n_train=20, n_test=10)
    tiny = ["dataset=mnist", f"dataset.root={tmp_path / 'data'}", "dataset.download=false", "dataset.val_size=1",
            "dataset.train_subset=1", "model.hidden=[8]", *FAST]
    assert train_in_process(tiny, tmp_path / "mlp") == 0
    results = read_results(tmp_path / "mlp")
    assert results["status"] == "completed" and set(results["best"]) == {"val/loss", "val/acc", "val/f1"}
    assert train_in_process([*tiny, "model.batch_norm=true"], tmp_path / "bn") == 2
    assert "but the train split has 1 sample" in one_line_error(capsys)


def test_a_dataset_that_validates_on_test_at_val_size_zero_keeps_its_val_monitor() -> None:
    """mnist_metric's val_size=0 is the lab's 'validate on the test set' (its preset monitors val/acc)."""
    from dlrun.data.mnist_metric import MNISTMetric

    check_val_split(compose_config(["experiment=mnist_metric"]), MNISTMetric(download=False))
    with pytest.raises(DlrunError, match="leaves no validation split"):
        check_val_split(compose_config(["experiment=mnist_metric"]), GMM2D())  # the same config on a dataset without it
