"""Image classification datasets held in memory as uint8 tensors (on the GPU when training there):
decoded once into a cache file, split as in the course, normalized and augmented per batch."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from dlrun.data.augment import ImageTransform
from dlrun.data.image_cache import load_cache, save_cache, source_signature
from dlrun.data.tensor_batches import TensorBatches
from dlrun.errors import DlrunError

NORMALIZATIONS = ("channel", "scalar", "none")
VAL_SPLITS = ("tail", "random")


def pixel_statistics(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Exact per-channel mean and (population) std of uint8 images (N, C, H, W) in [0, 1] units,
    from a 256-bin histogram per channel (no float copy of the data)."""
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].reshape(-1).long(), minlength=256).double().cpu()
        total = counts.sum()
        mean = (counts * values).sum() / total
        var = (counts * (values - mean) ** 2).sum() / total
        means.append(float(mean / 255))
        stds.append(float(var.sqrt() / 255))
    return means, stds


def scalar_mean(images: torch.Tensor) -> float:
    """Mean of all pixels of all channels in [0, 1] units (course lab 2: one scalar for MNIST)."""
    counts = torch.bincount(images.reshape(-1).long(), minlength=256).double()
    return float((counts * torch.arange(256, dtype=torch.float64)).sum() / counts.sum() / 255)


class ImageClassificationData:
    """Train/val/test splits of an image dataset: subclasses say where the files are and how to
    parse them; this class caches, splits, normalizes and serves batches by index."""

    name = "images"
    class_names: tuple[str, ...] = ()
    image_shape: tuple[int, int, int] = (1, 28, 28)
    default_val_split = "tail"       # what val_split / normalize / search_dirs = null mean for this dataset
    default_normalize = "channel"
    default_search_dirs: tuple[str, ...] = ()

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = True,
        val_size: int = 5000,
        val_split: str | None = None,
        split_seed: int = 0,
        normalize: str | None = None,
        batch_size: int = 50,
        eval_batch_size: int = 1000,
        drop_last: bool = False,
        augment: Mapping[str, Any] | None = None,
        cache: bool = True,
        search_dirs: Sequence[str] | None = None,
        train_subset: int | None = None,
    ) -> None:
        normalize = normalize or self.default_normalize
        val_split = val_split or self.default_val_split
        search_dirs = self.default_search_dirs if search_dirs is None else search_dirs
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"unknown normalize '{normalize}' (valid: {', '.join(NORMALIZATIONS)})")
        if val_split not in VAL_SPLITS:
            raise ValueError(f"unknown val_split '{val_split}' (valid: {', '.join(VAL_SPLITS)})")
        if val_size < 1:
            raise ValueError(f"val_size must be >= 1, got {val_size}")
        if train_subset is not None and train_subset < 1:
            raise ValueError(f"train_subset must be >= 1 or null, got {train_subset}")
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"batch_size and eval_batch_size must be >= 1, got {batch_size} and {eval_batch_size}")
        augment = dict(augment or {})
        unknown = set(augment) - {"crop_padding", "hflip"}
        if unknown:
            raise ValueError(f"unknown augment keys {sorted(unknown)} (valid: crop_padding, hflip)")
        self.crop_padding = int(augment.get("crop_padding") or 0)
        self.hflip = bool(augment.get("hflip") or False)
        if self.crop_padding < 0:
            raise ValueError(f"augment.crop_padding must be >= 0, got {self.crop_padding}")
        self.data_dir = Path(os.path.expanduser(str(data_dir)))
        self.download = download
        self.val_size = val_size
        self.val_split = val_split
        self.split_seed = split_seed
        self.normalize = normalize
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.drop_last = drop_last
        self.use_cache = cache
        self.train_subset = train_subset
        self.search_dirs = [Path(os.path.expanduser(str(d))) for d in search_dirs]
        c, h, w = self.image_shape
        self.meta: dict[str, Any] = {
            "in_channels": c,
            "image_size": [h, w],
            "input_shape": [c, h, w],
            "in_features": c * h * w,
            "num_classes": len(self.class_names),
            "class_names": list(self.class_names),
        }
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.train_transform: ImageTransform | None = None
        self.eval_transform: ImageTransform | None = None

    # -- what subclasses provide -------------------------------------------------------------
    def find_sources(self) -> list[Path] | None:
        """The source files when all are present, else None (no download here)."""
        raise NotImplementedError

    def fetch_sources(self) -> list[Path]:
        """Download the sources into data_dir and return them; DlrunError when that fails."""
        raise NotImplementedError

    def parse(self, sources: list[Path]) -> dict[str, torch.Tensor]:
        """{train_x, train_y, test_x, test_y}: uint8 images (N, C, H, W) and int64 labels."""
        raise NotImplementedError

    @property
    def cache_path(self) -> Path:
        """Where the decoded uint8 tensors are cached."""
        return self.data_dir / "dlrun_cache" / f"{self.name}.pt"

    # -- loading -----------------------------------------------------------------------------
    def load_arrays(self) -> dict[str, torch.Tensor]:
        """The decoded dataset: from the cache when it matches the sources, else parsed (and cached)."""
        sources = self.find_sources()
        if self.use_cache:
            cached = load_cache(self.cache_path, source_signature(sources) if sources else None)
            if cached is not None:
                return cached
        if sources is None:
            sources = self.fetch_sources()
        arrays = self.parse(sources)
        self.check_arrays(arrays)
        if self.use_cache and not save_cache(self.cache_path, arrays, source_signature(sources)):
            print(f"dlrun: note: cannot write the data cache {self.cache_path} (parsing again next time)", file=sys.stderr)
        return arrays

    def check_arrays(self, arrays: dict[str, torch.Tensor]) -> None:
        """Images and labels agree in count and shape, and labels name known classes."""
        for split in ("train", "test"):
            x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
            if tuple(x.shape[1:]) != self.image_shape:
                raise DlrunError(f"{self.name}: {split} images have shape {tuple(x.shape[1:])}, expected {self.image_shape}")
            if len(x) != len(y):
                raise DlrunError(f"{self.name}: {split} has {len(x)} images but {len(y)} labels")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(self.class_names)):
                raise DlrunError(f"{self.name}: {split} labels must be in 0..{len(self.class_names) - 1}")

    def setup(self, device: torch.device) -> None:
        arrays = self.load_arrays()
        train_x, train_y = arrays["train_x"], arrays["train_y"].long()
        if self.val_size >= len(train_x):
            raise DlrunError(f"{self.name}: val_size {self.val_size} leaves no training images (the train file has {len(train_x)})")
        if self.val_split == "tail":
            train_idx = torch.arange(len(train_x) - self.val_size)
            val_idx = torch.arange(len(train_x) - self.val_size, len(train_x))
        else:
            order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(self.split_seed))
            train_idx, val_idx = order[self.val_size :], order[: self.val_size]
        if self.train_subset is not None:
            train_idx = train_idx[: self.train_subset]
        parts = {
            "train": (train_x[train_idx], train_y[train_idx]),
            "val": (train_x[val_idx], train_y[val_idx]),
            "test": (arrays["test_x"], arrays["test_y"].long()),
        }
        mean, std = self.statistics(parts["train"][0])
        self.meta.update({"mean": mean, "std": std, "split_sizes": {k: len(v[1]) for k, v in parts.items()}})
        self.splits = {k: (x.contiguous().to(device), y.to(device)) for k, (x, y) in parts.items()}
        self.train_transform = ImageTransform(mean, std, self.crop_padding, self.hflip).to(device)
        self.eval_transform = ImageTransform(mean, std).to(device)

    def statistics(self, train_images: torch.Tensor) -> tuple[list[float], list[float]]:
        """Normalization mean and std per channel (in [0, 1] units) from the training split only."""
        channels = train_images.shape[1]
        if self.normalize == "channel":
            return pixel_statistics(train_images)
        if self.normalize == "scalar":
            return [scalar_mean(train_images)] * channels, [1.0] * channels
        return [0.0] * channels, [1.0] * channels

    def loader(self, split: str, train: bool = False) -> TensorBatches:
        """Batches of `split`; train=True shuffles per (seed, epoch) and augments."""
        if not self.splits:
            raise RuntimeError("call setup() before loader()")
        if split not in self.splits:
            raise DlrunError(f"{self.name}: unknown split '{split}' (valid: {', '.join(self.splits)})")
        if train:
            return TensorBatches(self.splits[split], self.batch_size, shuffle=True, drop_last=self.drop_last, transform=self.train_transform)
        return TensorBatches(self.splits[split], self.eval_batch_size, transform=self.eval_transform)

    def state_dict(self) -> dict[str, Any]:
        """Nothing to carry: the files, split seed and statistics rebuild the data exactly."""
        return {}

    # -- helpers for subclasses --------------------------------------------------------------
    def missing_message(self, names: Sequence[str], dirs: Sequence[Path], reason: str) -> str:
        """One line naming the expected files and where they were looked for."""
        where = ", ".join(str(d) for d in dirs)
        return f"{self.name}: cannot find {', '.join(names)} in {where} ({reason})"
