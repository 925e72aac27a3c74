"""The data interface the trainer and tasks use: named splits that yield batches of tensors."""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any, Protocol

import torch


class Batches(Sized, Protocol):
    """An iterable of batches for one split. `set_epoch(epoch, seed)` fixes the shuffle (and
    augmentation) randomness of an epoch, and `skip` drops batches at the start of the next
    iteration, so a resumed run sees exactly the batches it would have seen."""

    skip: int

    def set_epoch(self, epoch: int, seed: int = 0) -> None: ...

    def __iter__(self) -> Iterator[Any]: ...


class DataModule(Protocol):
    """What every dataset class provides.

    meta: facts models need (in_features, input_shape, num_classes, class_names, ...): a model
    config value left at null is filled from here.

    Optional: `preflight_meta`, stand-ins for meta entries known only after setup (a vocabulary
    size), so the pre-flight check can build the model; `load_state_dict(state)`, called before
    setup on resume and eval with what `state_dict()` returned.
    """

    meta: dict[str, Any]

    def setup(self, device: torch.device) -> None:
        """Load (download, parse, cache) the data; may place tensors on `device`."""

    def loader(self, split: str, train: bool = False) -> Batches:
        """Batches of `split` (train | val | test); `train` turns on shuffling and augmentation."""

    def state_dict(self) -> dict[str, Any]:
        """Anything a checkpoint must carry to rebuild the data the same way (e.g. a vocabulary)."""


def batch_generator(seed: int, epoch: int, number: int) -> torch.Generator:
    """A CPU generator for batch `number` of `epoch` (independent of any global RNG)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_033 + number)


class EpochSeeded:
    """The resume-exact randomness every batch iterator shares: `set_epoch(epoch, seed)`, generators
    drawn from (seed, epoch[, batch number]) only, and `skip` batches at the start of the next pass."""

    epoch: int = 0
    seed: int = 0
    skip: int = 0

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        self.epoch = epoch
        self.seed = seed

    def epoch_generator(self) -> torch.Generator:
        """One generator for the whole epoch (e.g. its shuffle order)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)

    def batch_generator(self, number: int) -> torch.Generator:
        """A generator for batch `number` alone (sampling that must not depend on earlier batches)."""
        return batch_generator(self.seed, self.epoch, number)

    def take_skip(self) -> int:
        """The batches to skip in this pass (then back to 0)."""
        start, self.skip = self.skip, 0
        return start
