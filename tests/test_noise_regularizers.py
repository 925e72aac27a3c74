"""Noise regularizers, the batch affine augmentation and several regularizers at once, against the
formulas (noise variance, flip rate, gradient at the noisy weights, summed penalties) and exact warps."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from conftest import compose_config, read_results, train_in_process
from dlrun.errors import DlrunError
from dlrun.regularizers.affine import AffineAugment, affine_batch
from dlrun.regularizers.combined import Combined
from dlrun.regularizers.l1 import L1Penalty
from dlrun.regularizers.l2 import L2Penalty
from dlrun.regularizers.max_norm import MaxNormProjection
from dlrun.regularizers.noise import InputNoise, LabelNoise, WeightNoise


def test_input_noise_has_the_configured_variance_and_leaves_labels() -> None:
    torch.manual_seed(0)
    x, y = torch.zeros(200, 500), torch.arange(200)
    noisy, labels = InputNoise(std=0.3).before_forward(nn.Identity(), (x, y))
    assert noisy.var().item() == pytest.approx(0.09, rel=0.02) and noisy.mean().item() == pytest.approx(0, abs=3 * 0.3 / 316)
    assert labels is y and torch.equal(x, torch.zeros(200, 500))  # the loader's tensor is not modified
    with pytest.raises(DlrunError, match="must be a float tensor"):
        InputNoise().before_forward(nn.Identity(), (torch.ones(2, 3, dtype=torch.long), y))


def test_weight_noise_gradient_is_taken_at_the_noisy_weights_and_applied_to_the_clean_ones() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(400, 1, bias=False)
    clean = layer.weight.detach().clone()
    reg = WeightNoise(std=0.5)
    x = torch.randn(1, 400)
    reg.before_forward(layer, (x, None))
    noisy = layer.weight.detach().clone()
    assert (noisy - clean).var().item() == pytest.approx(0.25, rel=0.2)  # N(0, std^2) on each weight
    loss = 0.5 * layer(x).pow(2).sum()  # dL/dw = (w x) x
    loss.backward()
    reg.after_backward(layer)
    assert torch.equal(layer.weight.detach(), clean)  # the clean weights are back, bit for bit
    assert torch.allclose(layer.weight.grad, (noisy @ x.T) * x, atol=1e-5)  # the gradient at w + eps
    torch.optim.SGD(layer.parameters(), lr=0.1).step()
    assert torch.allclose(layer.weight.detach(), clean - 0.1 * (noisy @ x.T) * x, atol=1e-6)


def test_weight_noise_skips_biases() -> None:
    layer = nn.Linear(3, 2)
    bias = layer.bias.detach().clone()
    WeightNoise(std=1.0).before_forward(layer, (torch.zeros(1, 3), None))
    assert torch.equal(layer.bias.detach(), bias)


def test_label_noise_flips_at_the_rate_to_the_other_classes_uniformly() -> None:
    torch.manual_seed(0)
    reg = LabelNoise(flip_rate=0.3)
    reg.setup({"num_classes": 4})
    y = torch.zeros(200_000, dtype=torch.long)
    x, noisy = reg.before_forward(nn.Identity(), (torch.zeros(1), y))
    counts = torch.bincount(noisy, minlength=4).float() / len(y)
    assert counts[0].item() == pytest.approx(0.7, abs=0.005)  # kept with probability 1 - p
    assert counts[1:].tolist() == pytest.approx([0.1, 0.1, 0.1], abs=0.005)  # p / (C - 1) to each other class


def test_label_noise_needs_classes() -> None:
    with pytest.raises(DlrunError, match="no num_classes"):
        LabelNoise().setup({})
    with pytest.raises(ValueError, match="flip_rate"):
        LabelNoise(flip_rate=1.5)


def test_combined_penalties_add_up_and_projections_apply() -> None:
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0], [0.0, -1.0]]))
    reg = Combined({"l2": L2Penalty(0.1), "l1": L1Penalty(0.01), "max_norm": MaxNormProjection(2.5)})
    # 0.1 * 1/2 * (9 + 16 + 1) + 0.01 * (3 + 4 + 1) = 1.3 + 0.08
    assert reg.penalty(layer).item() == pytest.approx(1.38)
    reg.after_step(layer)
    assert layer.weight.detach()[0].tolist() == pytest.approx([1.5, 2.0])  # row norm 5 -> 2.5
    assert layer.weight.detach()[1].tolist() == pytest.approx([0.0, -1.0])
    assert Combined({}).penalty(layer) is None
    with pytest.raises(ValueError, match="not regularizers"):
        Combined({"l2": {"weight": 0.1}})


def test_combined_composes_from_the_group_and_passes_batches_in_order() -> None:
    cfg = compose_config(["regularizer=combined", "~regularizer.regularizers.max_norm",
                          "+regularizer@regularizer.regularizers.noise=input_noise", "regularizer.regularizers.noise.std=0.0"])
    reg = instantiate(cfg.regularizer, _convert_="all")
    assert list(reg.regularizers) == ["l2", "noise"]
    assert isinstance(reg.regularizers["l2"], L2Penalty) and isinstance(reg.regularizers["noise"], InputNoise)
    x = torch.ones(2, 3)
    assert torch.equal(reg.before_forward(nn.Identity(), (x, torch.zeros(2)))[0], x)  # std 0: unchanged


def test_affine_warps_exactly() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    one, zero, no_shift = torch.ones(1), torch.zeros(1), torch.zeros(1, 2)
    assert torch.allclose(affine_batch(x, torch.tensor([90.0]), one, no_shift), torch.rot90(x, -1, (2, 3)), atol=1e-4)  # clockwise
    assert torch.allclose(affine_batch(x, zero, one, no_shift), x, atol=1e-5)
    right = affine_batch(x, zero, one, torch.tensor([[0.25, 0.0]]))  # a quarter of the width = 1 pixel
    assert torch.allclose(right[..., 1:], x[..., :-1], atol=1e-4) and right[..., 0].abs().max() < 1e-5
    wide = torch.arange(12.0).view(1, 1, 3, 4)
    assert torch.allclose(affine_batch(wide, torch.tensor([180.0]), one, no_shift), wide.flip(2, 3), atol=1e-4)
    down = affine_batch(wide, zero, one, torch.tensor([[0.0, 1 / 3]]))  # a third of the height = 1 row
    assert torch.allclose(down[:, :, 1:], wide[:, :, :-1], atol=1e-4)
    zoom = affine_batch(torch.ones(1, 1, 8, 8), zero, torch.tensor([0.5]), no_shift)  # shrink to half: a 4x4 core
    assert zoom[0, 0, 2:6, 2:6].min() > 0.99 and zoom[0, 0, 0].abs().max() < 1e-5


def test_affine_augment_draws_per_image_and_checks_its_input() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 3, 8, 8)
    out, y = AffineAugment(degrees=0, scale=[1, 1], translate=0).before_forward(nn.Identity(), (x, torch.zeros(64)))
    assert torch.allclose(out, x, atol=1e-5)  # all ranges off: the identity
    moved = AffineAugment(degrees=30, scale=[0.8, 1.2], translate=0.2).before_forward(nn.Identity(), (x, y))[0]
    changed = (moved - x).flatten(1).abs().amax(1)
    assert bool((changed > 1e-3).all()) and len(set(changed.tolist())) > 60  # every image its own draw
    with pytest.raises(DlrunError, match="needs image batches"):
        AffineAugment().before_forward(nn.Identity(), (torch.zeros(4, 2), y))
    with pytest.raises(ValueError, match="scale"):
        AffineAugment(scale=[1.2, 0.8])


SHORT = ["trainer.max_epochs=1", "trainer.progress_bar=false"]


def test_noise_reaches_training_and_std_zero_changes_nothing(tmp_path: Path) -> None:
    runs = {"none": [], "zero": ["regularizer=weight_noise", "regularizer.std=0.0"],
            "noisy": ["regularizer=combined", "~regularizer.regularizers.max_norm",
                      "+regularizer@regularizer.regularizers.weights=weight_noise", "regularizer.regularizers.weights.std=0.3",
                      "+regularizer@regularizer.regularizers.inputs=input_noise",
                      "+regularizer@regularizer.regularizers.labels=label_noise"]}
    loss = {}
    for name, overrides in runs.items():
        assert train_in_process([*overrides, *SHORT], tmp_path / name) == 0
        loss[name] = read_results(tmp_path / name)["final"]["train/loss"]
    assert loss["zero"] == loss["none"] and math.isfinite(loss["noisy"]) and loss["noisy"] != loss["none"]


def test_weight_selection_follows_a_new_model() -> None:
    reg = L2Penalty(1.0)
    for value in (1.0, 2.0, 3.0):  # each model freed before the next is built: ids may repeat
        layer = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            layer.weight.fill_(value)
        assert reg.penalty(layer).item() == pytest.approx(0.5 * 2 * value**2)
        del layer


def test_a_resumed_run_draws_the_same_noise(tmp_path: Path) -> None:
    noisy = ["regularizer=combined", "~regularizer.regularizers.max_norm",
             "+regularizer@regularizer.regularizers.inputs=input_noise", "+regularizer@regularizer.regularizers.weights=weight_noise",
             "+regularizer@regularizer.regularizers.labels=label_noise", "trainer.progress_bar=false"]
    assert train_in_process([*noisy, "trainer.max_epochs=2"], tmp_path / "whole") == 0
    assert train_in_process([*noisy, "trainer.max_epochs=1"], tmp_path / "half") == 0
    resume = f"ckpt_path={tmp_path / 'half' / 'checkpoints' / 'last.pt'}"
    assert train_in_process([*noisy, "trainer.max_epochs=2", resume], tmp_path / "resumed") == 0
    whole, resumed = read_results(tmp_path / "whole"), read_results(tmp_path / "resumed")
    assert resumed["final"]["train/loss"] == whole["final"]["train/loss"]  # the noise is in the RNG state of checkpoints
    assert resumed["test"] == whole["test"]
