"""Train + validation as one training split: what early stopping's second phase trains on (course
Alg 7.2 / 7.3: after the subtrain/valid run, train on all the training data)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from dlrun.data.base import Batches, DataModule, EpochSeeded


class MixedBatches(EpochSeeded):
    """The batches of two loaders in one epoch, interleaved in an order drawn from (seed, epoch):
    each batch comes whole from one split, the sequence of splits is a random permutation. Resume-exact
    (`skip` is passed on to each loader as the count of its batches among those skipped) and sharded
    by sharding both loaders."""

    def __init__(self, first: Batches, second: Batches) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        super().set_epoch(epoch, seed)
        self.first.set_epoch(epoch, seed)
        self.second.set_epoch(epoch, seed)

    def shard(self, rank: int, world_size: int) -> None:
        self.first.shard(rank, world_size)
        self.second.shard(rank, world_size)

    def order(self) -> torch.Tensor:
        """Which loader each batch of this epoch comes from (0: first, 1: second)."""
        sources = torch.cat([torch.zeros(len(self.first), dtype=torch.long), torch.ones(len(self.second), dtype=torch.long)])
        return sources[torch.randperm(len(sources), generator=self.epoch_generator())]

    def __iter__(self) -> Iterator[Any]:
        order = self.order()
        start = self.take_skip()
        skipped_second = int(order[:start].sum())
        self.first.skip, self.second.skip = start - skipped_second, skipped_second
        loaders = (iter(self.first), iter(self.second))
        for source in order[start:].tolist():
            yield next(loaders[source])


class TrainPlusVal:
    """A set-up data module whose `train` split is its train and val splits together (MixedBatches);
    every other split, meta and attribute is the wrapped module's (so task Protocols still apply)."""

    def __init__(self, data: DataModule) -> None:
        self.data = data
        self.meta = data.meta

    def setup(self, device: torch.device) -> None:
        """Nothing: the wrapped module is already set up."""

    def loader(self, split: str, train: bool = False) -> Batches:
        if split == "train":
            return MixedBatches(self.data.loader("train", train=train), self.data.loader("val", train=train))
        return self.data.loader(split, train=train)

    def state_dict(self) -> dict[str, Any]:
        return self.data.state_dict()

    def __getattr__(self, name: str) -> Any:
        if "data" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["data"], name)
