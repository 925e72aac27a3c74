"""Losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from dlrun.losses.bce_with_logits import BCEWithLogits
from dlrun.losses.hinge import MulticlassHingeLoss
from dlrun.losses.mse import MSEOnOneHot


def test_hinge_hand_computed() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0], [0.5, 0.0, -0.2]])
    targets = torch.tensor([2, 1, 0])
    # row 1: margins max(0, 1-3+1)=0, max(0, 2-3+1)=0            -> 0
    # row 2: max(0, 3-1+1)=3, max(0, 0-1+1)=0                     -> 3
    # row 3: max(0, 0-0.5+1)=0.5, max(0, -0.2-0.5+1)=0.3          -> 0.8
    assert MulticlassHingeLoss(delta=1.0)(logits, targets).item() == pytest.approx((0 + 3 + 0.8) / 3)
    # delta 0: only violations count: row 2 -> 2, others 0
    assert MulticlassHingeLoss(delta=0.0)(logits, targets).item() == pytest.approx(2 / 3)


def test_hinge_gradient_is_minus_count_on_true_class() -> None:
    logits = torch.tensor([[3.0, 1.0, 0.0]], requires_grad=True)
    MulticlassHingeLoss(1.0)(logits, torch.tensor([1])).backward()
    assert logits.grad.tolist() == [[1.0, -1.0, 0.0]]


def test_bce_one_hot_for_multiclass_and_float_for_single_logit() -> None:
    logits = torch.tensor([[0.0, 0.0]])
    assert BCEWithLogits()(logits, torch.tensor([1])).item() == pytest.approx(math.log(2))
    single = torch.tensor([2.0])
    expected = -math.log(1 / (1 + math.exp(-2.0)))
    assert BCEWithLogits()(single, torch.tensor([1])).item() == pytest.approx(expected)


def test_mse_on_probabilities() -> None:
    logits = torch.tensor([[0.0, 0.0]])  # softmax = [0.5, 0.5]; target one-hot [0, 1]
    assert MSEOnOneHot("probs")(logits, torch.tensor([1])).item() == pytest.approx(0.25)
    assert MSEOnOneHot("logits")(torch.tensor([[1.0, 3.0]]), torch.tensor([1])).item() == pytest.approx((1 + 4) / 2)


def test_label_smoothing_matches_course_targets() -> None:
    """Course: true class 1-(k-1)eps/k, others eps/k; CE against those targets."""
    eps, k = 0.1, 4
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0]])
    target = torch.tensor([0])
    q = torch.full((1, k), eps / k)
    q[0, 0] = 1 - (k - 1) * eps / k
    manual = -(q * logits.log_softmax(1)).sum()
    assert torch.nn.CrossEntropyLoss(label_smoothing=eps)(logits, target).item() == pytest.approx(manual.item())
