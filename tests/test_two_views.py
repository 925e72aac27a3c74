"""SimCLR's two views: batch tensor augmentations, differing views, reproducible per (seed, epoch, batch)."""

from __future__ import annotations

import math

import pytest
import torch

from dlrun.data.base import batch_generator
from dlrun.data.tensor_batches import TensorBatches
from dlrun.data.two_views import (TwoViewBatches, TwoViews, colour_jitter, random_blur, random_grey, resized_crop_and_flip,
                                  serve_two_views)


def images(n: int = 6, c: int = 3, size: int = 12) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(1))


def test_full_crop_without_flip_is_the_identity_and_certain_flip_mirrors() -> None:
    x = images()
    same = resized_crop_and_flip(x, (1.0, 1.0), (1.0, 1.0), 0.0, torch.Generator().manual_seed(0))
    assert torch.allclose(same, x, atol=1e-5)
    mirrored = resized_crop_and_flip(x, (1.0, 1.0), (1.0, 1.0), 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(mirrored, x.flip(3), atol=1e-5)


def test_quarter_area_crop_magnifies_a_constant_region() -> None:
    # left half 0, right half 1: any crop of a quarter of the area (half the width at ratio 1) is
    # resized back to the full size, so the output's edge sits elsewhere or the crop is constant
    x = torch.zeros(50, 1, 16, 16)
    x[..., 8:] = 1.0
    out = resized_crop_and_flip(x, (0.25, 0.25), (1.0, 1.0), 0.0, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert not torch.allclose(out, x)
    # the mean brightness of a crop lies in [0, 1] and varies with the crop's position
    means = out.mean(dim=(1, 2, 3))
    assert means.min() >= 0 and means.max() <= 1 and means.std() > 0.05


def test_grey_and_jitter_keep_range_and_greyscale_equalizes_channels() -> None:
    x = images()
    grey = random_grey(x, 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    expected = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    assert torch.allclose(grey[:, 0], expected, atol=1e-6)
    jittered = colour_jitter(x, (0.4, 0.4, 0.4, 0.1), 1.0, torch.Generator().manual_seed(0))
    assert jittered.min() >= 0 and jittered.max() <= 1 and not torch.allclose(jittered, x)
    untouched = colour_jitter(x, (0.4, 0.4, 0.4, 0.1), 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(untouched, x)


def test_zero_strength_jitter_is_the_identity_including_hue() -> None:
    x = images()
    assert torch.allclose(colour_jitter(x, (0.0, 0.0, 0.0, 0.0), 1.0, torch.Generator().manual_seed(0)), x, atol=1e-5)


def test_blur_keeps_a_constant_image_and_smooths_noise() -> None:
    flat = torch.full((2, 1, 20, 20), 0.5)
    assert torch.allclose(random_blur(flat, 1.0, (1.0, 2.0), torch.Generator().manual_seed(0)), flat, atol=1e-6)
    noise = images(4, 1, 20)
    assert random_blur(noise, 1.0, (1.5, 2.0), torch.Generator().manual_seed(0)).std() < 0.6 * noise.std()


def test_two_views_differ_but_repeat_for_the_same_generator() -> None:
    views = TwoViews([0.5, 0.4, 0.3], [0.2, 0.2, 0.2])
    x = (images() - 0.4) / 0.2
    a1, a2 = views(x, batch_generator(7, 1, 3))
    b1, b2 = views(x, batch_generator(7, 1, 3))
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    assert not torch.allclose(a1, a2)
    c1, _ = views(x, batch_generator(7, 1, 4))
    assert not torch.allclose(a1, c1)
    assert a1.shape == x.shape and a1.dtype == torch.float32


def test_normalization_is_undone_and_redone() -> None:
    identity = TwoViews([0.5], [0.25], crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, grey_p=0.0)
    x = (images(c=1) - 0.5) / 0.25
    first, second = identity(x, torch.Generator().manual_seed(0))
    assert torch.allclose(first, x, atol=1e-5) and torch.allclose(second, x, atol=1e-5)


def two_view_batches(seed: int = 5) -> TwoViewBatches:
    x = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(20)
    return TwoViewBatches(TensorBatches((x, y), 4, shuffle=True), TwoViews([0.0], [1.0]))


def test_batches_are_reproducible_per_seed_epoch_and_batch_also_after_a_skip() -> None:
    full = two_view_batches()
    full.set_epoch(2, seed=5)
    straight = list(full)
    assert len(straight) == 5 and all(len(b) == 3 for b in straight)
    resumed = two_view_batches()
    resumed.set_epoch(2, seed=5)
    resumed.skip = 3
    tail = list(resumed)
    assert len(tail) == 2
    for got, want in zip(tail, straight[3:]):
        assert all(torch.equal(g, w) for g, w in zip(got, want))
    other_epoch = two_view_batches()
    other_epoch.set_epoch(3, seed=5)
    assert not torch.equal(next(iter(other_epoch))[0], straight[0][0])
    # the views of batch b are drawn with batch_generator(seed, epoch, b) from the shuffled images
    inner = TensorBatches(full.inner.tensors, 4, shuffle=True)
    inner.set_epoch(2, 5)
    x3, y3 = list(inner)[3]
    v1, v2 = TwoViews([0.0], [1.0])(x3, batch_generator(5, 2, 3))
    assert torch.equal(straight[3][0], v1) and torch.equal(straight[3][1], v2) and torch.equal(straight[3][2], y3)


def test_serve_two_views_wraps_only_training_batches_once() -> None:
    class Data:
        def loader(self, split: str, train: bool = False) -> TensorBatches:
            return TensorBatches((torch.zeros(6, 1, 4, 4), torch.arange(6)), 3, shuffle=train)

    data = Data()
    serve_two_views(data, TwoViews([0.0], [1.0]))
    serve_two_views(data, TwoViews([0.0], [1.0]))
    train = data.loader("train", train=True)
    assert isinstance(train, TwoViewBatches) and isinstance(train.inner, TensorBatches)
    assert isinstance(data.loader("val"), TensorBatches)


@pytest.mark.parametrize("bad", [{"crop_scale": (0.0, 1.0)}, {"crop_ratio": (2.0, 1.0)}, {"flip_p": 1.5},
                                 {"jitter": (0.4, 0.4, 0.4)}, {"blur_sigma": (0.0, 1.0)}])
def test_bad_settings_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        TwoViews([0.0], [1.0], **bad)


def test_hue_rotation_by_a_full_turn_is_the_identity() -> None:
    from dlrun.data.two_views import rotate_hue

    x = images()
    assert torch.allclose(rotate_hue(x, torch.ones(len(x))), x, atol=1e-5)
    half = rotate_hue(x, torch.full((len(x),), 0.5))
    luma = lambda t: 0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]  # noqa: E731
    assert torch.allclose(luma(half), luma(x), atol=1e-5)  # a hue rotation keeps the luma (Y of YIQ)
    assert not torch.allclose(half, x) and math.isfinite(float(half.sum()))
