"""Classification task additions: per-class precision/recall, the top-loss tracker, the filter grid,
and the figures written as valid PNG files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dlrun.plots.filters import filter_grid, first_conv
from dlrun.run_logger import RunLogger
from dlrun.tasks.classification import ClassificationTask, TopLosses, per_class_metrics

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path: Path) -> bool:
    from PIL import Image

    if path.read_bytes()[:8] != PNG:
        return False
    with Image.open(path) as image:
        image.verify()
    return True


def test_per_class_metrics_by_hand() -> None:
    # rows = true class, columns = predicted class
    confusion = torch.tensor([[5, 1, 0], [2, 3, 0], [0, 0, 0]])
    rows = per_class_metrics(confusion, ["a", "b", "c"])
    assert rows[0] == {"class": "a", "precision": 5 / 7, "recall": 5 / 6, "f1": pytest.approx(2 * (5 / 7) * (5 / 6) / (5 / 7 + 5 / 6)), "support": 6}
    assert rows[1]["precision"] == pytest.approx(3 / 4) and rows[1]["recall"] == pytest.approx(3 / 5)
    assert rows[2] == {"class": "c", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}  # never seen, never predicted


def test_top_losses_match_a_brute_force_ranking() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 1, 4, 4, generator=gen)
    logits = torch.randn(50, 5, generator=gen) * 3
    y = torch.randint(0, 5, (50,), generator=gen)
    tracker = TopLosses(7)
    for start in range(0, 50, 8):  # batches of 8, the last one of 2
        tracker.update(x[start : start + 8], logits[start : start + 8], y[start : start + 8])
    losses = nn.functional.cross_entropy(logits, y, reduction="none")
    expected = losses.argsort(descending=True)[:7]
    assert torch.allclose(tracker.losses, losses[expected])
    assert torch.equal(tracker.inputs, x[expected]) and torch.equal(tracker.targets, y[expected])
    assert torch.allclose(tracker.probs, logits[expected].softmax(1))


def test_filter_grid_layout_and_global_min_max() -> None:
    weight = torch.zeros(10, 1, 3, 3)
    weight[0] = -2.0
    weight[9] = 6.0
    grid = filter_grid(weight, columns=4, border=1, tile=9)  # 3x3 filters enlarged 3x to 9x9 tiles
    assert grid.shape == (3 * 10 + 1, 4 * 10 + 1, 3) and grid.dtype == np.uint8
    assert (grid[1:10, 1:10] == 0).all()  # filter 0 is the global minimum: black
    assert (grid[21:30, 11:20] == 255).all()  # filter 9 (row 2, column 1) is the maximum: white
    assert (grid[1:10, 11:20] == round(255 * 2 / 8)).all()  # zeros sit at (0 - -2) / 8 of the range
    assert (grid[0] == 255).all()  # white border


def test_rgb_filters_are_coloured_tiles() -> None:
    weight = torch.zeros(2, 3, 5, 5)
    weight[0, 0] = 1.0  # filter 0: pure red
    grid = filter_grid(weight, tile=5)
    assert grid[3, 3].tolist() == [255, 0, 0] and grid[3, 9].tolist() == [0, 0, 0]


def test_first_conv_is_found_or_none() -> None:
    assert first_conv(nn.Sequential(nn.Linear(2, 2))) is None
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3))
    assert first_conv(model) is model[0]


def test_artifacts_are_valid_pngs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))

    class Data:
        meta = {"num_classes": 3, "class_names": ["x", "y", "z"], "mean": [0.5], "std": [0.25]}

    task = ClassificationTask(nn.CrossEntropyLoss(), top_losses=5, filters_every_n_steps=2)
    task.setup(Data(), torch.device("cpu"))
    logger = RunLogger(tmp_path)
    for step in range(4):
        task.on_train_step(model, step, logger)
    history = [{"epoch": e, "train/loss": 1 / e, "val/loss": 1.2 / e, "train/acc": 0.5, "val/acc": 0.4, "lr": 0.1, "time/epoch_s": 1.0} for e in (1, 2)]
    task.on_epoch_end(model, 2, history, logger)
    batches = [(torch.randn(6, 1, 6, 6), torch.tensor([0, 1, 2, 0, 1, 2])) for _ in range(2)]
    with torch.no_grad():
        metrics = task.evaluate(model, batches, "test")
    assert set(metrics) == {"loss", "acc", "f1"} and not math.isnan(metrics["loss"])
    task.write_artifacts(model, Data(), tmp_path, logger)
    logger.close()
    for name in ["confusion_matrix.png", "per_class_metrics.png", "top_losses.png", "training_plot.png",
                 "filters/step_000000.png", "filters/step_000002.png", "filters/final.png"]:
        assert is_png(tmp_path / name), name
    assert not (tmp_path / "filters" / "step_000001.png").exists()
    csv_lines = (tmp_path / "per_class_metrics.csv").read_text().splitlines()
    assert csv_lines[0] == "class,precision,recall,f1,support" and len(csv_lines) == 4
    assert sum(int(line.split(",")[-1]) for line in csv_lines[1:]) == 12
