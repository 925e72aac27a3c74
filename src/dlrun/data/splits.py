"""The one seeded split helper: sizes given as a count or a fraction, parts drawn from a seeded
shuffle (or from the end of file order), every part's indices in ascending order."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from dlrun.errors import DlrunError

Size = int | float


def check_size(key: str, size: Size, allow_zero: bool = False) -> None:
    """A split size is an int count (>= 1, or >= 0 with `allow_zero`) or a float fraction in (0, 1): ValueError otherwise."""
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise ValueError(f"{key} must be a count or a fraction in (0, 1), got {size!r}")
    if allow_zero and size == 0:
        return
    if isinstance(size, float) and not 0.0 < size < 1.0:
        raise ValueError(f"{key} must be a count or a fraction in (0, 1), got {size}")
    if isinstance(size, int) and size < (0 if allow_zero else 1):
        raise ValueError(f"{key} must be >= {0 if allow_zero else 1} (a count) or a fraction in (0, 1), got {size}")


def count_of(size: Size, total: int) -> int:
    """How many of `total` items `size` means: an int as is, a fraction rounded (at least 1)."""
    if isinstance(size, float) and size > 0:
        return max(1, round(total * size))
    return int(size)


def holdout(total: int, sizes: Mapping[str, Size], seed: int | None, owner: str, items: str = "samples") -> dict[str, torch.Tensor]:
    """Index tensors of each part in `sizes` (key -> size, e.g. {"val_size": 0.1}) and of the rest.

    The parts take their counts in order from the front of a permutation seeded by `seed` (None:
    no shuffle, the parts are the last items of the file order); the rest is returned under
    "rest". DlrunError when the parts leave nothing for the rest.
    """
    counts = {key: count_of(size, total) for key, size in sizes.items()}
    if sum(counts.values()) >= total:
        given = " and ".join(f"{key} {size}" for key, size in sizes.items())
        raise DlrunError(f"{owner}: {given} {'leaves' if len(sizes) == 1 else 'leave'} no training {items} (the train split has {total})")
    if seed is None:
        order = torch.arange(total - 1, -1, -1)
    else:
        order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    parts, start = {}, 0
    for key, count in counts.items():
        parts[key] = order[start : start + count].sort().values
        start += count
    parts["rest"] = order[start:].sort().values
    return parts
