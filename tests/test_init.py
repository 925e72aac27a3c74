"""Weight initialisation schemes: the variance of a wide layer against each scheme's formula."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dlrun.models.cnn import CNN
from dlrun.models.init import initialize
from dlrun.models.logreg import LogReg
from dlrun.models.mlp import MLP

FAN_IN, FAN_OUT = 2000, 500


def hidden_weight(**options) -> torch.Tensor:
    torch.manual_seed(0)
    return MLP(FAN_IN, 10, hidden=[FAN_OUT], **options).net[1].weight.detach()


@pytest.mark.parametrize(("init", "fan", "expected_var"), [
    ("xavier_normal", None, 2 / (FAN_IN + FAN_OUT)),     # Glorot: N(0, 2/(n_in + n_out))
    ("xavier_uniform", None, 2 / (FAN_IN + FAN_OUT)),    # U(±sqrt(6/(n_in + n_out))) has the same variance
    ("kaiming_normal", None, 2 / FAN_IN),                # He, ReLU: N(0, 2/n_in)
    ("kaiming_uniform", None, 2 / FAN_IN),
    ("kaiming_normal", "out", 2 / FAN_OUT),
    ("kaiming_normal", "avg", 2 / ((FAN_IN + FAN_OUT) / 2)),
    ("xavier_normal", "in", 1 / FAN_IN),                 # the lecture's N(0, 1/n_in)
    ("trunc_normal", None, 2 / FAN_IN),
])
def test_variance_matches_the_formula(init: str, fan: str | None, expected_var: float) -> None:
    weight = hidden_weight(init=init, init_fan=fan)
    assert weight.var().item() == pytest.approx(expected_var, rel=0.02)
    assert weight.mean().item() == pytest.approx(0.0, abs=3 * math.sqrt(expected_var / weight.numel()) + 1e-7)


def test_uniform_and_truncated_bounds() -> None:
    assert hidden_weight(init="xavier_uniform").abs().max().item() <= math.sqrt(6 / (FAN_IN + FAN_OUT)) + 1e-7
    sigma = math.sqrt(2 / FAN_IN) / 0.8796256610342398
    weight = hidden_weight(init="trunc_normal")
    assert weight.abs().max().item() <= 2 * sigma + 1e-7
    assert weight.abs().max().item() > 1.9 * sigma  # the tails reach the cut


def test_gain_from_the_activation() -> None:
    assert hidden_weight(init="kaiming_normal", activation="tanh").var().item() == pytest.approx((5 / 3) ** 2 / FAN_IN, rel=0.02)
    assert hidden_weight(init="kaiming_normal", init_gain=1.0).var().item() == pytest.approx(1 / FAN_IN, rel=0.02)


def test_bias_constant_and_default_head() -> None:
    torch.manual_seed(0)
    model = MLP(FAN_IN, 1000, hidden=[FAN_OUT], init="kaiming_normal", bias_init=0.1, head_init="default")
    assert torch.all(model.net[1].bias == 0.1)
    head = model.net[-1]
    assert head.weight.var().item() == pytest.approx(1 / (3 * FAN_OUT), rel=0.02)  # PyTorch: U(±1/sqrt(n_in))
    assert not torch.all(head.bias == 0.1)
    same = MLP(FAN_IN, 1000, hidden=[FAN_OUT], init="kaiming_normal", bias_init=0.1).net[-1]
    assert same.weight.var().item() == pytest.approx(2 / FAN_OUT, rel=0.02) and torch.all(same.bias == 0.1)


def test_conv_fans_count_the_kernel() -> None:
    torch.manual_seed(0)
    model = CNN(64, 10, [8, 8], channels=[256], kernel_size=5, padding=2, fc=[], init="kaiming_normal")
    assert model.features.conv1.weight.var().item() == pytest.approx(2 / (64 * 25), rel=0.03)


def test_default_keeps_pytorch_init_and_unknown_names_fail() -> None:
    torch.manual_seed(0)
    plain = nn.Linear(FAN_IN, 3)
    torch.manual_seed(0)
    assert torch.equal(LogReg(FAN_IN, 3).linear.weight, plain.weight)
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        initialize(plain, "glorot")
    with pytest.raises(ValueError, match="unknown init_fan 'sideways'"):
        MLP(4, 2, init="xavier_normal", init_fan="sideways")


def test_layer_norm_replaces_batch_norm() -> None:
    model = MLP(4, 2, hidden=[8], layer_norm=True)
    assert any(isinstance(m, nn.LayerNorm) for m in model.modules()) and model.net[1].bias is None
    with pytest.raises(ValueError, match="batch_norm or layer_norm"):
        MLP(4, 2, batch_norm=True, layer_norm=True)
