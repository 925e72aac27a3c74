"""dataset=seq_toy: synthetic sequence-to-sequence problems (reverse, sort, copy), generated offline
from a seed, for the seq2seq/attention experiments of the course's lecture on advanced RNNs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from dlrun.data.base import BaseData
from dlrun.data.tensor_batches import TensorBatches

PAD, SOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<s>", "</s>")
PROBLEMS = ("reverse", "sort", "copy")


def make_targets(problem: str, src: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Targets (N, max_len + 1) of padded sources (N, max_len): the answer, then EOS, then PAD."""
    n, width = src.shape
    steps = torch.arange(width).expand(n, width)
    valid = steps < lengths[:, None]
    if problem == "copy":
        out = src.clone()
    elif problem == "reverse":
        out = src.gather(1, (lengths[:, None] - 1 - steps).clamp(min=0))
    elif problem == "sort":
        out = src.masked_fill(~valid, torch.iinfo(src.dtype).max).sort(dim=1).values
    else:
        raise ValueError(f"unknown problem '{problem}' (valid: {', '.join(PROBLEMS)})")
    out = torch.cat([out.masked_fill(~valid, PAD), torch.full((n, 1), PAD, dtype=src.dtype)], dim=1)
    return out.scatter(1, lengths[:, None], EOS)


class SeqToy(BaseData):
    """Batches `(src (B, max_len), lengths (B,), targets (B, max_len + 1))` of random sequences.

    Sources have lengths uniform in [min_len, max_len] and symbols uniform over `vocab_size` symbols
    (ids 3.. after <pad> = 0, <s> = 1, </s> = 2); the target is the source reversed, sorted or copied,
    ended by </s>. All splits come from one generator seeded with `seed` (train first, then val,
    then test); training batches are shuffled per epoch.
    """

    def __init__(self, problem: str = "reverse", vocab_size: int = 10, min_len: int = 3, max_len: int = 8,
                 train_size: int = 4000, val_size: int = 500, test_size: int = 500, batch_size: int = 64,
                 eval_batch_size: int = 250, seed: int = 0) -> None:
        if problem not in PROBLEMS:
            raise ValueError(f"unknown problem '{problem}' (valid: {', '.join(PROBLEMS)})")
        if vocab_size < 1 or not 1 <= min_len <= max_len:
            raise ValueError(f"need vocab_size >= 1 and 1 <= min_len <= max_len, got {vocab_size}, {min_len}, {max_len}")
        if min(train_size, val_size, test_size, batch_size, eval_batch_size) < 1:
            raise ValueError("split sizes and batch sizes must be >= 1")
        self.problem, self.vocab_size, self.min_len, self.max_len = problem, vocab_size, min_len, max_len
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.batch_size, self.eval_batch_size, self.seed = batch_size, eval_batch_size, seed
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.meta: dict[str, Any] = {"vocab_size": vocab_size + len(SPECIALS), "max_target_len": max_len + 1}

    def setup(self, device: torch.device) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        total = sum(self.sizes.values())
        lengths = torch.randint(self.min_len, self.max_len + 1, (total,), generator=generator)
        symbols = torch.randint(len(SPECIALS), len(SPECIALS) + self.vocab_size, (total, self.max_len), generator=generator)
        src = symbols.masked_fill(torch.arange(self.max_len) >= lengths[:, None], PAD)
        targets = make_targets(self.problem, src, lengths)
        start = 0
        for split, size in self.sizes.items():
            part = slice(start, start + size)
            self.splits[split] = (src[part].to(device), lengths[part].to(device), targets[part].to(device))
            start += size

    def loader(self, split: str, train: bool = False) -> TensorBatches:
        size = self.batch_size if split == "train" else self.eval_batch_size
        return TensorBatches(self.splits[split], size, shuffle=train)

    def examples(self, split: str, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first `count` (source, length, target) rows of `split`."""
        return tuple(t[:count] for t in self.splits[split])  # type: ignore[return-value]

    def decode(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        """Token strings of ids (symbols as their number from 0, specials as <pad>, <s>, </s>)."""
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return [SPECIALS[i] if i < len(SPECIALS) else str(i - len(SPECIALS)) for i in values]

    def state_dict(self) -> dict[str, Any]:
        return {}
