"""Winner-takes-all matching on a synthetic pair with known disparity, and the matching network's
patch / dense equivalence."""

from __future__ import annotations

import pytest
import torch

from dlrun.models.identity import IdentityEmbedding
from dlrun.models.stereo_embed import StereoEmbedding
from dlrun.tasks.stereo_matching import cost_volume, disparity_errors, wta_disparity


def shifted_pair(h: int = 24, w: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random colour right image, a piecewise-constant integer disparity map, and the left image
    with left(y, x) = right(y, x - d(y, x)) wherever x - d >= 0."""
    g = torch.Generator().manual_seed(seed)
    right = torch.rand(1, 3, h, w, generator=g)
    disparity = torch.full((h, w), 3, dtype=torch.long)
    disparity[:, w // 2 :] = 7
    disparity[h // 3 : 2 * h // 3, 10:30] = 11  # an object nearer than the background
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    source = xs - disparity
    left = torch.rand(1, 3, h, w, generator=g)  # pixels with no match stay random
    visible = source >= 0
    left[0, :, visible] = right[0, :, ys[visible], source[visible]]
    return left, right, torch.where(visible, disparity, torch.zeros_like(disparity))


@pytest.mark.parametrize("tile, rows_per_block", [(256, None), (7, 1), (16, 5)])
def test_wta_recovers_the_exact_disparity_from_identity_features(tile: int, rows_per_block: int | None) -> None:
    left, right, truth = shifted_pair()
    identity = IdentityEmbedding()
    predicted = wta_disparity(identity(left, dense=True), identity(right, dense=True), 16, tile=tile, rows_per_block=rows_per_block)[0]
    visible = truth > 0
    assert torch.equal(predicted[visible], truth[visible])
    assert disparity_errors(predicted, truth.float(), 0.0)[:2] == (int(visible.sum()), int(visible.sum()))


def test_wta_equals_argmax_of_the_cost_volume() -> None:
    g = torch.Generator().manual_seed(1)
    left, right = torch.randn(2, 5, 9, 30, generator=g), torch.randn(2, 5, 9, 30, generator=g)
    volume = cost_volume(left, right, 12)
    assert volume[:, 3, :, :3].isinf().all()  # x < d has no candidate
    assert torch.equal(wta_disparity(left, right, 12), volume.argmax(1))


def test_disparity_errors_count_only_ground_truth_pixels() -> None:
    truth = torch.tensor([[0.0, 5.0, 10.0, 20.0]])
    predicted = torch.tensor([[9, 8, 14, 23]])
    assert disparity_errors(predicted, truth, 3.0) == (2, 3, 3 + 4 + 3)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_dense_features_equal_patch_features_away_from_the_border(batch_norm: bool) -> None:
    torch.manual_seed(0)
    model = StereoEmbedding(in_channels=3, batch_norm=batch_norm).eval()
    assert model.patch_size == 9
    image = torch.randn(1, 3, 20, 24)
    with torch.no_grad():
        dense = model(image, dense=True)
        assert dense.shape == (1, 64, 20, 24)
        assert torch.allclose(dense.norm(dim=1), torch.ones(20, 24), atol=1e-5)
        y, x = 8, 13
        patch = model(image[:, :, y - 4 : y + 5, x - 4 : x + 5])
    assert patch.shape == (1, 64)
    assert torch.allclose(patch[0], dense[0, :, y, x], atol=1e-5)


def test_patch_of_the_wrong_size_is_an_error() -> None:
    with pytest.raises(ValueError, match="patch input must be 9x9"):
        StereoEmbedding(in_channels=1)(torch.randn(2, 1, 11, 11))
