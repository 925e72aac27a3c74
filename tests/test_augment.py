"""Batch-level augmentation and normalization: shapes, exact crop windows, flips, seeded determinism."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dlrun.data.augment import ImageTransform, random_crop, random_hflip
from dlrun.errors import DlrunError
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


# -- rotation, scale and translation (dataset.augment.{degrees,scale,translate}) ---------------------------
def first_draw(seed: int) -> float:
    """The first uniform number a generator seeded with `seed` gives (random_affine's angle draw)."""
    return torch.rand(1, generator=torch.Generator().manual_seed(seed)).item()


def test_rotation_by_a_known_angle_of_a_hand_made_image() -> None:
    # an 'L' of bright pixels on a 4x4 image; the first draw u of the batch's generator gives the angle
    # (2u - 1) * degrees, so degrees = 90 / (2u - 1) turns it by exactly +90: clockwise as displayed
    image = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    image[0, 0, :, 1] = 255   # the stem: column 1
    image[0, 0, 3, 1:3] = 255  # the foot: row 3, columns 1-2
    u = first_draw(5)
    assert u > 0.5  # a positive angle for this seed
    out, y = ImageTransform([0.0], [1.0], degrees=90 / (2 * u - 1))((image, torch.tensor([4])), torch.Generator().manual_seed(5))
    expected = torch.zeros(1, 1, 4, 4)  # by hand: clockwise, column 1 becomes row 1 and the foot comes to the left
    expected[0, 0, 1, :] = 1.0
    expected[0, 0, 1:3, 0] = 1.0
    assert torch.equal(expected, torch.rot90(image.float() / 255, -1, (2, 3)))
    assert y.tolist() == [4] and torch.allclose(out, expected, atol=1e-4)


def test_translation_and_scale_by_known_draws() -> None:
    image = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4) * 10
    generator = torch.Generator().manual_seed(3)
    u_angle, u_zoom, u_shift = torch.rand(1, generator=generator), torch.rand(1, generator=generator), torch.rand(1, 2, generator=generator)
    shift = (2 * u_shift - 1) * 0.25
    out, _ = ImageTransform([0.0], [1.0], translate=0.25)((image, torch.zeros(1)), torch.Generator().manual_seed(3))
    # the same warp from affine_batch (checked pixel by pixel in test_noise_regularizers) with the draws the
    # transform takes from the batch's generator: angle 0 and zoom 1 (ranges off), then the shift U(-0.25, 0.25)
    from dlrun.data.augment import affine_batch

    expected = affine_batch(image.float(), torch.zeros(1), torch.ones(1), shift) / 255
    assert torch.allclose(out, expected, atol=1e-6) and not torch.allclose(out, image.float() / 255)
    assert u_angle.shape == u_zoom.shape == (1,) and bool((shift.abs() <= 0.25).all())  # drawn in order: angle, zoom, shift
    whole = ImageTransform([0.0], [1.0], scale=[0.5, 0.5])((torch.full((1, 1, 8, 8), 255, dtype=torch.uint8), None),
                                                            torch.Generator())[0]
    assert whole[0, 0, 2:6, 2:6].min() > 0.99 and whole[0, 0, 0].abs().max() < 1e-5  # half size: a 4x4 core, black around


def test_all_off_is_exactly_the_plain_transform_and_bad_ranges_are_refused() -> None:
    x = images()
    plain = ImageTransform([0.5] * 3, [0.25] * 3)((x, None), torch.Generator())[0]
    off = ImageTransform([0.5] * 3, [0.25] * 3, degrees=0, scale=[1, 1], translate=0)((x, None), torch.Generator())[0]
    assert torch.equal(plain, off)
    for bad, match in (({"degrees": -1}, "degrees and translate must be >= 0"), ({"scale": [1.2, 0.8]}, "scale must be"),
                       ({"translate": -0.1}, "must be >= 0"), ({"crop_padding": -1}, "crop_padding must be >= 0")):
        with pytest.raises(ValueError, match=match):
            ImageTransform([0.0], [1.0], **bad)


def test_affine_draws_depend_on_the_batch_number_only_so_a_resume_replays_them() -> None:
    x, y = images(n=20), torch.arange(20)
    transform = ImageTransform([0.0] * 3, [1.0] * 3, crop_padding=1, hflip=True, degrees=20, scale=[0.8, 1.2], translate=0.1)

    def epoch(seed: int, number: int, skip: int = 0) -> list[torch.Tensor]:
        batches = TensorBatches((x, y), 6, shuffle=True, transform=transform)
        batches.set_epoch(number, seed)
        batches.skip = skip
        return [b[0] for b in batches]

    whole = epoch(1, 0)
    assert all(torch.equal(a, b) for a, b in zip(whole, epoch(1, 0)))  # same seed, epoch, batch number
    assert all(torch.equal(a, b) for a, b in zip(whole[2:], epoch(1, 0, skip=2)))  # batches 2, 3 after skipping 0, 1
    assert not torch.equal(whole[0], epoch(2, 0)[0])  # another seed
    batch = (x[:6], y[:6])
    a = transform(batch, torch.Generator().manual_seed(11))[0]
    assert torch.equal(a, transform(batch, torch.Generator().manual_seed(11))[0])
    assert not torch.equal(a, transform(batch, torch.Generator().manual_seed(12))[0])


IMAGE_DATASETS = ["mnist", "fashion_mnist", "cifar10", "image_folder"]


@pytest.mark.parametrize("dataset", IMAGE_DATASETS)
def test_every_image_dataset_takes_the_affine_keys(dataset: str) -> None:
    from conftest import compose_config
    from dlrun.build import check_buildable

    on = ["dataset.augment.degrees=10", "dataset.augment.scale=[0.9,1.1]", "dataset.augment.translate=0.1"]
    root = ["dataset.root=somewhere"] if dataset == "image_folder" else []
    cfg = compose_config([f"dataset={dataset}", *root, *on])
    assert dict(cfg.dataset.augment) == {"crop_padding": 0, "hflip": False, "degrees": 10, "scale": [0.9, 1.1], "translate": 0.1}
    check_buildable(cfg)
    with pytest.raises(DlrunError, match="scale must be"):
        check_buildable(compose_config([f"dataset={dataset}", *root, "dataset.augment.scale=[1.1,0.9]"]))


def test_a_run_resumed_mid_epoch_replays_the_augmentation(tmp_path: Path) -> None:
    from conftest import interrupted_and_resumed, same_final_weights
    from image_files import write_mnist

    write_mnist(tmp_path / "data" / "MNIST" / "raw", n_train=60, n_test=30)
    common = ["dataset=mnist", f"dataset.root={tmp_path / 'data'}", "dataset.download=false", "dataset.val_size=10",
              "dataset.batch_size=10", "dataset.augment.crop_padding=2", "dataset.augment.degrees=20",
              "dataset.augment.scale=[0.8,1.2]", "dataset.augment.translate=0.1", "model.hidden=[8]",
              "trainer.max_epochs=2", "trainer.progress_bar=false", "trainer.device=cpu", "trainer.checkpoint.every_n_steps=1"]
    state, straight, resumed = interrupted_and_resumed(
        common, ["task._target_=conftest.FaultyTask", "+task.interrupt_after_steps=7"], tmp_path)
    assert (state["epoch"], state["batch_in_epoch"], state["global_step"]) == (1, 2, 7)  # 5 batches an epoch: last.pt of step 7, mid-epoch 2
    assert same_final_weights(straight, resumed)
