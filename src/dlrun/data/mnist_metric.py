"""MNIST for metric learning (course lab 4): 60000 training images as triplets (or P x K batches),
10000 test images; pixels / 255, no mean subtraction; `remove_class` leaves one digit out of training.
The files are read (and cached, and downloaded) by the MNIST reader."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from dlrun.data.base import BaseData, pick_split
from dlrun.data.files import MissingFiles
from dlrun.data.keys import check_batch_sizes
from dlrun.data.metric_sampling import PKBatches, TripletBatches
from dlrun.data.mnist import MNIST
from dlrun.data.splits import Size, check_size, holdout
from dlrun.data.tensor_batches import TensorBatches
from dlrun.errors import DlrunError

SAMPLERS = ("triplet", "pk")
NUM_CLASSES = 10


class MNISTMetric(BaseData):
    """Splits: 'train' (triplets or P x K batches when train=True, else (image, label) batches;
    without remove_class's digit), 'traineval' (every training image, the lab's loader for class
    means), 'val' and 'test' ((image, label) batches). With val_size=0 'val' is the test set, as in
    the lab (it prints test accuracy each epoch); with val_size > 0 (a count or a fraction) it is a
    seeded hold-out of the training images, which then leave 'train' and 'traineval'.

    Files: root/MNIST/raw (torchvision's layout), root itself, or search_dirs."""

    val_size_zero_validates_on_test = True  # the lab validates on the test set

    def __init__(
        self,
        root: str | None = None,
        download: bool = True,
        mirrors: Sequence[str] | None = None,
        search_dirs: Sequence[str] = (),
        cache: bool = True,
        remove_class: int | None = None,
        sampler: str = "triplet",
        batch_size: int = 64,
        classes_per_batch: int = 8,
        samples_per_class: int = 8,
        eval_batch_size: int = 256,
        val_size: Size = 0,
        seed: int = 0,
    ) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler '{sampler}' (valid: {', '.join(SAMPLERS)})")
        if remove_class is not None and not 0 <= remove_class < NUM_CLASSES:
            raise ValueError(f"remove_class must be a digit 0-9 or null, got {remove_class}")
        check_batch_sizes(batch_size, eval_batch_size)
        if sampler == "pk" and (classes_per_batch < 2 or samples_per_class < 2):
            raise ValueError(f"sampler=pk needs classes_per_batch >= 2 and samples_per_class >= 2, got {classes_per_batch} x {samples_per_class}")
        if sampler == "pk" and classes_per_batch > NUM_CLASSES - (remove_class is not None):
            raise ValueError(f"classes_per_batch={classes_per_batch} exceeds the {NUM_CLASSES - (remove_class is not None)} training classes")
        check_size("val_size", val_size, allow_zero=True)
        self.reader = MNIST(root=root, download=download, mirrors=mirrors, cache=cache, search_dirs=search_dirs)
        self.reader.search_dirs.append(self.reader.root)  # the flat layout: the files directly in root
        self.root = self.reader.root
        self.download = download
        self.remove_class = remove_class
        self.sampler = sampler
        self.batch_size = batch_size
        self.classes_per_batch = classes_per_batch
        self.samples_per_class = samples_per_class
        self.eval_batch_size = eval_batch_size
        self.val_size = val_size
        self.seed = seed
        self.meta: dict[str, Any] = {
            "in_channels": 1,
            "input_shape": [1, 28, 28],
            "num_classes": NUM_CLASSES,
            "class_names": [str(d) for d in range(NUM_CLASSES)],
        }
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def load(self) -> dict[str, torch.Tensor]:
        """The MNIST reader's uint8 arrays (cached; downloaded when allowed)."""
        try:
            return self.reader.load_arrays()
        except MissingFiles as err:
            names = ", ".join(n.removesuffix(".gz") for n in err.names)
            where = ", ".join(str(d) for d in err.dirs)
            raise DlrunError(f"MNIST files not found: {names} (each plain or .gz; looked in {where}; {err.reason})") from err

    def setup(self, device: torch.device) -> None:
        arrays = self.load()
        train_x, train_y = arrays["train_x"].float() / 255.0, arrays["train_y"]
        splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if self.val_size:
            parts = holdout(len(train_y), {"val_size": self.val_size}, self.seed, "mnist_metric", items="images")
            held, kept = parts["val_size"], parts["rest"]
            splits["val"] = (train_x[held], train_y[held])
            train_x, train_y = train_x[kept], train_y[kept]
        splits["traineval"] = (train_x, train_y)
        keep = train_y != self.remove_class if self.remove_class is not None else torch.ones_like(train_y, dtype=torch.bool)
        splits["train"] = (train_x[keep], train_y[keep])
        splits["test"] = (arrays["test_x"].float() / 255.0, arrays["test_y"])
        splits.setdefault("val", splits["test"])
        self.splits = {k: (x.to(device), y.to(device)) for k, (x, y) in splits.items()}
        if len(self.splits["train"][1]) == 0:
            raise DlrunError("the training split is empty")

    def split_tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images in [0, 1], labels) of `split` (TensorSplits)."""
        return pick_split(self.splits, split, "mnist_metric")

    def loader(self, split: str, train: bool = False) -> Any:
        x, y = self.split_tensors(split)
        if split == "train" and train:
            try:
                if self.sampler == "pk":
                    return PKBatches(x, y, NUM_CLASSES, self.classes_per_batch, self.samples_per_class)
                return TripletBatches(x, y, NUM_CLASSES, self.batch_size, shuffle=True, drop_last=len(y) >= self.batch_size)
            except ValueError as err:
                raise DlrunError(f"dataset: {err}") from err
        return TensorBatches((x, y), self.eval_batch_size)

    def state_dict(self) -> dict[str, Any]:
        return {}
