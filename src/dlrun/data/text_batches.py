"""Padded mini-batches of variable-length token sequences, with optional length bucketing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from dlrun.data.base import EpochSeeded
from dlrun.data.vocab import PAD_INDEX


class TokenSequences:
    """A split's numericalized texts as one flat token tensor plus offsets (no per-text tensors).

    Text i is `tokens[offsets[i]:offsets[i + 1]]`; `labels[i]` is its class. `lengths` stays on the
    CPU (batch shapes are decided there without a device sync); tokens and labels may live on the
    training device.
    """

    def __init__(self, tokens: torch.Tensor, offsets: torch.Tensor, labels: torch.Tensor) -> None:
        if offsets.dim() != 1 or len(offsets) != len(labels) + 1:
            raise ValueError("offsets must have one more entry than labels")
        self.tokens = torch.cat([tokens.long(), tokens.new_full((1,), PAD_INDEX).long()])  # a PAD sentinel: gathers never run off the end
        self.offsets = offsets.long()
        self.labels = labels.long()
        self.lengths = (self.offsets[1:] - self.offsets[:-1]).cpu()

    @classmethod
    def from_lists(cls, documents: Sequence[Sequence[int]], labels: Sequence[int]) -> TokenSequences:
        """Pack Python lists of token ids (the output of numericalization) into tensors."""
        lengths = torch.tensor([len(d) for d in documents], dtype=torch.long)
        offsets = torch.zeros(len(documents) + 1, dtype=torch.long)
        torch.cumsum(lengths, 0, out=offsets[1:])
        flat = torch.tensor([t for d in documents for t in d], dtype=torch.long)
        return cls(flat, offsets, torch.tensor(list(labels), dtype=torch.long))

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> TokenSequences:
        moved = TokenSequences.__new__(TokenSequences)
        moved.tokens, moved.offsets, moved.labels = self.tokens.to(device), self.offsets.to(device), self.labels.to(device)
        moved.lengths = self.lengths
        return moved

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum())

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens (B, T) padded with <PAD> to the longest text of the batch, lengths (B,), labels (B,))
        for the texts at CPU `index`. An empty text counts as one <PAD> step (length 1), so every
        model sees at least one step."""
        lengths = self.lengths[index]
        width = max(int(lengths.max()), 1) if len(index) else 1
        device = self.tokens.device
        index_dev = index.to(device, non_blocking=True)
        lengths_dev = lengths.to(device, non_blocking=True)
        steps = torch.arange(width, device=device)
        valid = steps < lengths_dev.unsqueeze(1)
        gather = (self.offsets[index_dev].unsqueeze(1) + steps).clamp_max(len(self.tokens) - 1)
        tokens = torch.where(valid, self.tokens[gather], PAD_INDEX)
        return tokens, lengths_dev.clamp_min(1), self.labels[index_dev]


class TextBatches(EpochSeeded):
    """Batches (tokens, lengths, labels) of one split, following dlrun's Batches protocol.

    With `shuffle`, the order comes from (seed, epoch) only, so a resumed run replays it. With
    `bucket` > 0, the shuffled texts are cut into chunks of `bucket` batches, each chunk is sorted
    by length and cut into batches, and the batch order is shuffled: batches hold texts of similar
    length, so padding stays small. Without shuffling, `bucket` > 0 sorts the whole split by
    length (evaluation: metrics do not depend on the order); `bucket` = 0 keeps file order.
    Sharded for DDP, each rank takes every world_size-th batch of the epoch's batch order (see
    EpochSeeded), so length bucketing is kept.
    """

    def __init__(self, data: TokenSequences, batch_size: int, shuffle: bool = False, bucket: int = 0, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if bucket < 0:
            raise ValueError(f"bucket must be >= 0 (0: no length bucketing), got {bucket}")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket = bucket
        self.drop_last = drop_last

    @property
    def num_samples(self) -> int:
        return len(self.data)

    def __len__(self) -> int:
        return self.rank_count(self.total_batches())

    def total_batches(self) -> int:
        """Batches per epoch of all ranks together."""
        full, rest = divmod(self.num_samples, self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def batch_indices(self) -> list[torch.Tensor]:
        """The CPU index tensor of every batch of this epoch (all ranks), in order."""
        n, size = self.num_samples, self.batch_size
        lengths = self.data.lengths
        if not self.shuffle:
            order = torch.argsort(lengths, stable=True) if self.bucket else torch.arange(n)
            return list(order.split(size))[: self.total_batches()]
        generator = self.epoch_generator()
        order = torch.randperm(n, generator=generator)
        if self.bucket:
            chunk = self.bucket * size
            chunk_id = torch.arange(n) // chunk
            key = chunk_id * (int(lengths.max()) + 1 if n else 1) + lengths[order]
            order = order[torch.argsort(key, stable=True)]
        batches = list(order.split(size))
        if self.drop_last and batches and len(batches[-1]) < size:
            batches.pop()
        if self.bucket:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        batches = self.batch_indices()
        batches = [batches[i] for i in self.rank_numbers(len(batches))]
        for index in batches[self.take_skip():]:
            yield self.data.batch(index)
