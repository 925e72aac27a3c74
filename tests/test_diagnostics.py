"""The step-0 check: the first batch's loss next to ln C (course: a near-uniform softmax starts at ln C)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from conftest import train_in_process
from dlrun.diagnostics import expected_initial_loss, initial_loss_line
from dlrun.losses.bce_with_logits import BCEWithLogits
from dlrun.losses.cross_entropy import CrossEntropy
from dlrun.losses.hinge import MulticlassHingeLoss


class FakeTask:
    def __init__(self, loss: object, num_classes: int) -> None:
        self.loss, self.num_classes = loss, num_classes


def test_expected_loss_is_ln_c_for_softmax_and_ln_2_for_a_single_logit() -> None:
    assert expected_initial_loss(FakeTask(CrossEntropy(), 10)) == (pytest.approx(2.302585), 10)
    assert expected_initial_loss(FakeTask(CrossEntropy(label_smoothing=0.1), 3)) == (pytest.approx(1.098612), 3)
    assert expected_initial_loss(FakeTask(BCEWithLogits(), 2)) == (pytest.approx(0.693147), 2)
    assert expected_initial_loss(FakeTask(MulticlassHingeLoss(), 10)) is None  # no ln C for a hinge loss
    assert expected_initial_loss(object()) is None


def test_the_line_flags_a_loss_far_from_ln_c() -> None:
    assert initial_loss_line(2.35, math.log(10), 10) == "step 0: loss 2.3500  ln C 2.3026 (C = 10)"
    assert "far from ln C" in initial_loss_line(7.0, math.log(10), 10)
    assert "far from ln C" in initial_loss_line(0.5, math.log(10), 10)


def test_a_run_prints_its_step_0_loss_near_ln_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_in_process(["trainer.max_epochs=1", "trainer.progress_bar=false"], tmp_path / "run") == 0
    line = re.search(r"step 0: loss (\S+)  ln C (\S+) \(C = 3\)", capsys.readouterr().out)
    assert line is not None and float(line.group(2)) == pytest.approx(math.log(3), abs=1e-4)
    assert float(line.group(1)) == pytest.approx(math.log(3), abs=0.15)  # the default MLP starts near uniform


def test_more_class_scores_than_classes_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = train_in_process(["model.num_classes=7", "trainer.max_epochs=1", "trainer.progress_bar=false"], tmp_path / "run")
    assert code == 2
    assert "model: outputs 7 class scores but the dataset has 3 classes" in capsys.readouterr().err
