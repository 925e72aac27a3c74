"""The data contract: what the trainer and tasks may ask of a data module, declared as Protocols
(checked with isinstance where a task needs more than `DataModule`), and the split lookup that
raises the one unknown-split error (dlrun.errors.UnknownSplit)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sized
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch

from dlrun.errors import UnknownSplit


T = TypeVar("T")


def pick_split(splits: Mapping[str, T], split: str, owner: str = "") -> T:
    """`splits[split]`, or UnknownSplit naming the valid splits."""
    if split not in splits:
        raise UnknownSplit(split, splits, owner)
    return splits[split]


@runtime_checkable
class Batches(Sized, Protocol):
    """An iterable of batches for one split. `set_epoch(epoch, seed)` fixes the shuffle (and
    augmentation) randomness of an epoch, `skip` drops batches at the start of the next
    iteration (a resumed run sees exactly the batches it would have seen), and `shard(rank,
    world_size)` keeps only this process's share of every epoch (DDP)."""

    skip: int

    def set_epoch(self, epoch: int, seed: int = 0) -> None: ...

    def shard(self, rank: int, world_size: int) -> None: ...

    def __iter__(self) -> Iterator[Any]: ...


@runtime_checkable
class DataModule(Protocol):
    """What every dataset class provides.

    meta: facts models need (in_features, input_shape, num_classes, class_names, ...): a model
    config value left at null is filled from here.

    preflight_meta: stand-ins for meta entries known only after setup (a vocabulary size), so the
    pre-flight check can build the model (the real meta wins where both have a key); BaseData
    gives the default, none.

    Optional: `load_state_dict(state)` (RestorableData), called before setup on resume and eval
    with what `state_dict()` returned; `val_size_zero_validates_on_test` (class attribute, BaseData: False),
    True where `val_size=0` means "validate on the test set" rather than "no validation split".
    """

    meta: dict[str, Any]
    preflight_meta: Mapping[str, Any]

    def setup(self, device: torch.device) -> None:
        """Load (download, parse, cache) the data; may place tensors on `device`."""

    def loader(self, split: str, train: bool = False) -> Batches:
        """Batches of `split` (train | val | test); `train` turns on shuffling and augmentation.
        An unknown split raises UnknownSplit."""

    def state_dict(self) -> dict[str, Any]:
        """Anything a checkpoint must carry to rebuild the data the same way (e.g. a vocabulary)."""


class BaseData:
    """What a dataset class inherits for DataModule's members that have a default (as tasks inherit BaseTask)."""

    preflight_meta: Mapping[str, Any] = MappingProxyType({})  # no stand-ins: meta is complete before setup
    val_size_zero_validates_on_test: bool = False  # val_size=0 leaves no validation split (True: 'val' is the test set)


def lacks(data: object, protocol: type) -> list[str]:
    """The members of `protocol` (attributes and methods) that `data` does not have."""
    names = {*vars(protocol).get("__annotations__", {}), *(n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_"))}
    return sorted(n for n in names if not hasattr(data, n))


@runtime_checkable
class RestorableData(Protocol):
    """A data module that rebuilds itself from a checkpoint's data state (e.g. a vocabulary)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take what `state_dict()` returned, before `setup`."""


@runtime_checkable
class RawInputs(Protocol):
    """Data that turns a user's raw inputs (image files, lines of text) into model inputs exactly as
    in training, from its checkpoint state alone (no dataset files): what `dlrun predict` needs."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def predict_inputs(self, source: Path) -> tuple[list[str], tuple[torch.Tensor, ...]]:
        """(a name per input, the model's input tensors) for a file or folder of raw inputs."""


@runtime_checkable
class GrowingVocabulary(Protocol):
    """Text data whose vocabulary grows at predict time (words the frozen pretrained vectors file has):
    `added_vectors` (k, dim) are the rows, after the checkpoint's vocabulary, that the model's frozen
    token embedding must gain (None: none added)."""

    added_vectors: torch.Tensor | None


@runtime_checkable
class TensorSplits(Protocol):
    """Classification data held as tensors: a task may take a whole split (e.g. to draw a decision surface)."""

    def split_tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, labels) of `split` as stored (after setup); UnknownSplit for an unknown one."""


@runtime_checkable
class DenseStereo(Protocol):
    """Stereo data with whole rectified pairs: what dense disparity evaluation needs."""

    def dense_pairs(self, split: str, limit: int | None = None) -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(name, left (1, C, h, w), right, disparity (h, w)) of up to `limit` images of `split`."""


@runtime_checkable
class TextSplits(Protocol):
    """Numericalized texts and their decoder: what text artifacts (attention over tokens) need."""

    def sequences(self, split: str) -> Any:  # a dlrun.data.text_batches.TokenSequences (not imported: no cycle)
        """The token ids, offsets and labels of `split`; UnknownSplit for an unknown one."""

    def decode(self, split: str, index: int) -> list[str]:
        """The tokens of text `index` of `split` as the model sees them."""


def batch_generator(seed: int, epoch: int, number: int) -> torch.Generator:
    """A CPU generator for batch `number` of `epoch` (independent of any global RNG)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_033 + number)


class EpochSeeded:
    """The resume-exact randomness and the DDP sharding every batch iterator shares:
    `set_epoch(epoch, seed)`, generators drawn from (seed, epoch[, batch number]) only, `skip`
    batches at the start of the next pass, and `shard(rank, world_size)`.

    Sharding follows torch's DistributedSampler: of the epoch's order (of samples or of batches,
    the same on every rank), each rank takes every world_size-th entry, the order wrapped around
    to a multiple of world_size so every rank gets the same count."""

    epoch: int = 0
    seed: int = 0
    skip: int = 0
    rank: int = 0
    world_size: int = 1

    def set_epoch(self, epoch: int, seed: int = 0) -> None:
        self.epoch = epoch
        self.seed = seed

    def shard(self, rank: int, world_size: int) -> None:
        """Draw only this rank's share of every epoch (see the class docstring)."""
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        self.rank, self.world_size = rank, world_size

    def rank_count(self, total: int) -> int:
        """How many of `total` entries of an epoch this rank takes."""
        return -(-total // self.world_size)

    def rank_share(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's entries of the epoch's `order` (all of it when not sharded)."""
        if self.world_size == 1 or len(order) == 0:
            return order
        padded = self.rank_count(len(order)) * self.world_size
        if padded > len(order):
            order = order.repeat(-(-padded // len(order)))[:padded]
        return order[self.rank : padded : self.world_size]

    def rank_numbers(self, total: int) -> list[int]:
        """The epoch-wide numbers of this rank's batches when an epoch has `total` batches."""
        return self.rank_share(torch.arange(total)).tolist()

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
