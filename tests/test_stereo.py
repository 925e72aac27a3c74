"""The synthetic stereo generator and the stereo pipeline end to end: a short training must beat
raw-pixel matching by a clear margin."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import read_results
from dlrun.cli import main
from dlrun.data.stereo_io import read_disparity, read_image
from dlrun.data.synthetic_stereo import SceneSpec, generate, render_pair


def test_synthetic_pair_is_photo_consistent_with_its_ground_truth() -> None:
    spec = SceneSpec(height=48, width=120, min_disparity=2, max_disparity=16, noise=0.0)
    left, right, disparity = render_pair(spec, torch.Generator().manual_seed(4))
    h, w = disparity.shape
    valid = disparity > 0
    assert 0.5 < valid.float().mean() < 1.0  # occluded and out-of-view pixels have no ground truth
    assert not valid[:, :2].any()  # the leftmost columns cannot be seen by the right camera
    assert disparity[valid].max() <= 16 and disparity[valid].min() >= 2
    ys, xs = torch.nonzero(valid, as_tuple=True)
    xr = torch.round(xs - disparity[ys, xs]).long()
    matched = (left[ys, xs].float() - right[ys, xr].float()).abs().mean()
    shuffled = (left[ys, xs].float() - right[ys, xr.roll(1000)].float()).abs().mean()
    assert matched < 0.35 * shuffled  # the true match looks alike (up to interpolation and gain)


def test_generator_writes_the_kitti_2015_layout(tmp_path: Path) -> None:
    generate(tmp_path, SceneSpec(num_pairs=2, height=32, width=64, max_disparity=10))
    training = tmp_path / "training"
    assert sorted(p.name for p in (training / "disp_noc_0").iterdir()) == ["000000_10.png", "000001_10.png"]
    assert read_image(training / "image_3" / "000001_10.png", color=True).shape == (32, 64, 3)
    assert read_disparity(training / "disp_noc_0" / "000000_10.png").max() <= 10


SMALL = ["dataset.num_pairs=6", "dataset.height=64", "dataset.width=160", "dataset.max_disparity=20", "dataset.batch_size=64",
         "dataset.val_batches=2", "task.max_disparity=24", "task.train_images=2", "task.artifact_images=1"]


@pytest.mark.slow
def test_short_training_beats_raw_pixel_matching(train_run, tmp_path: Path) -> None:
    data = [f"dataset.root={tmp_path / 'synthetic'}", *SMALL]
    code, run = train_run("experiment=stereo_synthetic", "dataset.batches_per_epoch=50", "trainer.max_epochs=1", *data)
    assert code == 0
    trained = read_results(run)["test"]
    assert {"test/acc", "test/epe", "test/patch_acc", "test/loss", "test/train_acc"} <= set(trained)
    figures = list(run.glob("disparity_*.png"))  # artifact_images=1: the first test image
    assert len(figures) == 1 and figures[0].read_bytes()[:4] == b"\x89PNG"
    out = tmp_path / "pixels"
    assert main(["eval", "model=identity", "experiment=stereo_synthetic", "trainer.device=cpu", *data, f"out_dir={out}"]) == 0
    pixels = read_results(out)["test"]
    assert trained["test/acc"] > 0.7
    assert trained["test/acc"] > pixels["test/acc"] + 0.3
