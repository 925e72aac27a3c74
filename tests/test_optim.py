"""optimizer.no_decay: biases and normalisation parameters in a weight_decay 0 parameter group."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from conftest import compose_config
from dlrun.errors import DlrunError
from dlrun.optim import build_optimizer


def tiny() -> nn.Sequential:
    # conv weight (4, 1, 3, 3) and bias (4,); BatchNorm weight/bias (4,); LayerNorm over (4, 2, 2):
    # 2-D weight and bias that are exempt because of the layer; linear weight (3, 16), bias (3,).
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.LayerNorm([4, 2, 2]), nn.Flatten(), nn.Linear(16, 3))


def by_decay(optimizer: torch.optim.Optimizer) -> dict[float, set[int]]:
    return {g["weight_decay"]: {id(p) for p in g["params"]} for g in optimizer.param_groups}


def test_no_decay_groups_exempt_biases_and_norms() -> None:
    model = tiny()
    conv, bn, ln, _, lin = model
    optimizer = build_optimizer(functools.partial(torch.optim.SGD, lr=0.1, weight_decay=0.5, no_decay=True), model)
    groups = by_decay(optimizer)
    assert groups == {0.5: {id(conv.weight), id(lin.weight)},
                      0.0: {id(conv.bias), id(bn.weight), id(bn.bias), id(ln.weight), id(ln.bias), id(lin.bias)}}
    assert "no_decay" not in optimizer.defaults


def test_no_decay_false_is_one_group() -> None:
    model = tiny()
    optimizer = build_optimizer(functools.partial(torch.optim.SGD, lr=0.1, weight_decay=0.5, no_decay=False), model)
    assert len(optimizer.param_groups) == 1 and optimizer.param_groups[0]["weight_decay"] == 0.5
    assert len(optimizer.param_groups[0]["params"]) == len(list(model.parameters())) == 8


def test_exempt_parameters_do_not_decay() -> None:
    """With zero gradients, one AdamW step shrinks only the decaying weights, by the factor 1 - lr * wd."""
    model = nn.Linear(2, 2)
    weight, bias = model.weight.detach().clone(), model.bias.detach().clone()
    optimizer = build_optimizer(functools.partial(torch.optim.AdamW, lr=0.1, weight_decay=0.5, no_decay=True), model)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    assert torch.allclose(model.weight, weight * (1 - 0.1 * 0.5)) and torch.equal(model.bias, bias)


def test_no_decay_from_config() -> None:
    from dlrun.build import build_optimizer as build_from_config

    for option in ("sgd", "adam", "adamw", "rmsprop", "adagrad"):
        cfg = compose_config([f"optimizer={option}", "optimizer.weight_decay=0.25", "optimizer.no_decay=true"])
        optimizer = build_from_config(cfg, tiny())
        assert [g["weight_decay"] for g in optimizer.param_groups] == [0.25, 0.0], option
    cfg = compose_config(["optimizer=sgd", "optimizer.no_decay=3"])
    with pytest.raises(DlrunError, match="optimizer.no_decay: expected true or false, got 3"):
        build_from_config(cfg, tiny())
