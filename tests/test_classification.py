"""ClassificationTask: batch convention (inputs..., labels) and the F1 metric."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlrun.losses.bce_with_logits import BCEWithLogits
from dlrun.tasks.classification import ClassificationTask, f1_score, split_batch


def test_binary_f1_is_the_f1_of_class_1() -> None:
    # rows = true class. class 1: TP 30, FN 10, FP 5 -> precision 30/35, recall 30/40, F1 = 2TP/(2TP+FP+FN) = 60/75
    confusion = torch.tensor([[55, 5], [10, 30]])
    assert f1_score(confusion) == pytest.approx(60 / 75)


def test_multiclass_f1_is_the_macro_mean() -> None:
    confusion = torch.tensor([[5, 1, 0], [2, 3, 1], [0, 0, 0]])  # class 2 never true nor predicted: F1 0
    f1_0, f1_1 = 2 * 5 / (7 + 6), 2 * 3 / (4 + 6)
    assert f1_score(confusion) == pytest.approx((f1_0 + f1_1 + 0.0) / 3)


def test_split_batch_takes_the_labels_last() -> None:
    x, lengths, y = torch.zeros(2, 3), torch.tensor([3, 1]), torch.tensor([0, 1])
    inputs, labels = split_batch((x, lengths, y))
    assert inputs[0] is x and inputs[1] is lengths and labels is y
    assert split_batch((x, y))[0] == (x,)


class _SumOverLength(nn.Module):
    """logit = sum of the first `length` values minus 1: a two-input model with a known output."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(x.shape[1]) < lengths.unsqueeze(1)
        return ((x * mask).sum(1) - 1).unsqueeze(1)


def test_evaluate_passes_every_input_to_the_model_and_reports_f1() -> None:
    task = ClassificationTask(BCEWithLogits())
    x = torch.tensor([[2.0, 5.0], [0.0, 9.0], [3.0, 0.0], [0.5, 0.0]])
    lengths = torch.tensor([1, 1, 2, 2])
    y = torch.tensor([1, 0, 0, 1])  # logits 1, -1, 2, -0.5 -> predictions 1, 0, 1, 0
    metrics = task.evaluate(_SumOverLength(), [(x, lengths, y)], "val")
    assert metrics["acc"] == 0.5
    assert metrics["f1"] == pytest.approx(0.5)  # class 1: TP 1, FP 1, FN 1
    assert task.confusion["val"].tolist() == [[1, 1], [1, 1]]
    loss, stats = task.training_step(_SumOverLength(), (x, lengths, y))
    assert stats["acc"].item() == 0.5 and loss.item() == pytest.approx(metrics["loss"])
