"""Every config this issue adds composes and passes the pre-flight build (no data is read)."""

from __future__ import annotations

import pytest

from dlrun.errors import DlrunError
from dlrun.preflight import check_overrides

EXPERIMENTS = ["mnist_metric", "stereo_synthetic", "stereo_kitti_gray", "stereo_kitti_gray_bn", "stereo_kitti_color", "stereo_kitti_color_bn"]
LOSSES = ["contrastive", "triplet", "soft_triplet", "batch_hard", "npairs", "infonce", "supcon"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_build(experiment: str) -> None:
    check_overrides([f"experiment={experiment}"], multirun=False)


def test_every_metric_loss_builds_with_the_lab_setup() -> None:
    check_overrides(["experiment=mnist_metric", f"loss={','.join(LOSSES)}", "dataset.sampler=triplet,pk"], multirun=True)


def test_kitti_experiments_differ_only_in_colour_and_batch_norm() -> None:
    from dlrun.preflight import compose

    cfgs = {e: compose([f"experiment={e}"]) for e in EXPERIMENTS[2:]}
    assert {e: (c.dataset.color, c.model.batch_norm) for e, c in cfgs.items()} == {
        "stereo_kitti_gray": (False, False), "stereo_kitti_gray_bn": (False, True),
        "stereo_kitti_color": (True, False), "stereo_kitti_color_bn": (True, True)}
    assert all(c.loss.distance == "dot" and c.dataset.batch_size == 128 and c.dataset.patch_size == 9 for c in cfgs.values())


def test_bad_metric_options_fail_before_any_work() -> None:
    with pytest.raises(DlrunError, match="unknown distance 'cos'"):
        check_overrides(["experiment=mnist_metric", "loss.distance=cos"], multirun=False)
    with pytest.raises(DlrunError, match="classes_per_batch=12 exceeds"):
        check_overrides(["experiment=mnist_metric", "dataset.sampler=pk", "dataset.classes_per_batch=12"], multirun=False)
    with pytest.raises(DlrunError, match="neg_low"):
        check_overrides(["experiment=stereo_synthetic", "dataset.neg_low=1"], multirun=False)
