"""The course's image-classification experiments: their settings, and end-to-end runs of dlrun train
and dlrun eval on tiny MNIST / CIFAR-10 files written in the real formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FAST, compose_config, job_dir, read_results, run_cli, train_in_process
from dlrun.build import build_data, build_model
from dlrun.regularizers.base import selected_weights
from image_files import write_cifar_folder, write_mnist

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    write_mnist(tmp_path / "data" / "MNIST" / "raw", n_train=60, n_test=30)
    return tmp_path / "data"


def tiny(data_dir: Path) -> list[str]:
    return [f"dataset.root={data_dir}", "dataset.download=false", "dataset.val_size=10"]


def test_lab2_mnist_settings_follow_the_course() -> None:
    cfg = compose_config(["experiment=lab2_mnist"])
    assert cfg.dataset._target_.endswith("MNIST") and cfg.dataset.val_split == "tail" and cfg.dataset.val_size == 5000
    assert cfg.dataset.normalize == "scalar" and cfg.dataset.batch_size == 50
    assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.lr == 0.1 and cfg.optimizer.momentum == 0
    assert dict(cfg.scheduler.scheduler["values"]) == {1: 0.1, 3: 0.01, 5: 0.001, 7: 0.0001}
    assert cfg.trainer.max_epochs == 8 and cfg.regularizer.weight == 1e-3
    model = build_model(cfg, build_data(cfg))
    chosen = selected_weights(model, cfg.regularizer.include, cfg.regularizer.exclude)
    by_id = {id(p): n for n, p in model.named_parameters()}
    assert sorted(by_id[id(p)] for p in chosen) == ["classifier.fc1.weight", "features.conv1.weight", "features.conv2.weight"]


def test_lab2_cifar_settings_follow_the_course() -> None:
    cfg = compose_config(["experiment=lab2_cifar"])
    assert cfg.dataset._target_.endswith("CIFAR10") and cfg.dataset.val_split == "random" and cfg.dataset.normalize == "channel"
    assert cfg.optimizer.lr == 0.01 and cfg.optimizer.weight_decay == 1e-4 and cfg.dataset.batch_size == 50
    assert cfg.scheduler.scheduler._target_.endswith("ExponentialLR") and cfg.scheduler.scheduler.gamma == 0.95 and cfg.trainer.max_epochs == 50


def test_l2_sweep_is_a_multirun_over_three_weights() -> None:
    from hydra import compose, initialize_config_dir

    from dlrun.paths import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["experiment=lab2_mnist_l2_sweep"], return_hydra_config=True)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params["regularizer.weight"] == "1e-3,1e-2,1e-1"
    assert cfg.trainer.max_epochs == 8 and cfg.model.channels == [16, 32]


@pytest.mark.parametrize("experiment", ["lab1_mnist_mlp", "lab2_mnist", "lab2_cifar", "fast_fmnist", "fast_fmnist92"])
def test_every_experiment_builds(experiment: str) -> None:
    from dlrun.build import check_buildable

    check_buildable(compose_config([f"experiment={experiment}"]))


def test_lab2_mnist_trains_and_writes_the_course_artifacts(mnist_dir: Path, train_run) -> None:
    code, run = train_run("experiment=lab2_mnist", *tiny(mnist_dir), "task.filters_every_n_steps=1")
    assert code == 0
    results = read_results(run)
    assert results["num_params"] == 821_706 and results["epochs_run"] == 2
    assert set(results["test"]) == {"test/loss", "test/acc", "test/f1"}
    for name in ["confusion_matrix.png", "per_class_metrics.png", "top_losses.png", "training_plot.png",
                 "filters/step_000000.png", "filters/step_000001.png", "filters/step_000002.png", "filters/final.png"]:
        assert (run / name).read_bytes()[:8] == PNG, name
    table = (run / "per_class_metrics.csv").read_text().splitlines()
    assert len(table) == 11 and sum(int(line.rsplit(",", 1)[1]) for line in table[1:]) == 30


def test_eval_writes_the_confusion_matrix_from_the_checkpoint_alone(mnist_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train_in_process([*FAST, "experiment=lab2_mnist", *tiny(mnist_dir)], run) == 0
    proc = run_cli(["eval", f"ckpt={run / 'checkpoints' / 'best.pt'}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (out,) = list((tmp_path / "outputs" / "eval").iterdir())
    assert (out / "confusion_matrix.png").read_bytes()[:8] == PNG
    assert (out / "top_losses.png").read_bytes()[:8] == PNG and (out / "per_class_metrics.csv").is_file()
    assert read_results(out)["test"] == pytest.approx(read_results(run)["test"])


def test_lab2_cifar_runs_on_the_python_batches(tmp_path: Path, train_run) -> None:
    write_cifar_folder(tmp_path / "data", per_batch=12)
    code, run = train_run("experiment=lab2_cifar", *tiny(tmp_path / "data"), "trainer.fast_dev_run=true")
    assert code == 0
    assert read_results(run)["num_params"] == 449_898
    assert (run / "top_losses.png").read_bytes()[:8] == PNG


def test_fast_fmnist_runs_with_amp_and_augmentation(mnist_dir: Path, train_run) -> None:
    (mnist_dir / "MNIST").rename(mnist_dir / "FashionMNIST")
    code, run = train_run("experiment=fast_fmnist", *tiny(mnist_dir), "dataset.search_dirs=[]", "dataset.augment.crop_padding=2",
                          "dataset.augment.hflip=true", "trainer.fast_dev_run=true")
    assert code == 0
    assert read_results(run)["status"] == "completed"


def test_fast_fmnist92_is_a_float32_3x3_recipe_with_flips_and_a_small_val_split() -> None:
    cfg = compose_config(["experiment=fast_fmnist92"])
    assert cfg.dataset._target_.endswith("FashionMNIST") and cfg.dataset.val_size == 1000 and cfg.dataset.batch_size == 128
    assert cfg.dataset.augment.hflip is True and cfg.dataset.augment.crop_padding == 0
    assert cfg.trainer.amp is False and cfg.trainer.max_epochs == 5 and cfg.scheduler.scheduler.max_lr == 0.3
    assert list(cfg.model.channels) == [16, 32] and cfg.model.kernel_size == 3 and cfg.model.padding == 1 and list(cfg.model.fc) == [256]


def test_fast_fmnist92_trains_end_to_end(mnist_dir: Path, train_run) -> None:
    (mnist_dir / "MNIST").rename(mnist_dir / "FashionMNIST")
    code, run = train_run("experiment=fast_fmnist92", *tiny(mnist_dir), "dataset.search_dirs=[]", "trainer.fast_dev_run=true")
    assert code == 0
    results = read_results(run)
    # conv1 3*3*1*16 + bn 2*16, conv2 3*3*16*32 + bn 2*32 (no conv biases), fc1 (32*7*7)*256 + 256, logits 256*10 + 10
    assert results["status"] == "completed" and results["num_params"] == 144 + 32 + 4608 + 64 + 1568 * 256 + 256 + 2570


@pytest.mark.slow
def test_l2_sweep_runs_three_jobs(mnist_dir: Path, tmp_path: Path) -> None:
    from dlrun.cli import main as dlrun_main

    sweep = tmp_path / "sweep"
    code = dlrun_main(["train", "experiment=lab2_mnist_l2_sweep", *tiny(mnist_dir), *FAST[1:], "trainer.fast_dev_run=true", f"hydra.sweep.dir={sweep}"])
    assert code == 0
    weights = sorted(json.loads((job_dir(sweep, job) / "results.json").read_text())["config"]["regularizer"]["weight"] for job in range(3))
    assert weights == [1e-3, 1e-2, 1e-1]


def test_missing_data_is_one_line_without_traceback(tmp_path: Path) -> None:
    proc = run_cli(["train", "experiment=lab2_mnist", f"dataset.root={tmp_path / 'none'}", "dataset.download=false", *FAST], cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "mnist: cannot find train-images-idx3-ubyte.gz" in line and str(tmp_path / "none" / "MNIST" / "raw") in line
