"""Per-class loss weights from YAML lists, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from dlrun.errors import DlrunError
from dlrun.losses.bce_with_logits import BCEWithLogits
from dlrun.losses.cross_entropy import CrossEntropy
from dlrun.losses.hinge import MulticlassHingeLoss


def test_weighted_cross_entropy_hand_computed() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([0, 1])
    l0, l1 = math.log(1 + math.exp(-2)), math.log(1 + math.exp(-1))
    assert CrossEntropy(weight=[1, 3])(logits, targets).item() == pytest.approx((1 * l0 + 3 * l1) / 4)
    assert CrossEntropy()(logits, targets).item() == pytest.approx((l0 + l1) / 2)


def test_weighted_hinge_hand_computed() -> None:
    logits = torch.tensor([[1.0, 0.5, 0.0], [0.0, 2.0, 3.0]])
    targets = torch.tensor([0, 1])
    # row 1: max(0, .5-1+1)=.5, max(0, 0-1+1)=0 -> .5;  row 2: max(0, 0-2+1)=0, max(0, 3-2+1)=2 -> 2
    assert MulticlassHingeLoss(1.0, weight=[1, 3, 1])(logits, targets).item() == pytest.approx((1 * 0.5 + 3 * 2) / 4)


def test_bce_pos_weight_scales_the_positive_term() -> None:
    loss = BCEWithLogits(pos_weight=[3.0])(torch.tensor([[0.0], [0.0]]), torch.tensor([1, 0]))
    assert loss.item() == pytest.approx((3 * math.log(2) + math.log(2)) / 2)


def test_wrong_length_names_the_class_count() -> None:
    with pytest.raises(DlrunError, match=r"loss.weight lists 2 weights but the model outputs 3 classes"):
        CrossEntropy(weight=[1, 2])(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="weights >= 0"):
        CrossEntropy(weight=[1, -2])


def test_class_weights_from_the_command_line(train_run) -> None:
    code, _ = train_run("loss.weight=[1,2,1]")
    assert code == 0


@pytest.mark.fault("loss.weight with the wrong number of classes", "one-line error naming the class count")
def test_wrong_length_from_the_command_line(train_run, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = train_run("loss.weight=[1,2]")
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.endswith("loss.weight lists 2 weights but the model outputs 3 classes; give one weight per class (3)")
    assert len(err.splitlines()) == 1
