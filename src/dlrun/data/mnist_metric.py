"""MNIST for metric learning (course lab 4): 60000 training images as triplets (or P x K batches),
10000 test images; pixels / 255, no mean subtraction; `remove_class` leaves one digit out of training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dlrun.data.idx import read_idx
from dlrun.data.metric_sampling import PKBatches, TripletBatches
from dlrun.data.tensor_batches import TensorBatches
from dlrun.errors import DlrunError, one_line

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SAMPLERS = ("triplet", "pk")
NUM_CLASSES = 10


def find_idx_file(root: Path, name: str) -> Path | None:
    """`name` or `name.gz` in torchvision's layout (<root>/MNIST/raw) or directly in root."""
    for folder in (root / "MNIST" / "raw", root):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def download_mnist(root: Path) -> None:
    """Fetch MNIST with torchvision (its mirrors) into <root>/MNIST/raw."""
    try:
        from torchvision.datasets import MNIST

        for train in (True, False):
            MNIST(str(root), train=train, download=True)
    except Exception as err:  # network errors come in many types
        raise DlrunError(
            f"cannot download MNIST ({_shorten(one_line(err))}); put {', '.join(n for pair in FILES.values() for n in pair)} "
            f"(optionally .gz) into {root / 'MNIST' / 'raw'}"
        ) from err


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_split(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of MNIST's train or test files."""
    paths = [find_idx_file(root, name) for name in FILES[split]]
    missing = [name for name, path in zip(FILES[split], paths) if path is None]
    if missing:
        raise DlrunError(f"MNIST files not found: {', '.join(missing)} (looked in {root / 'MNIST' / 'raw'} and {root}; set dataset.download=true)")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.dim() != 3 or images.dtype != torch.uint8:
        raise DlrunError(f"{paths[0]}: expected uint8 images of shape (N, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels.dim() != 1 or len(labels) != len(images):
        raise DlrunError(f"{paths[1]}: expected {len(images)} labels, got shape {tuple(labels.shape)}")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= NUM_CLASSES):
        raise DlrunError(f"{paths[1]}: labels must be digits 0-9, found {int(labels.min())}..{int(labels.max())}")
    return images, labels.long()


class MNISTMetric:
    """Splits: 'train' (triplets or P x K batches when train=True, else (image, label) batches;
    without remove_class's digit), 'traineval' (every training image, the lab's loader for class
    means), 'val' and 'test' ((image, label) batches). With val_size=0 'val' is the test set, as in
    the lab (it prints test accuracy each epoch); with val_size>0 it is a seeded hold-out of the
    training images, which then leave 'train' and 'traineval'."""

    def __init__(
        self,
        root: str = "data",
        download: bool = True,
        remove_class: int | None = None,
        sampler: str = "triplet",
        batch_size: int = 64,
        classes_per_batch: int = 8,
        samples_per_class: int = 8,
        eval_batch_size: int = 256,
        val_size: int = 0,
        seed: int = 0,
    ) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler '{sampler}' (valid: {', '.join(SAMPLERS)})")
        if remove_class is not None and not 0 <= remove_class < NUM_CLASSES:
            raise ValueError(f"remove_class must be a digit 0-9 or null, got {remove_class}")
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError("batch_size and eval_batch_size must be >= 1")
        if sampler == "pk" and (classes_per_batch < 2 or samples_per_class < 2):
            raise ValueError(f"sampler=pk needs classes_per_batch >= 2 and samples_per_class >= 2, got {classes_per_batch} x {samples_per_class}")
        if sampler == "pk" and classes_per_batch > NUM_CLASSES - (remove_class is not None):
            raise ValueError(f"classes_per_batch={classes_per_batch} exceeds the {NUM_CLASSES - (remove_class is not None)} training classes")
        if val_size < 0:
            raise ValueError(f"val_size must be >= 0, got {val_size}")
        self.root = Path(root)
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

    def setup(self, device: torch.device) -> None:
        if self.download and any(find_idx_file(self.root, n) is None for pair in FILES.values() for n in pair):
            download_mnist(self.root)
        raw = {split: load_split(self.root, split) for split in FILES}
        images = {s: (x.float() / 255.0).unsqueeze(1) for s, (x, _) in raw.items()}
        train_x, train_y = images["train"], raw["train"][1]
        if self.val_size:
            if self.val_size >= len(train_y):
                raise DlrunError(f"dataset.val_size={self.val_size} leaves no training images (there are {len(train_y)})")
            order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(self.seed))
            held, kept = order[: self.val_size], order[self.val_size :].sort().values
            self.splits["val"] = (train_x[held], train_y[held])
            train_x, train_y = train_x[kept], train_y[kept]
        self.splits["traineval"] = (train_x, train_y)
        keep = train_y != self.remove_class if self.remove_class is not None else torch.ones_like(train_y, dtype=torch.bool)
        self.splits["train"] = (train_x[keep], train_y[keep])
        self.splits["test"] = (images["test"], raw["test"][1])
        self.splits.setdefault("val", self.splits["test"])
        self.splits = {k: (x.to(device), y.to(device)) for k, (x, y) in self.splits.items()}
        if len(self.splits["train"][1]) == 0:
            raise DlrunError("the training split is empty")

    def loader(self, split: str, train: bool = False) -> Any:
        if split not in self.splits:
            raise KeyError(f"unknown split '{split}' (valid: {', '.join(self.splits)})")
        x, y = self.splits[split]
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
