"""The lab's random triplets and class-balanced P x K batches."""

from __future__ import annotations

import pytest
import torch

from dlrun.data.metric_sampling import PKBatches, TripletBatches


def labelled(counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """'Images' that are their own index (to check what was picked) and labels with these class counts."""
    labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]
    return torch.arange(len(labels)).float()[:, None], labels


def test_triplets_have_same_class_positive_and_other_class_negative() -> None:
    images, labels = labelled([5, 7, 1, 0, 9])  # class 3 empty, class 2 a singleton
    batches = TripletBatches(images, labels, num_classes=5, batch_size=8)
    batches.set_epoch(0, seed=3)
    anchors_seen = []
    for a, p, n, ya, yn in batches:
        ai, pi, ni = a[:, 0].long(), p[:, 0].long(), n[:, 0].long()
        assert torch.equal(labels[ai], ya) and torch.equal(labels[ni], yn)
        assert torch.equal(labels[pi], ya)
        assert ((pi != ai) | (ya == 2)).all()  # only the singleton class pairs a sample with itself
        assert (yn != ya).all() and (yn != 3).all()
        anchors_seen.append(ai)
    assert len(batches) == 22 // 8  # drop_last, as the lab
    assert len(torch.cat(anchors_seen).unique()) == 16


def test_negative_classes_are_spread_over_the_other_classes() -> None:
    images, labels = labelled([200, 200, 200])
    batches = TripletBatches(images, labels, num_classes=3, batch_size=600, drop_last=False)
    _, _, _, ya, yn = next(iter(batches))
    share = yn[ya == 0].eq(1).float().mean().item()
    assert 0.4 < share < 0.6


def test_triplet_batches_replay_after_skip() -> None:
    images, labels = labelled([10, 10, 10])
    batches = TripletBatches(images, labels, num_classes=3, batch_size=4)
    batches.set_epoch(2, seed=5)
    full = [b[1] for b in batches]
    batches.skip = 3
    resumed = [b[1] for b in batches]
    assert all(torch.equal(x, y) for x, y in zip(full[3:], resumed, strict=True))


def test_pk_batches_composition() -> None:
    images, labels = labelled([6, 5, 9, 2, 8, 7])
    batches = PKBatches(images, labels, num_classes=6, classes_per_batch=4, samples_per_class=3)
    batches.set_epoch(0, seed=0)
    assert len(batches) == 37 // 12
    for x, y in batches:
        assert len(y) == 12
        classes, counts = y.unique(return_counts=True)
        assert len(classes) == 4 and (counts == 3).all()
        assert torch.equal(labels[x[:, 0].long()], y)
        for c in classes:  # without replacement when the class has >= K samples; class 3 has 2
            members = x[y == c, 0]
            assert len(members.unique()) == min(3, int((labels == c).sum()))


def test_pk_batches_differ_by_epoch_and_repeat_by_seed() -> None:
    images, labels = labelled([10] * 5)
    batches = PKBatches(images, labels, num_classes=5, classes_per_batch=2, samples_per_class=2)
    batches.set_epoch(0, seed=1)
    first = [x for x, _ in batches]
    again = [x for x, _ in batches]
    batches.set_epoch(1, seed=1)
    other = [x for x, _ in batches]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_pk_needs_enough_classes() -> None:
    images, labels = labelled([4, 4])
    with pytest.raises(ValueError, match="only 2 classes"):
        PKBatches(images, labels, num_classes=2, classes_per_batch=3, samples_per_class=2)
