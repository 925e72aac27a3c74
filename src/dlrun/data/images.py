"""Image classification datasets held in memory as uint8 tensors (on the GPU when training there):
decoded once into a cache file, split as in the course, normalized and augmented per batch."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from dlrun.config_types import checked_options
from dlrun.data import download as downloads
from dlrun.data.augment import AugmentOptions, ImageTransform
from dlrun.data.base import BaseData, pick_split
from dlrun.data.files import RETRY_HINT, MissingFiles, data_root, expand_dirs
from dlrun.data.image_cache import load_cache, save_cache, source_signature
from dlrun.data.keys import check_batch_sizes
from dlrun.data.raw_inputs import image_inputs
from dlrun.data.splits import Size, check_size, holdout
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


class ImageClassificationData(BaseData):
    """Train/val/test splits of an image dataset: subclasses say where the files are, what to
    download and how to parse them; this class finds, fetches, caches, splits, normalizes and
    serves batches by index."""

    name = "images"
    class_names: tuple[str, ...] = ()
    image_shape: tuple[int, int, int] = (1, 28, 28)
    default_val_split = "tail"       # what val_split / normalize / search_dirs = null mean for this dataset
    default_normalize = "channel"
    default_search_dirs: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()   # the source files, as named in the missing-files error

    def __init__(
        self,
        root: str | None = None,
        download: bool = True,
        mirrors: Sequence[str] | None = None,
        val_size: Size = 5000,
        val_split: str | None = None,
        seed: int = 0,
        normalize: str | None = None,
        batch_size: int = 50,
        eval_batch_size: int = 1000,
        drop_last: bool = False,
        augment: AugmentOptions | None = None,
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
        check_size("val_size", val_size)
        if train_subset is not None and train_subset < 1:
            raise ValueError(f"train_subset must be >= 1 or null, got {train_subset}")
        check_batch_sizes(batch_size, eval_batch_size)
        self.augment = checked_options("augment", augment, AugmentOptions)
        ImageTransform([0.0], [1.0], **self.augment)  # checks the ranges before any data is loaded
        self.root = data_root(root)
        self.download = download
        self.mirrors = list(mirrors) if mirrors is not None else None
        self.val_size = val_size
        self.val_split = val_split
        self.seed = seed
        self.normalize = normalize
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.drop_last = drop_last
        self.use_cache = cache
        self.train_subset = train_subset
        self.search_dirs = expand_dirs(search_dirs)
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
    def dataset_dirs(self) -> list[Path]:
        """This dataset's own folders under root (torchvision's layout first)."""
        raise NotImplementedError

    def find_sources(self) -> list[Path] | None:
        """The source files when all are present in one of `look_dirs()`, else None (no download here)."""
        raise NotImplementedError

    def resources(self) -> list[tuple[str, str]]:
        """(file name, md5) of each file to download (the official ones, from torchvision)."""
        raise NotImplementedError

    def default_mirrors(self) -> list[str]:
        """The official base URLs (used when dataset.mirrors is null)."""
        raise NotImplementedError

    def parse(self, sources: list[Path]) -> dict[str, torch.Tensor]:
        """{train_x, train_y, test_x, test_y}: uint8 images (N, C, H, W) and int64 labels."""
        raise NotImplementedError

    # -- file lookup, download and cache -----------------------------------------------------
    def look_dirs(self) -> list[Path]:
        """Folders searched for the files, in order: the dataset's own, then search_dirs."""
        return [*self.dataset_dirs(), *self.search_dirs]

    @property
    def download_dir(self) -> Path:
        """Where a download puts the files (the first of the dataset's own folders)."""
        return self.dataset_dirs()[0]

    @property
    def cache_path(self) -> Path:
        """Where the decoded uint8 tensors are cached."""
        return self.root / "dlrun_cache" / f"{self.name}.pt"

    def fetch_sources(self) -> list[Path]:
        """Download the files from the mirrors into `download_dir` (each verified) and return them."""
        dirs = self.look_dirs()
        if not self.download:
            raise MissingFiles(self.name, self.expected, dirs, f"dataset.download=false; {RETRY_HINT}")
        mirrors = self.mirrors if self.mirrors is not None else self.default_mirrors()
        for filename, md5 in self.resources():
            try:
                downloads.fetch(filename, self.download_dir, mirrors, md5=md5)
            except DlrunError as err:
                detail = str(err).removeprefix(f"cannot download {filename}: ")
                raise MissingFiles(self.name, self.expected, dirs, f"download of {filename} failed: {detail}; {RETRY_HINT}") from err
        sources = self.find_sources()
        if sources is None:
            raise MissingFiles(self.name, self.expected, dirs, "the download left them incomplete")
        return sources

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
                raise DlrunError(f"{self.name}: {split} has {len(x)} images, so expected {len(x)} labels, found {len(y)}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(self.class_names)):
                raise DlrunError(f"{self.name}: {split} labels must be in 0..{len(self.class_names) - 1}")

    # -- DataModule --------------------------------------------------------------------------
    def setup(self, device: torch.device) -> None:
        arrays = self.load_arrays()
        train_x, train_y = arrays["train_x"], arrays["train_y"].long()
        seed = self.seed if self.val_split == "random" else None
        parts = holdout(len(train_x), {"val_size": self.val_size}, seed, self.name, items="images")
        train_idx, val_idx = parts["rest"], parts["val_size"]
        if self.train_subset is not None:
            train_idx = train_idx[: self.train_subset]
        split_arrays = {
            "train": (train_x[train_idx], train_y[train_idx]),
            "val": (train_x[val_idx], train_y[val_idx]),
            "test": (arrays["test_x"], arrays["test_y"].long()),
        }
        mean, std = self.statistics(split_arrays["train"][0])
        self.meta.update({"mean": mean, "std": std, "split_sizes": {k: len(v[1]) for k, v in split_arrays.items()}})
        self.splits = {k: (x.contiguous().to(device), y.to(device)) for k, (x, y) in split_arrays.items()}
        self.train_transform = ImageTransform(mean, std, **self.augment).to(device)
        self.eval_transform = ImageTransform(mean, std).to(device)

    def statistics(self, train_images: torch.Tensor) -> tuple[list[float], list[float]]:
        """Normalization mean and std per channel (in [0, 1] units) from the training split only."""
        channels = train_images.shape[1]
        if self.normalize == "channel":
            return pixel_statistics(train_images)
        if self.normalize == "scalar":
            return [scalar_mean(train_images)] * channels, [1.0] * channels
        return [0.0] * channels, [1.0] * channels

    def split_tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images, labels) of `split` (TensorSplits)."""
        if not self.splits:
            raise RuntimeError("call setup() before split_tensors()")
        return pick_split(self.splits, split, self.name)

    def loader(self, split: str, train: bool = False) -> TensorBatches:
        """Batches of `split`; train=True shuffles per (seed, epoch) and augments."""
        tensors = self.split_tensors(split)
        if train:
            return TensorBatches(tensors, self.batch_size, shuffle=True, drop_last=self.drop_last, transform=self.train_transform)
        return TensorBatches(tensors, self.eval_batch_size, transform=self.eval_transform)

    def state_dict(self) -> dict[str, Any]:
        """What predicting needs without the files: class names, input shape and normalisation
        (the files and the split seed rebuild the rest exactly)."""
        return {k: self.meta[k] for k in ("class_names", "input_shape", "mean", "std") if k in self.meta}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Meta from a checkpoint: before setup on resume and eval, instead of it for predict."""
        if "input_shape" in state:
            c, h, w = (int(v) for v in state["input_shape"])
            self.image_shape = (c, h, w)
            self.meta.update({"in_channels": c, "image_size": [h, w], "input_shape": [c, h, w], "in_features": c * h * w})
        if "class_names" in state:
            self.class_names = tuple(state["class_names"])
            self.meta.update({"class_names": list(self.class_names), "num_classes": len(self.class_names)})
        self.meta.update({k: list(state[k]) for k in ("mean", "std") if k in state})

    def predict_inputs(self, source: Path) -> tuple[list[str], tuple[torch.Tensor, ...]]:
        """(names, model inputs) for an image file or folder, preprocessed as the eval split is (RawInputs)."""
        if "mean" not in self.meta:
            raise DlrunError("the checkpoint holds no normalisation statistics (written by an older dlrun?); retrain to predict")
        names, images = image_inputs(source, self.meta["input_shape"], self.meta["mean"], self.meta["std"])
        return names, (images,)
