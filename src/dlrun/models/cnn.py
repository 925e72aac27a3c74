"""Configurable convolutional classifier: conv blocks (conv, batch norm, activation, pooling in a
chosen order), then fully connected layers. The course's lab-2 networks are presets of it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from dlrun.models.activations import make_activation
from dlrun.models.init import SCHEMES, initialize
from dlrun.models.memory_format import channels_last_input, use_channels_last

BLOCK_OPS = ("conv", "bn", "act", "pool")
POOLS = ("max", "avg", "none")
HEAD_POOLS = ("flatten", "avg", "max")
INITS = ("kaiming", *SCHEMES)  # kaiming: the lab-2 recipe (kaiming_init below); the rest: dlrun.models.init


def per_layer(value: int | Sequence[int], count: int, name: str) -> list[int]:
    """One int for every layer, or a list with one entry per layer."""
    if isinstance(value, int):
        return [value] * count
    values = [int(v) for v in value]
    if len(values) != count:
        raise ValueError(f"{name} lists {len(values)} values for {count} conv layers")
    return values


class CNN(nn.Module):
    """(N, C, H, W) -> logits. Each conv block applies the ops of `block` in order, e.g.
    [conv, pool, act] (lab 2 MNIST) or [conv, act, pool] (lab 2 CIFAR); `bn` is BatchNorm2d (the conv
    then has no bias). The head flattens (or pools globally), then fc hidden layers with the
    activation and dropout, then the logits layer. Layer names: features.conv1, classifier.fc1,
    classifier.logits (for regularizer include/exclude patterns)."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: Sequence[int],
        channels: Sequence[int] = (16, 32),
        kernel_size: int | Sequence[int] = 5,
        padding: int | Sequence[int] = 2,
        stride: int | Sequence[int] = 1,
        block: Sequence[str] = ("conv", "pool", "act"),
        pool_type: str = "max",
        pool_size: int = 2,
        pool_stride: int | None = None,
        head: str = "flatten",
        fc: Sequence[int] = (512,),
        activation: str = "relu",
        dropout: float = 0.0,
        init: str = "kaiming",
        channels_last: bool = False,
        init_fan: str | None = None,
        init_gain: float | None = None,
        bias_init: float | None = None,
        head_init: str = "same",
    ) -> None:
        super().__init__()
        block = list(block)
        if block.count("conv") != 1 or any(op not in BLOCK_OPS for op in block) or len(set(block)) != len(block):
            raise ValueError(f"block must hold 'conv' once and each of {', '.join(BLOCK_OPS[1:])} at most once, got {block}")
        if pool_type not in POOLS:
            raise ValueError(f"unknown pool_type '{pool_type}' (valid: {', '.join(POOLS)})")
        if head not in HEAD_POOLS:
            raise ValueError(f"unknown head '{head}' (valid: {', '.join(HEAD_POOLS)})")
        if init not in INITS:
            raise ValueError(f"unknown init '{init}' (valid: {', '.join(INITS)})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not channels or any(int(c) < 1 for c in channels) or any(int(f) < 1 for f in fc):
            raise ValueError(f"channels and fc must be positive sizes, got channels={list(channels)} fc={list(fc)}")
        make_activation(activation)  # validates the name
        count = len(channels)
        kernels = per_layer(kernel_size, count, "kernel_size")
        paddings = per_layer(padding, count, "padding")
        strides = per_layer(stride, count, "stride")
        features: OrderedDict[str, nn.Module] = OrderedDict()
        width = in_channels
        for i, (out, k, p, s) in enumerate(zip(channels, kernels, paddings, strides), start=1):
            for op in block:
                if op == "conv":
                    features[f"conv{i}"] = nn.Conv2d(width, int(out), k, stride=s, padding=p, bias="bn" not in block)
                elif op == "bn":
                    features[f"bn{i}"] = nn.BatchNorm2d(int(out))
                elif op == "act":
                    features[f"act{i}"] = make_activation(activation)
                elif pool_type != "none":
                    pool_cls = nn.MaxPool2d if pool_type == "max" else nn.AvgPool2d
                    features[f"pool{i}"] = pool_cls(pool_size, stride=pool_stride or pool_size)
            width = int(out)
        self.features = nn.Sequential(features)
        if head == "flatten":
            try:
                with torch.no_grad():
                    shape = self.features(torch.zeros(1, in_channels, *image_size)).shape
            except RuntimeError as err:
                raise ValueError(f"the conv blocks shrink a {list(image_size)} image to nothing ({str(err).splitlines()[0]})") from err
            if min(shape[2:]) < 1:
                raise ValueError(f"the conv blocks shrink a {list(image_size)} image to nothing")
            flat = int(shape[1] * shape[2] * shape[3])
            head_layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        else:
            flat = width
            pool = nn.AdaptiveAvgPool2d(1) if head == "avg" else nn.AdaptiveMaxPool2d(1)
            head_layers = OrderedDict(pool=pool, flatten=nn.Flatten())
        for j, size in enumerate(fc, start=1):
            if dropout > 0:
                head_layers[f"drop{j}"] = nn.Dropout(dropout)
            head_layers[f"fc{j}"] = nn.Linear(flat, int(size))
            head_layers[f"fc_act{j}"] = make_activation(activation)
            flat = int(size)
        if dropout > 0:
            head_layers["drop_logits"] = nn.Dropout(dropout)
        head_layers["logits"] = nn.Linear(flat, num_classes)
        self.classifier = nn.Sequential(head_layers)
        if init == "kaiming":
            kaiming_init(self)
        else:
            initialize(self, init, init_fan, init_gain, bias_init, head_init, activation, head=self.classifier.logits)
        self.channels_last = use_channels_last(self, channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(channels_last_input(x, self.channels_last)))


def kaiming_init(model: nn.Module) -> None:
    """Course lab 2: kaiming_normal_(fan_in, relu) for conv and hidden fc weights, zero biases; the
    logits layer keeps PyTorch's default init."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and not name.endswith("logits"):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
