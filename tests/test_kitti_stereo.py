"""KITTI 2012 / 2015 layouts written as tiny real files, the 80/20 split, normalization, and the
patch triplet sampler's bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dlrun.data.kitti_stereo import KittiStereo
from dlrun.data.stereo_io import write_disparity, write_image
from dlrun.data.stereo_patches import StereoImages, extract_patches, sample_triplet_pixels
from dlrun.errors import DlrunError

CPU = torch.device("cpu")


def write_pairs(training: Path, left: str, right: str, disp: str, count: int, channels: int, size: tuple[int, int] = (20, 40)) -> None:
    g = torch.Generator().manual_seed(0)
    for i in range(count):
        h, w = size[0] + i, size[1] + 2 * i  # KITTI images differ slightly in size
        name = f"{i:06d}_10.png"
        write_image(training / left / name, torch.randint(0, 256, (h, w, channels), generator=g, dtype=torch.uint8))
        write_image(training / right / name, torch.randint(0, 256, (h, w, channels), generator=g, dtype=torch.uint8))
        disparity = torch.where(torch.rand(h, w, generator=g) < 0.5, 1 + 6 * torch.rand(h, w, generator=g), torch.zeros(h, w))
        write_disparity(training / disp / name, disparity)


def test_kitti_2015_layout_colour_split_and_normalization(tmp_path: Path) -> None:
    write_pairs(tmp_path / "training", "image_2", "image_3", "disp_noc_0", count=5, channels=3)
    data = KittiStereo(root=str(tmp_path), color=True, seed=3)
    data.setup(CPU)
    assert data.meta["in_channels"] == 3
    train, val = data.split_ids["train"], data.split_ids["val"]
    assert len(train) == 4 and len(val) == 1 and set(train.tolist()).isdisjoint(val.tolist())
    assert torch.equal(data.split_ids["test"], val)
    other = KittiStereo(root=str(tmp_path), color=True, seed=3)
    other.setup(CPU)
    assert torch.equal(other.split_ids["val"], val)  # the split is a function of the seed
    name, left, right, disparity = data.dense_pairs("train")[1]
    n = int(train[1])
    assert left.shape == (1, 3, 20 + n, 40 + 2 * n) and disparity.shape == left.shape[-2:]
    assert abs(left.mean().item()) < 1e-5 and abs(left.std().item() - 1) < 1e-3
    assert abs(right.mean().item()) < 1e-5


def test_kitti_2012_layout_prefers_native_gray(tmp_path: Path) -> None:
    training = tmp_path / "training"
    write_pairs(training, "colored_0", "colored_1", "disp_noc", count=3, channels=3)
    write_pairs(training, "image_0", "image_1", "disp_noc", count=3, channels=1)
    gray = KittiStereo(root=str(training), color=False)  # root may also point at training/
    gray.setup(CPU)
    assert gray.images is not None and gray.images.left.shape[-1] == 1
    from PIL import Image

    expected = torch.from_numpy(np.asarray(Image.open(training / "image_0" / "000000_10.png")).copy())
    assert torch.equal(gray.images.left[0, :20, :40, 0], expected)
    colour = KittiStereo(root=str(tmp_path), color=True, layout="2012")
    colour.setup(CPU)
    assert colour.images is not None and colour.images.left.shape[-1] == 3


@pytest.mark.fault('KITTI files missing', 'one-line error explaining where to put the files')
def test_missing_data_explains_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(DlrunError, match="needs registration .* dataset=synthetic_stereo"):
        KittiStereo(root=str(tmp_path)).setup(CPU)
    write_pairs(tmp_path / "training", "image_0", "image_1", "disp_noc", count=2, channels=1)
    with pytest.raises(DlrunError, match="no colored_0/colored_1 image folders .* for colour input"):
        KittiStereo(root=str(tmp_path), color=True).setup(CPU)
    (tmp_path / "training" / "image_1" / "000001_10.png").unlink()
    with pytest.raises(DlrunError, match="has no matching image"):
        KittiStereo(root=str(tmp_path)).setup(CPU)


@pytest.mark.parametrize("kwargs", [{"layout": "2014"}, {"patch_size": 8}, {"neg_low": 1, "pos_jitter": 1}, {"val_size": 1.0}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        KittiStereo(**kwargs)


def synthetic_images(n: int = 3, h: int = 30, w: int = 50) -> StereoImages:
    g = torch.Generator().manual_seed(1)
    sizes = torch.tensor([[h, w], [h - 8, w - 15], [h, w - 5]])[:n]
    disparity = torch.zeros(n, h, w)
    for i, (hi, wi) in enumerate(sizes.tolist()):  # ground truth on ~40% of each image, up to 20 px
        disparity[i, :hi, :wi] = torch.where(torch.rand(hi, wi, generator=g) < 0.4, 20 * torch.rand(hi, wi, generator=g), 0.0)
    images = torch.randint(0, 256, (n, h, w, 2), generator=g, dtype=torch.uint8)
    stats = torch.tensor([[100.0, 50.0]]).repeat(n, 1)
    return StereoImages(images, images.flip(2), stats, stats * 1.5, disparity, sizes)


def test_patch_triplets_stay_inside_their_images() -> None:
    data = synthetic_images()
    half, jitter, low, high = 4, 1, 3, 8
    ids = torch.tensor([0, 1, 2])
    n, y, x, xp, xn = sample_triplet_pixels(data, ids, 3000, half, jitter, low, high, torch.Generator().manual_seed(0))
    h, w = data.sizes[n, 0], data.sizes[n, 1]
    for col in (x, xp, xn):
        assert ((col >= half) & (col < w - half)).all()
    assert ((y >= half) & (y < h - half)).all()
    d = data.disparity[n, y, x]
    assert (d > 0).all()
    match = torch.round(x - d).long()
    assert ((xp - match).abs() <= jitter).all()
    assert ((xn - match).abs() >= low).all() and ((xn - match).abs() <= high).all()
    assert set(n.unique().tolist()) == {0, 1, 2} and (xn < match).any() and (xn > match).any()


def test_extracted_patches_are_normalized_crops() -> None:
    data = synthetic_images()
    n, y, x = torch.tensor([1, 2]), torch.tensor([4, 10]), torch.tensor([30, 5])
    patches = extract_patches(data.right, data.right_stats, n, y, x, 9)
    assert patches.shape == (2, 2, 9, 9)
    crop = data.right[2, 6:15, 1:10].permute(2, 0, 1).float()
    assert torch.allclose(patches[1], (crop - 150.0) / 75.0)  # right side: mean 150, std 75


def test_loader_batches_are_fixed_for_validation_and_vary_for_training(tmp_path: Path) -> None:
    write_pairs(tmp_path / "training", "image_2", "image_3", "disp_noc_0", count=5, channels=3, size=(30, 60))
    data = KittiStereo(root=str(tmp_path), batch_size=16, batches_per_epoch=3, val_batches=2)
    data.setup(CPU)
    val1, val2 = list(data.loader("val")), list(data.loader("val"))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(val1, val2))
    train = data.loader("train", train=True)
    assert len(train) == 3
    train.set_epoch(0, seed=1)
    epoch0 = [b[0] for b in train]
    train.set_epoch(1, seed=1)
    assert not torch.equal(epoch0[0], next(iter(train))[0])
    anchor, positive, negative = next(iter(train))
    assert anchor.shape == positive.shape == negative.shape == (16, 1, 9, 9)


def test_kitti_lives_in_root_kitti_and_takes_val_size_as_a_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_pairs(tmp_path / "kitti" / "training", "image_2", "image_3", "disp_noc_0", count=5, channels=1)
    monkeypatch.setenv("DLRUN_DATA_DIR", str(tmp_path))
    data = KittiStereo(val_size=2, eval_batch_size=3, val_batches=1)  # root from DLRUN_DATA_DIR
    data.setup(CPU)
    assert len(data.split_ids["train"]) == 3 and len(data.split_ids["val"]) == 2
    anchor, _, _ = next(iter(data.loader("val")))
    assert anchor.shape[0] == 3  # eval_batch_size sizes the validation patch batches
