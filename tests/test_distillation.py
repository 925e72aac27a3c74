"""Knowledge distillation (loss=distillation): the soft term by hand, Hinton's gradient τ(q − p)/B, the
hard term alone without inputs, and a teacher checkpoint distilled into a smaller student."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import read_results, train_in_process
from dlrun.losses.distillation import Distillation


def with_teacher(teacher: nn.Module, **options: float) -> Distillation:
    loss = Distillation("unused.pt", **options)
    loss._teacher = [teacher]
    return loss


def test_soft_term_by_hand() -> None:
    loss = Distillation("unused.pt", temperature=2.0)
    student = torch.zeros(1, 2)  # q = (1/2, 1/2) at any temperature
    teacher = torch.tensor([[2 * math.log(3), 0.0]])  # / tau = (ln 3, 0): p = (3/4, 1/4)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert loss.soft_term(student, teacher).item() == pytest.approx(4 * kl, rel=1e-5)  # tau^2 * KL(p || q)


def test_soft_gradient_is_tau_times_q_minus_p_over_the_batch() -> None:
    torch.manual_seed(0)
    tau, batch = 3.0, 5
    student = torch.randn(batch, 4, requires_grad=True)
    teacher = torch.randn(batch, 4)
    Distillation("unused.pt", temperature=tau).soft_term(student, teacher).backward()
    expected = tau * (F.softmax(student.detach() / tau, 1) - F.softmax(teacher / tau, 1)) / batch
    assert torch.allclose(student.grad, expected, atol=1e-6)


def test_hard_plus_weighted_soft_and_hard_alone_without_inputs() -> None:
    torch.manual_seed(0)
    teacher = nn.Linear(3, 4)
    x, y = torch.randn(6, 3), torch.randint(0, 4, (6,))
    logits = torch.randn(6, 4)
    loss = with_teacher(teacher, temperature=2.0, soft_weight=0.5)
    hard = F.cross_entropy(logits, y)
    assert loss(logits, y).item() == pytest.approx(hard.item())  # validation / test: the hard term only
    soft = loss.soft_term(logits, teacher(x).detach())
    assert loss(logits, y, x).item() == pytest.approx((hard + 0.5 * soft).item(), rel=1e-6)
    assert all(p.grad is None for p in teacher.parameters())


def test_a_teacher_checkpoint_is_distilled_into_a_student(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short = ["trainer.max_epochs=1", "trainer.progress_bar=false"]
    assert train_in_process(["model.hidden=[32,32]", *short], tmp_path / "teacher") == 0
    teacher = tmp_path / "teacher" / "checkpoints" / "best.pt"
    student = ["loss=distillation", f"loss.teacher_ckpt={teacher}", "model.hidden=[8]", *short]
    assert train_in_process(student, tmp_path / "student") == 0
    assert train_in_process(["model.hidden=[8]", *short], tmp_path / "plain") == 0
    distilled, plain = read_results(tmp_path / "student"), read_results(tmp_path / "plain")
    assert distilled["final"]["train/loss"] != plain["final"]["train/loss"]  # the soft term was in training
    assert set(distilled["test"]) == set(plain["test"])
    assert train_in_process(["loss=distillation", *short], tmp_path / "none") != 0
    assert "loss.teacher_ckpt must name a checkpoint" in capsys.readouterr().err
