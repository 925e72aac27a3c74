"""Batches for metric learning: the lab's random triplets and class-balanced P x K batches.

Each batch draws its randomness from a generator seeded by (run seed, epoch, batch number), so a run
resumed mid-epoch sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from dlrun.data.base import EpochSeeded
from dlrun.data.tensor_batches import TensorBatches


class ClassIndex:
    """Where each class's samples are: sample indices sorted by class, with start and count per class."""

    def __init__(self, labels: torch.Tensor, num_classes: int) -> None:
        labels = labels.long().cpu()
        self.order = torch.argsort(labels, stable=True)
        self.counts = torch.bincount(labels, minlength=num_classes)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.rank = torch.empty_like(self.order)  # position of each sample within its class
        self.rank[self.order] = torch.arange(len(labels)) - self.starts[labels[self.order]]
        self.present = (self.counts > 0).nonzero().flatten()  # classes with samples, ascending
        self.slot = torch.full((num_classes,), -1, dtype=torch.long)
        self.slot[self.present] = torch.arange(len(self.present))
        self.labels = labels

    def pick(self, classes: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Sample index of the `positions`-th member of each class in `classes`."""
        return self.order[self.starts[classes] + positions]


def uniform_below(n: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One uniform integer in [0, n_i) per entry of n (n_i >= 1)."""
    draw = (torch.rand(n.shape, generator=generator, dtype=torch.float64) * n).long()
    return torch.minimum(draw, n - 1)


def random_triplets(anchors: torch.Tensor, index: ClassIndex, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The lab's sampling: positive = a random other sample of the anchor's class (the anchor itself
    only if its class has one sample); negative = a random sample of a random other class."""
    anchors = anchors.cpu()
    cls = index.labels[anchors]
    count = index.counts[cls]
    draw = uniform_below((count - 1).clamp_min(1), generator)
    own = index.rank[anchors]
    positions = torch.where(count > 1, draw + (draw >= own).long(), torch.zeros_like(draw))
    positives = index.pick(cls, positions)
    slot = index.slot[cls]
    other = uniform_below(torch.full_like(slot, len(index.present) - 1), generator)
    negative_cls = index.present[other + (other >= slot).long()]
    negatives = index.pick(negative_cls, uniform_below(index.counts[negative_cls], generator))
    return positives, negatives


class TripletBatches(TensorBatches):
    """Batches of (anchor, positive, negative, anchor label, negative label) as in lab 4: every
    sample is an anchor once per epoch, with a fresh random positive and negative."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int, batch_size: int,
                 shuffle: bool = True, drop_last: bool = True) -> None:
        super().__init__((torch.arange(len(labels)),), batch_size, shuffle=shuffle, drop_last=drop_last)
        self.images = images
        self.labels = labels
        self.index = ClassIndex(labels, num_classes)
        if len(self.index.present) < 2:
            raise ValueError("triplet sampling needs at least two classes")

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        first = self.skip
        for local, (anchors,) in enumerate(super().__iter__(), start=first):
            number = local * self.world_size + self.rank  # distinct on every rank
            positives, negatives = random_triplets(anchors, self.index, self.batch_generator(number))
            device = self.images.device
            a, p, n = anchors.to(device), positives.to(device), negatives.to(device)
            yield self.images[a], self.images[p], self.images[n], self.labels[a], self.labels[n]


class PKBatches(EpochSeeded):
    """Class-balanced batches: P random classes x K random samples each (without replacement when a
    class has at least K samples), yielded as (images, labels). An epoch has as many batches as
    fit the number of samples; sharded for DDP, each rank draws every world_size-th of them."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int, classes_per_batch: int, samples_per_class: int) -> None:
        self.images = images
        self.labels = labels
        self.index = ClassIndex(labels, num_classes)
        if classes_per_batch < 2 or samples_per_class < 2:
            raise ValueError(f"P x K batches need P >= 2 and K >= 2, got {classes_per_batch} x {samples_per_class}")
        if classes_per_batch > len(self.index.present):
            raise ValueError(f"classes_per_batch={classes_per_batch} but the training split has only {len(self.index.present)} classes")
        self.p = classes_per_batch
        self.k = samples_per_class

    def __len__(self) -> int:
        return self.rank_count(self.total_batches())

    def total_batches(self) -> int:
        """Batches per epoch of all ranks together."""
        return max(1, len(self.labels) // (self.p * self.k))

    def batch_indices(self, generator: torch.Generator) -> torch.Tensor:
        """(P*K,) sample indices: P distinct classes, K samples of each, grouped by class."""
        present = self.index.present
        classes = present[torch.randperm(len(present), generator=generator)[: self.p]]
        counts = self.index.counts[classes]
        keys = torch.rand(self.p, int(counts.max()), generator=generator)
        keys[torch.arange(keys.shape[1])[None, :] >= counts[:, None]] = 2.0  # past a class's end: last
        positions = keys.argsort(dim=1)[:, : self.k]
        if positions.shape[1] < self.k:  # every class has fewer than K samples: cycle
            positions = positions.repeat(1, -(-self.k // positions.shape[1]))[:, : self.k]
        positions = positions % counts[:, None]  # a class smaller than K repeats its samples
        return self.index.pick(classes[:, None].expand(-1, self.k), positions).reshape(-1)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        start = self.take_skip()
        for number in self.rank_numbers(self.total_batches())[start:]:
            chosen = self.batch_indices(self.batch_generator(number)).to(self.images.device)
            yield self.images[chosen], self.labels[chosen]
