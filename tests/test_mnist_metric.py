"""MNIST for metric learning (lab 4) on tiny synthetic digits written as real IDX files, and the
metric task end to end: a trained embedding must beat raw pixels at nearest-class-mean accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import read_results
from dlrun.cli import main
from dlrun.data.idx import read_idx, write_idx
from dlrun.data.mnist_metric import MNISTMetric
from dlrun.errors import DlrunError
from synthetic_digits import write_synthetic_mnist

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_mnist(tmp_path_factory.mktemp("digits"), n_train=300, n_test=100)


def test_splits_scaling_and_remove_class(digits: Path) -> None:
    data = MNISTMetric(root=str(digits), download=False, remove_class=3)
    data.setup(CPU)
    raw = read_idx(digits / "MNIST" / "raw" / "train-images-idx3-ubyte")
    train_x, train_y = data.splits["traineval"]
    assert train_x.shape == (300, 1, 28, 28) and train_x.dtype == torch.float32
    assert torch.equal(train_x[:, 0], raw.float() / 255)  # lab: /255, no mean subtraction
    assert (data.splits["train"][1] != 3).all() and len(data.splits["train"][1]) == 300 - 30
    assert (train_y == 3).sum() == 30  # class means still see the removed digit
    assert torch.equal(data.splits["val"][1], data.splits["test"][1])  # the lab validates on the test set
    a, p, n, ya, yn = next(iter(data.loader("train", train=True)))
    assert a.shape == (64, 1, 28, 28) and (ya != 3).all() and (yn != 3).all()


def test_val_hold_out_and_pk_sampler(digits: Path) -> None:
    data = MNISTMetric(root=str(digits), download=False, val_size=100, sampler="pk", classes_per_batch=5, samples_per_class=4)
    data.setup(CPU)
    assert len(data.splits["val"][1]) == 100 and len(data.splits["traineval"][1]) == 200
    x, y = next(iter(data.loader("train", train=True)))
    assert x.shape == (20, 1, 28, 28) and len(y.unique()) == 5


def test_gzipped_files_in_root(tmp_path: Path) -> None:
    write_synthetic_mnist(tmp_path / "raw_gz", n_train=20, n_test=10, gz=True)
    for f in (tmp_path / "raw_gz" / "MNIST" / "raw").iterdir():  # flat layout: files directly in root
        f.rename(tmp_path / f.name)
    data = MNISTMetric(root=str(tmp_path), download=False)
    data.setup(CPU)
    assert len(data.splits["test"][1]) == 10


@pytest.mark.fault('lab 4 MNIST files missing or inconsistent', 'one-line error naming the file')
def test_missing_and_inconsistent_files(tmp_path: Path) -> None:
    with pytest.raises(DlrunError, match="MNIST files not found: train-images-idx3-ubyte, train-labels-idx1-ubyte"):
        MNISTMetric(root=str(tmp_path), download=False).setup(CPU)
    write_synthetic_mnist(tmp_path, n_train=20, n_test=10)
    write_idx(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte", torch.zeros(19, dtype=torch.uint8))
    with pytest.raises(DlrunError, match="expected 20 labels"):
        MNISTMetric(root=str(tmp_path), download=False).setup(CPU)


@pytest.mark.parametrize("kwargs, message", [({"sampler": "random"}, "unknown sampler"), ({"remove_class": 10}, "remove_class"),
                                             ({"sampler": "pk", "classes_per_batch": 11}, "exceeds")])
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MNISTMetric(**kwargs)


@pytest.mark.slow
def test_trained_embedding_beats_raw_pixels(digits: Path, train_run, tmp_path: Path) -> None:
    data = [f"dataset.root={digits}", "dataset.download=false", "dataset.batch_size=32"]
    code, run = train_run("experiment=mnist_metric", "trainer.max_epochs=3", *data)
    assert code == 0
    trained = read_results(run)
    assert set(trained["test"]) == {"test/loss", "test/acc", "test/map", "test/recall@1"}
    for png in ("pca_images.png", "pca_embeddings.png"):
        assert (run / png).read_bytes()[:4] == b"\x89PNG"
    assert list(run.glob("**/tensors.tsv")) and list(run.glob("**/metadata.tsv"))  # projector
    out = tmp_path / "identity"
    assert main(["eval", "model=identity", "experiment=mnist_metric", "trainer.device=cpu", *data, f"out_dir={out}"]) == 0
    pixels = read_results(out)["test"]
    assert pixels["test/acc"] < 0.6
    assert trained["test"]["test/acc"] > pixels["test/acc"] + 0.2
    assert trained["test"]["test/map"] > pixels["test/map"]


def test_identity_cannot_be_trained_and_eval_needs_ckpt_for_weights(digits: Path, train_run, capsys: pytest.CaptureFixture[str]) -> None:
    code, run = train_run("experiment=mnist_metric", "model=identity", f"dataset.root={digits}")
    assert code == 2
    assert "IdentityEmbedding has no parameters, so there is nothing to train" in capsys.readouterr().err
    assert main(["eval", "experiment=mnist_metric", f"dataset.root={digits}", "dataset.download=false"]) == 2
    assert "missing ckpt=PATH: SimpleMetricEmbedding has parameters" in capsys.readouterr().err


def test_reads_through_the_mnist_reader_and_shares_its_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlrun.data.mnist import MNIST

    write_synthetic_mnist(tmp_path, n_train=20, n_test=10)
    MNISTMetric(root=str(tmp_path), download=False, val_size=0.25, seed=1).setup(CPU)
    assert (tmp_path / "dlrun_cache" / "mnist.pt").is_file()
    parsed = []
    monkeypatch.setattr(MNIST, "parse", lambda self, sources: parsed.append(sources))
    again = MNISTMetric(root=str(tmp_path), download=False, val_size=0.25, seed=1)
    again.setup(CPU)
    plain = MNIST(root=str(tmp_path), download=False, val_size=5)
    plain.setup(CPU)
    assert parsed == []  # both read the cache the first run wrote
    assert len(again.splits["val"][1]) == 5 and len(again.splits["traineval"][1]) == 15
    assert torch.equal(plain.splits["test"][0].float() / 255, again.splits["test"][0])
