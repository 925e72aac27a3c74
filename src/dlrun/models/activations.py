"""Activation functions selectable by name in model configs."""

from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module; unknown names raise ValueError listing the valid ones."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}' (valid: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]()
