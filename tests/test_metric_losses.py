"""Metric losses against values computed by hand on 2-D points."""

from __future__ import annotations

import math

import pytest
import torch

from dlrun.losses.batch_hard import BatchHardTripletLoss
from dlrun.losses.contrastive import ContrastiveLoss
from dlrun.losses.npairs import NPairsLoss
from dlrun.losses.supcon import SupConLoss
from dlrun.losses.triplet import TripletLoss

# anchor (0,0), positive (3,4) at distance 5, negative (1,0) at distance 1
A_P_N = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
LABELS = torch.tensor([0, 0, 1])
ONE = torch.tensor([[0, 1, 2]])
# for dot products: a.p = 2, a.n = 0, p.n = 3
DOT_POINTS = torch.tensor([[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]])


def test_triplet_l2_hinge_soft_and_batch_all() -> None:
    assert TripletLoss(margin=1.0)(A_P_N, LABELS, ONE).item() == pytest.approx(5 - 1 + 1)
    assert TripletLoss(margin=0.0, soft=True)(A_P_N, LABELS, ONE).item() == pytest.approx(math.log(1 + math.exp(4)))
    assert TripletLoss(margin=1.0)(torch.tensor([[0.0, 0.0], [0.0, 1.0], [5.0, 0.0]]), LABELS, ONE).item() == 0.0
    # batch-all: triplets (0,1,2): 5-1+1 = 5 and (1,0,2): 5-sqrt(20)+1
    expected = (5 + (6 - math.sqrt(20))) / 2
    assert TripletLoss(margin=1.0)(A_P_N, LABELS).item() == pytest.approx(expected, rel=1e-5)


def test_triplet_dot_product_distance() -> None:
    # course: max(0, a.n - a.p + alpha) = max(0, 0 - 2 + 3)
    assert TripletLoss(margin=3.0, distance="dot")(DOT_POINTS, LABELS, ONE).item() == pytest.approx(1.0)
    assert TripletLoss(margin=1.0, distance="dot")(DOT_POINTS, LABELS, ONE).item() == 0.0


def test_triplet_l2_matches_torch_triplet_margin_loss() -> None:
    torch.manual_seed(0)
    a, p, n = torch.randn(3, 16, 8).unbind(0)
    emb = torch.cat([a, p, n])
    rows = torch.arange(16)
    ours = TripletLoss(margin=1.0)(emb, torch.zeros(48, dtype=torch.long), torch.stack([rows, rows + 16, rows + 32], 1))
    assert ours.item() == pytest.approx(torch.nn.TripletMarginLoss(margin=1.0)(a, p, n).item(), abs=1e-4)


def test_normalize_flag_uses_unit_vectors() -> None:
    scaled = A_P_N[1:] * 7.0
    unit = torch.nn.functional.normalize(A_P_N[1:], dim=1)
    labels, t = torch.tensor([0, 1]), torch.tensor([[0, 0, 1]])
    assert TripletLoss(normalize=True)(scaled, labels, t).item() == pytest.approx(TripletLoss()(unit, labels, t).item())


def test_contrastive_both_negative_terms() -> None:
    # positive term 5^2; negative: max(0, 2 - 1)^2 = 1, or max(0, 2^2 - 1^2) = 3
    assert ContrastiveLoss(margin=2.0)(A_P_N, LABELS, ONE).item() == pytest.approx(26.0)
    assert ContrastiveLoss(margin=2.0, negative="squared_margin")(A_P_N, LABELS, ONE).item() == pytest.approx(28.0)
    # all pairs: positive pairs (0,1),(1,0): 25; negative pairs d=1 (x2) and sqrt(20) (x2): mean of 1 and 0
    assert ContrastiveLoss(margin=2.0)(A_P_N, LABELS).item() == pytest.approx(25.0 + 0.5, rel=1e-5)


BH_POINTS = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
BH_LABELS = torch.tensor([0, 0, 1, 1])


def test_batch_hard_picks_the_hardest_pairs() -> None:
    positive, negative, valid = BatchHardTripletLoss().hardest(BH_POINTS, BH_LABELS)
    assert positive.tolist() == [1, 0, 3, 2]
    # anchor 0: negatives at 1 (#2) and 2 (#3); anchor 1: sqrt(20) (#2), sqrt(13) (#3);
    # anchor 2: 1 (#0), sqrt(20) (#1); anchor 3: 2 (#0), sqrt(13) (#1)
    assert negative.tolist() == [2, 3, 0, 0]
    assert valid.all()


def test_batch_hard_value() -> None:
    # per anchor: 0.5+5-1, 0.5+5-sqrt(13), 0.5+sqrt(5)-1, 0.5+sqrt(5)-2
    expected = (4.5 + (5.5 - math.sqrt(13)) + (math.sqrt(5) - 0.5) + (math.sqrt(5) - 1.5)) / 4
    assert BatchHardTripletLoss(margin=0.5)(BH_POINTS, BH_LABELS).item() == pytest.approx(expected, rel=1e-5)
    # an anchor without a positive is skipped: drop point 3 -> anchor 2 has no positive
    expected3 = (4.5 + (5.5 - math.sqrt(20))) / 2
    assert BatchHardTripletLoss(margin=0.5)(BH_POINTS[:3], BH_LABELS[:3]).item() == pytest.approx(expected3, rel=1e-5)


def test_npairs_infonce() -> None:
    # triplet (0,1,2): log(1 + e^{a.n - a.p}) = log(1 + e^{-2})
    assert NPairsLoss()(DOT_POINTS, LABELS, ONE).item() == pytest.approx(math.log(1 + math.exp(-2)))
    assert NPairsLoss(temperature=0.5)(DOT_POINTS, LABELS, ONE).item() == pytest.approx(math.log(1 + math.exp(-4)), rel=1e-5)
    # every positive pair: (0,1) as above, (1,0): log(1 + e^{p.n - p.a}) = log(1 + e^{3 - 2})
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.e)) / 2
    assert NPairsLoss()(DOT_POINTS, LABELS).item() == pytest.approx(expected)


def test_supcon_course_and_khosla_denominators() -> None:
    # anchor 0: -log(e^2 / e^0) = -2; anchor 1: -log(e^2 / e^3) = 1; anchor 2 has no positive
    assert SupConLoss(temperature=1.0, normalize=False)(DOT_POINTS, LABELS).item() == pytest.approx(-0.5)
    # 'all': anchor 0: -log(e^2/(e^2+e^0)); anchor 1: -log(e^2/(e^2+e^3))
    expected = (math.log(math.exp(2) + 1) - 2 + math.log(math.exp(2) + math.exp(3)) - 2) / 2
    loss = SupConLoss(temperature=1.0, denominator="all", normalize=False)(DOT_POINTS, LABELS)
    assert loss.item() == pytest.approx(expected)


@pytest.mark.parametrize("loss", [TripletLoss(), TripletLoss(distance="dot", soft=True), ContrastiveLoss(), BatchHardTripletLoss(),
                                  NPairsLoss(), SupConLoss()])
def test_gradients_are_finite_with_duplicate_embeddings(loss: torch.nn.Module) -> None:
    emb = torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [0.0, 1.0]], requires_grad=True)
    loss(emb, torch.tensor([0, 0, 1, 1])).backward()
    assert torch.isfinite(emb.grad).all()


def test_single_class_batch_gives_zero_not_nan() -> None:
    emb = torch.randn(4, 3, requires_grad=True)
    for loss in (TripletLoss(), BatchHardTripletLoss(), NPairsLoss(), SupConLoss()):
        value = loss(emb, torch.zeros(4, dtype=torch.long))
        assert value.item() == 0.0
        value.backward()


@pytest.mark.parametrize("make", [lambda: TripletLoss(distance="cos"), lambda: TripletLoss(margin=-1), lambda: ContrastiveLoss(negative="x"),
                                  lambda: NPairsLoss(temperature=0), lambda: SupConLoss(denominator="some")])
def test_bad_arguments(make) -> None:
    with pytest.raises(ValueError):
        make()
