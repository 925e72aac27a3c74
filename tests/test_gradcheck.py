"""dlrun gradcheck: autograd vs central differences in float64 (course lab 2's bar, 1e-5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlrun.gradcheck import check_gradients, relative_error


def test_relative_error_hand_computed() -> None:
    assert relative_error(2.0, 1.0) == 0.5
    assert relative_error(-1.0, 1.0) == 2.0
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(1e-3, 1e-3) == 0.0


class DoubledBackward(torch.autograd.Function):
    """y = x with a wrong backward (twice the gradient): the check must catch it."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        return 2 * grad


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return DoubledBackward.apply(self.linear(x))


def test_a_wrong_backward_is_caught_and_a_right_one_passes() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    broken = Broken()
    report = check_gradients(broken, lambda: nn.functional.cross_entropy(broken(x), y), entries=3, eps=1e-6)
    assert [row[0] for row in report] == ["linear.weight", "linear.bias"]
    assert all(row[2] == pytest.approx(0.5, rel=1e-4) for row in report)  # |2g - g| / |2g|
    fine = nn.Linear(3, 2).double()
    report = check_gradients(fine, lambda: nn.functional.cross_entropy(fine(x), y), entries=3, eps=1e-6)
    assert max(row[2] for row in report) < 1e-7


def test_cli_on_the_default_run_and_its_bar(capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    assert main(["gradcheck", "entries=3"]) == 0
    out = capsys.readouterr().out
    assert "net.1.weight" in out and out.strip().endswith("bar 1e-05: ok")
    assert main(["gradcheck", "tolerance=0"]) == 1  # nothing is exact: the bar is enforced
    assert capsys.readouterr().out.strip().endswith("FAILED")
