"""Batch-level augmentation and normalization: shapes, exact crop windows, flips, seeded determinism."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlrun.data.augment import ImageTransform, random_crop, random_hflip
from dlrun.data.tensor_batches import TensorBatches


def images(n: int = 16, c: int = 3, h: int = 8, w: int = 10) -> torch.Tensor:
    return torch.randint(1, 256, (n, c, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def test_crop_keeps_shape_and_dtype() -> None:
    x = images()
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8


def test_each_crop_is_a_window_of_the_zero_padded_image() -> None:
    x = images(n=32)
    out = random_crop(x, 3, torch.Generator().manual_seed(0))
    padded = F.pad(x, (3, 3, 3, 3))
    offsets = set()
    for i in range(len(x)):  # test-side brute force: find the window each output came from
        hits = [(dy, dx) for dy in range(7) for dx in range(7) if torch.equal(padded[i, :, dy : dy + 8, dx : dx + 10], out[i])]
        assert hits, f"image {i} is not a crop of its padded input"
        offsets.add(hits[0])
    assert len(offsets) > 5  # offsets differ between images


def test_crop_with_zero_padding_is_identity() -> None:
    x = images()
    assert random_crop(x, 0, torch.Generator()) is x


def test_flip_mirrors_about_half_the_images() -> None:
    x = images(n=200)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], x[i].flip(2)) for i in range(len(x))]
    same = [torch.equal(out[i], x[i]) for i in range(len(x))]
    assert all(f or s for f, s in zip(flipped, same))
    assert 70 < sum(flipped) < 130


def test_same_seed_same_augmentation_different_seed_different() -> None:
    x = images()
    transform = ImageTransform([0.5] * 3, [0.25] * 3, crop_padding=2, hflip=True)
    a, _ = transform((x, torch.arange(16)), torch.Generator().manual_seed(5))
    b, _ = transform((x, torch.arange(16)), torch.Generator().manual_seed(5))
    c, _ = transform((x, torch.arange(16)), torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_normalization_per_channel() -> None:
    x = torch.tensor([[[[0]], [[255]]], [[[51]], [[102]]]], dtype=torch.uint8)  # (2, 2, 1, 1)
    out, y = ImageTransform([0.2, 0.4], [0.5, 0.2])((x, torch.tensor([3, 4])), torch.Generator())
    assert out.dtype == torch.float32 and y.tolist() == [3, 4]
    assert out[:, 0, 0, 0].tolist() == pytest.approx([(0 - 0.2) / 0.5, (0.2 - 0.2) / 0.5], abs=1e-6)
    assert out[:, 1, 0, 0].tolist() == pytest.approx([(1 - 0.4) / 0.2, (0.4 - 0.4) / 0.2], abs=1e-6)


def test_epoch_batches_replay_exactly_for_the_same_seed_and_epoch() -> None:
    x, y = images(n=20), torch.arange(20)
    transform = ImageTransform([0.0] * 3, [1.0] * 3, crop_padding=1, hflip=True)

    def epoch(seed: int, number: int) -> list[torch.Tensor]:
        batches = TensorBatches((x, y), 6, shuffle=True, transform=transform)
        batches.set_epoch(number, seed)
        return [b[0] for b in batches]

    assert all(torch.equal(a, b) for a, b in zip(epoch(1, 0), epoch(1, 0)))
    assert not all(torch.equal(a, b) for a, b in zip(epoch(1, 0), epoch(1, 1)))
    assert [len(b) for b in epoch(1, 0)] == [6, 6, 6, 2]
