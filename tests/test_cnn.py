"""The CNN and ResNetSmall models: the course presets' shapes and parameter counts (counted by hand),
block orders, initialization and argument checks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from conftest import compose_config
from dlrun.build import build_data, build_model
from dlrun.models.cnn import CNN
from dlrun.models.resnet import ResNetSmall


def preset(model: str, dataset: str) -> nn.Module:
    cfg = compose_config([f"model={model}", f"dataset={dataset}"])
    return build_model(cfg, build_data(cfg))


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_lab2_mnist_preset() -> None:
    model = preset("cnn_mnist_lab2", "mnist")
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    # conv1 16*1*25+16, conv2 32*16*25+32, fc1 (32*7*7)*512+512, logits 512*10+10
    assert count(model) == 416 + 12832 + 1568 * 512 + 512 + 5130
    ops = [type(m).__name__ for m in model.features]
    assert ops == ["Conv2d", "MaxPool2d", "ReLU", "Conv2d", "MaxPool2d", "ReLU"]


def test_lab2_cifar_preset() -> None:
    model = preset("cnn_cifar_lab2", "cifar10")
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # 32 -> pool(3, 2) -> 15 -> pool(3, 2) -> 7: fc1 sees 32*7*7 = 1568 inputs
    assert model.classifier.fc1.in_features == 1568
    assert count(model) == (16 * 3 * 25 + 16) + (32 * 16 * 25 + 32) + (1568 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10)
    ops = [type(m).__name__ for m in model.features]
    assert ops == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d"]


def test_mlp_mnist_preset() -> None:
    model = preset("mlp_mnist", "mnist")
    assert model(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    assert count(model) == 784 * 100 + 100 + 100 * 10 + 10


def test_resnet_small_preset() -> None:
    model = preset("resnet_small", "cifar10")
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    conv_bn = lambda i, o: i * o * 9 + 2 * o  # noqa: E731  3x3 conv without bias + BN scale/shift
    expected = conv_bn(3, 64) + conv_bn(64, 128) + 2 * conv_bn(128, 128) + conv_bn(128, 256) + conv_bn(256, 512) + 2 * conv_bn(512, 512) + 512 * 10
    assert count(model) == expected == 6_573_120


def test_batch_norm_block_drops_conv_bias() -> None:
    model = CNN(1, 10, [28, 28], block=["conv", "bn", "act", "pool"])
    assert model.features.conv1.bias is None and isinstance(model.features.bn1, nn.BatchNorm2d)


def test_global_pool_head_and_dropout() -> None:
    model = CNN(3, 5, [32, 32], channels=[8, 16, 24], kernel_size=3, padding=1, head="avg", fc=[12], dropout=0.5)
    assert model.classifier.fc1.in_features == 24
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 2


def test_kaiming_init_as_in_the_course() -> None:
    torch.manual_seed(0)
    model = CNN(1, 10, [28, 28], channels=[64, 64], fc=[512])
    conv2 = model.features.conv2.weight
    assert conv2.std().item() == pytest.approx(math.sqrt(2 / (64 * 25)), rel=0.05)  # fan_in = 64*5*5
    assert model.features.conv2.bias.abs().sum().item() == 0
    fc1 = model.classifier.fc1.weight
    assert fc1.std().item() == pytest.approx(math.sqrt(2 / fc1.shape[1]), rel=0.05)
    logits = model.classifier.logits.weight  # PyTorch default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert logits.abs().max().item() <= 1 / math.sqrt(512) + 1e-6


def test_channels_last_gives_the_same_outputs() -> None:
    torch.manual_seed(0)
    plain = CNN(3, 10, [16, 16], kernel_size=3, padding=1)
    fast = CNN(3, 10, [16, 16], kernel_size=3, padding=1, channels_last=True)
    fast.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 16, 16)
    assert torch.allclose(plain(x), fast(x), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"block": ["pool", "act"]}, "block must hold 'conv' once"),
        ({"block": ["conv", "act", "act"]}, "block must hold 'conv' once"),
        ({"pool_type": "median"}, "unknown pool_type 'median'"),
        ({"kernel_size": [5, 5, 5]}, "kernel_size lists 3 values for 2 conv layers"),
        ({"channels": [16, 32, 64, 128, 256], "padding": 0}, "shrink a \\[28, 28\\] image to nothing"),
        ({"activation": "swishy"}, "unknown activation 'swishy'"),
        ({"dropout": 1.0}, "dropout must be in"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, RuntimeError), match=message):
        CNN(1, 10, [28, 28], **kwargs)


def test_resnet_bad_arguments() -> None:
    with pytest.raises(ValueError, match="residual needs one flag per stage"):
        ResNetSmall(3, 10, widths=[16, 32], residual=[True, False])
