"""NT-Xent (SimCLR's loss) against a hand-computed value and against the lecture's formula with loops."""

from __future__ import annotations

import math

import pytest
import torch

from dlrun.errors import DlrunError
from dlrun.losses.nt_xent import NTXentLoss


def lecture_nt_xent(views: torch.Tensor, tau: float) -> float:
    """The lecture's algorithm written out: views interleaved as (2k-1, 2k) pairs (1-based), s_ij the
    cosine similarity, l(i, j) = -log[exp(s_ij/tau) / sum_{k != i} exp(s_ik/tau)],
    L = 1/(2N) sum_k [l(2k-1, 2k) + l(2k, 2k-1)]."""
    m = len(views)

    def s(i: int, j: int) -> float:
        a, b = views[i - 1].tolist(), views[j - 1].tolist()
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    def ell(i: int, j: int) -> float:
        denominator = sum(math.exp(s(i, k) / tau) for k in range(1, m + 1) if k != i)
        return -math.log(math.exp(s(i, j) / tau) / denominator)

    n = m // 2
    return sum(ell(2 * k - 1, 2 * k) + ell(2 * k, 2 * k - 1) for k in range(1, n + 1)) / (2 * n)


def test_hand_computed_value_on_two_images() -> None:
    # z1 = views of image 1 and 2 (first view), z2 = their partners. Cosines: s(a1,a2) = 1 (same
    # direction), a1.b1 = 0, a1.b2 = 0, b1.b2 = 0 (orthogonal axes), so each row has one e^{1/tau}
    # or e^{0} positive among 3 others. With tau = 1:
    #   rows a1, a2: positive cos 0 -> -log(1 / (e^1 + 1 + 1)); rows b1, b2: -log(1 / (1 + 1 + 1)).
    z1 = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])   # a1, a2
    z2 = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])   # b1, b2
    expected = (2 * math.log(math.e + 2) + 2 * math.log(3)) / 4
    assert NTXentLoss(temperature=1.0)(z1, z2).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.3250, abs=1e-4)


def test_identical_views_at_low_temperature_approach_zero() -> None:
    z = torch.eye(4)  # 4 orthogonal images, each view equal to its partner
    assert NTXentLoss(temperature=0.05)(z, z.clone()).item() == pytest.approx(3 * math.exp(-20), abs=1e-7)


@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_matches_the_lecture_formula_with_loops(tau: float) -> None:
    gen = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(5, 4, generator=gen, dtype=torch.float64), torch.randn(5, 4, generator=gen, dtype=torch.float64)
    interleaved = torch.stack([z1, z2], dim=1).reshape(10, 4)  # rows 2k-1, 2k (1-based) = the two views of image k
    got = NTXentLoss(temperature=tau)(z1, z2).item()
    assert got == pytest.approx(lecture_nt_xent(interleaved, tau), rel=1e-5)


def test_scale_invariant_and_differentiable() -> None:
    gen = torch.Generator().manual_seed(0)
    z1 = torch.randn(6, 8, generator=gen, requires_grad=True)
    z2 = torch.randn(6, 8, generator=gen)
    loss = NTXentLoss(0.5)
    value = loss(z1, z2)
    value.backward()
    assert z1.grad is not None and torch.isfinite(z1.grad).all()
    assert loss(3 * z1.detach(), 0.5 * z2).item() == pytest.approx(value.item(), rel=1e-5)


def test_pair_accuracy() -> None:
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert NTXentLoss.pair_accuracy(z1, z1.clone()).item() == 1.0
    # swapped partners: a1 = (1, 0) is nearest to b2 = (1, 0), not to its partner b1 = (0, 1); same for all
    assert NTXentLoss.pair_accuracy(z1, z1.flip(0)).item() == 0.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0.0)
    with pytest.raises(ValueError, match="two"):
        NTXentLoss()(torch.zeros(3, 2), torch.zeros(2, 2))


def test_config_builds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import compose_config
    from dlrun import build

    cfg = compose_config(["loss=nt_xent", "loss.temperature=0.2"])
    assert build.build("loss", cfg.loss).temperature == 0.2
    with pytest.raises(DlrunError, match="temperature"):
        build.build("loss", compose_config(["loss=nt_xent", "loss.temperature=-1"]).loss)
