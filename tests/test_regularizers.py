"""Regularizers act on weights only (course: penalise weights, not biases)."""

from __future__ import annotations

import pytest
import torch

from dlrun.models.mlp import MLP
from dlrun.regularizers.l1 import L1Penalty
from dlrun.regularizers.l2 import L2Penalty
from dlrun.regularizers.max_norm import MaxNormProjection


def model() -> MLP:
    torch.manual_seed(0)
    net = MLP(in_features=3, num_classes=2, hidden=[4], batch_norm=True)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(2.0)
    return net


def test_l2_skips_biases_and_norm_parameters() -> None:
    net = model()  # weights: 4x3 and 2x4, all 2.0; BN gamma/beta and the output bias also 2.0
    penalty = L2Penalty(weight=0.1).penalty(net)
    assert penalty.item() == pytest.approx(0.5 * 0.1 * (12 + 8) * 4.0)


def test_l2_include_exclude_patterns() -> None:
    net = model()
    only_first = L2Penalty(weight=1.0, exclude=["net.4.*"]).penalty(net)  # net.4 = output layer
    assert only_first.item() == pytest.approx(0.5 * 12 * 4.0)


def test_l1_penalty() -> None:
    assert L1Penalty(weight=0.5).penalty(model()).item() == pytest.approx(0.5 * 20 * 2.0)


def test_l2_gradient_is_weight_decay() -> None:
    net = model()
    L2Penalty(weight=0.3).penalty(net).backward()
    assert torch.allclose(net.net[1].weight.grad, 0.3 * net.net[1].weight)
    assert net.net[4].bias.grad is None


def test_max_norm_projects_rows() -> None:
    net = model()
    MaxNormProjection(max_norm=1.0).after_step(net)
    rows = net.net[1].weight.norm(dim=1)
    assert torch.allclose(rows, torch.ones(4))
    assert torch.all(net.net[4].bias == 2.0)  # biases untouched
    small = MLP(in_features=2, num_classes=2, hidden=[2])
    with torch.no_grad():
        small.net[1].weight.fill_(0.1)
    MaxNormProjection(max_norm=1.0).after_step(small)
    assert torch.all(small.net[1].weight == 0.1)  # inside the ball: unchanged
