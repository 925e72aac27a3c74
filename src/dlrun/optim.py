"""Applies an optimizer factory to a model, with `optimizer.no_decay` parameter groups.

`no_decay: true` exempts biases and normalisation-layer parameters from weight decay, as
torchvision's classification reference does with `norm_weight_decay=0`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dlrun.errors import DlrunError

NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm, nn.LocalResponseNorm)


def no_decay_groups(model: nn.Module) -> list[dict[str, Any]]:
    """Two parameter groups: weights that decay, and biases / normalisation parameters / any 1-D
    parameter with weight_decay 0 (empty groups are left out; a shared parameter appears once)."""
    decay: list[nn.Parameter] = []
    exempt: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for param in module.parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            (exempt if isinstance(module, NORM_LAYERS) or param.dim() <= 1 else decay).append(param)
    groups: list[dict[str, Any]] = [{"params": decay}, {"params": exempt, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def build_optimizer(factory: Callable[..., torch.optim.Optimizer], model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer of `model`'s parameters; `factory` is the optimizer config's partial, whose
    `no_decay` key is taken out here so the torch optimizer never sees it."""
    no_decay = False
    if isinstance(factory, functools.partial) and "no_decay" in factory.keywords:
        keywords = dict(factory.keywords)
        no_decay = keywords.pop("no_decay")
        factory = functools.partial(factory.func, *factory.args, **keywords)
    if not isinstance(no_decay, bool):
        raise DlrunError(f"optimizer.no_decay: expected true or false, got {no_decay!r}")
    return factory(no_decay_groups(model) if no_decay else model.parameters())
