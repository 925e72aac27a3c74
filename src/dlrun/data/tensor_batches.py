"""Batches drawn by index from tensors held in memory (on the training device when possible)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from dlrun.data.base import EpochSeeded

Transform = Callable[[tuple[torch.Tensor, ...], torch.Generator], tuple[torch.Tensor, ...]]


class TensorBatches(EpochSeeded):
    """Mini-batches of aligned tensors (e.g. images and labels).

    Shuffling draws one permutation per epoch from the run seed and the epoch number, so the order does not
    depend on any global RNG and a resumed run replays it exactly. `transform` (augmentation) works on
    a whole batch at once, with a generator drawn from (seed, epoch, batch number) alone.

    Sharded (`shard(rank, world_size)`, data-parallel training), each process takes every
    world_size-th sample of the same epoch order (see EpochSeeded): all ranks get the same number
    of batches, and batch t of all ranks together is batch t of one process with world_size times
    the batch size.
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        transform: Transform | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError("all tensors must have the same length")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform

    @property
    def num_samples(self) -> int:
        """Samples per epoch of this rank (all of them when not sharded)."""
        return self.rank_count(len(self.tensors[0]))

    def __len__(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        device = self.tensors[0].device
        generator = self.epoch_generator()
        total = len(self.tensors[0])
        if self.shuffle:
            order = torch.randperm(total, generator=generator).to(device)
        else:
            order = None
        if self.world_size > 1:
            order = self.rank_share(order if order is not None else torch.arange(total, device=device))
        start = self.take_skip() * self.batch_size
        for begin in range(start, len(self) * self.batch_size, self.batch_size):
            if order is None:
                batch = tuple(t[begin : begin + self.batch_size] for t in self.tensors)
            else:
                index = order[begin : begin + self.batch_size]
                batch = tuple(t[index] for t in self.tensors)
            if self.transform is not None:  # its own generator per batch: a resume that skips batches draws the same
                batch = self.transform(batch, self.batch_generator((begin // self.batch_size) * self.world_size + self.rank))
            yield batch
