"""RunLogger's TensorBoard output: the custom-scalars layout (the lab's 2x2 training plot) chosen from
the logged tags, and HParams metrics that are the run's own tags (no `hparams/*` copies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrun.run_logger import OTHER_METRICS, TRAINING, RunLogger, custom_scalars_layout

CLASSIFICATION = ["train/loss", "train/acc", "train/loss_step", "train/grad_norm", "lr", "time/epoch_s",
                  "val/loss", "val/acc", "val/f1"]
STEREO = ["train/loss", "train/patch_acc", "train/grad_norm", "lr", "val/loss", "val/patch_acc", "val/acc", "val/epe"]


def test_classification_layout_is_the_labs_2x2_plot() -> None:
    layout = custom_scalars_layout(CLASSIFICATION)
    assert list(layout) == [TRAINING, OTHER_METRICS]
    assert layout[TRAINING] == {
        "loss": ["Multiline", ["^train/loss$", "^val/loss$"]],
        "acc": ["Multiline", ["^train/acc$", "^val/acc$"]],
        "learning rate": ["Multiline", ["^lr$"]],
        "gradient norm": ["Multiline", ["^train/grad_norm$"]],
    }
    assert layout[OTHER_METRICS] == {"f1": ["Multiline", ["^train/f1$", "^val/f1$"]]}


def test_stereo_gets_its_own_main_metric_and_the_rest_below() -> None:
    """Stereo validates dense 3-px accuracy `acc` (no training counterpart) plus patch_acc and epe."""
    layout = custom_scalars_layout(STEREO)
    assert list(layout[TRAINING]) == ["loss", "acc", "learning rate", "gradient norm"]
    assert list(layout[OTHER_METRICS]) == ["patch_acc", "epe"]


def test_without_acc_the_main_metric_is_one_logged_for_both_splits() -> None:
    """A metric-learning run validating only recall@k: the first metric also trained on wins,
    else the first validated one; regex characters in names are escaped."""
    layout = custom_scalars_layout(["train/loss", "train/recall@1", "val/loss", "val/map", "val/recall@1"])
    assert list(layout[TRAINING]) == ["loss", "recall@1", "learning rate", "gradient norm"]
    assert list(layout[OTHER_METRICS]) == ["map"]
    only_val = custom_scalars_layout(["train/loss", "val/loss", "val/r2(x)"])
    assert only_val[TRAINING]["r2(x)"] == ["Multiline", ["^train/r2\\(x\\)$", "^val/r2\\(x\\)$"]]
    assert list(custom_scalars_layout(["train/loss", "val/loss"])) == [TRAINING]  # loss only: no second category


def read_events(run_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], list[str]]:
    """(scalar tag -> [(step, value)], custom-scalars layout category titles) of a run's event file."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    titles: list[str] = []
    if metadata.CONFIG_SUMMARY_TAG in acc.Tags()["tensors"]:
        (event,) = acc.Tensors(metadata.CONFIG_SUMMARY_TAG)
        layout = layout_pb2.Layout()
        layout.ParseFromString(event.tensor_proto.string_val[0])
        titles = [c.title for c in layout.category]
    return scalars, titles


def test_layout_written_at_first_validation_and_final_metrics_at_the_last_epoch(tmp_path: Path) -> None:
    run = tmp_path / "run"
    logger = RunLogger(run)
    logger.scalars({"train/loss": 1.0, "lr": 0.1}, 1)
    assert not logger._layout_written  # no validation yet: the main metric is unknown
    logger.scalars({"val/loss": 0.9, "val/acc": 0.5}, 1)
    assert logger._layout_written
    logger.scalars({"train/loss": 0.8, "val/loss": 0.7, "val/acc": 0.6}, 2)
    logger.hparams({"seed": 1}, {"val/loss": 0.7, "val/acc": 0.6, "test/acc": 0.55, "test/loss": float("nan")})
    logger.close()
    scalars, titles = read_events(run)
    assert titles == [TRAINING]
    assert not any(t.startswith("hparams/") for t in scalars)
    assert scalars["val/loss"] == [(1, pytest.approx(0.9)), (2, pytest.approx(0.7))]  # the curve, not duplicated
    assert scalars["test/acc"] == [(2, pytest.approx(0.55))]
    assert "test/loss" not in scalars  # not finite: not logged


def test_run_without_validation_gets_its_layout_with_hparams(tmp_path: Path) -> None:
    logger = RunLogger(tmp_path / "run")
    logger.scalars({"train/loss": 1.0}, 1)
    logger.hparams({"seed": 1}, {"test/acc": 0.5})
    logger.close()
    scalars, titles = read_events(tmp_path / "run")
    assert titles == [TRAINING] and scalars["test/acc"] == [(1, pytest.approx(0.5))]


def test_no_tensorboard_writes_nothing(tmp_path: Path) -> None:
    logger = RunLogger(tmp_path / "run", tensorboard=False)
    logger.scalars({"val/loss": 1.0}, 1)
    logger.hparams({"seed": 1}, {"test/acc": 0.5})
    logger.close()
    assert not (tmp_path / "run").exists()
