"""MNIST (course labs 1-2): IDX files from torchvision's mirrors, 55k/5k/10k split as in the lab.
The one MNIST-format reader: Fashion-MNIST and the metric-learning MNIST read through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dlrun.data.files import find_files
from dlrun.data.idx import read_idx
from dlrun.data.images import ImageClassificationData
from dlrun.errors import DlrunError

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_uint8_idx(path: Path, ndim: int) -> torch.Tensor:
    """An IDX file that must hold uint8 values in `ndim` dimensions (3: images, 1: labels)."""
    array = read_idx(path)
    if array.dtype != torch.uint8 or array.dim() != ndim:
        kind = "images (N, H, W)" if ndim == 3 else "labels (N,)"
        raise DlrunError(f"{path}: expected uint8 {kind}, found {array.dtype} of shape {list(array.shape)} (a different file under this name?)")
    return array


class MNIST(ImageClassificationData):
    """Handwritten digits, 28x28 grey. Files: root/MNIST/raw/ (torchvision's layout) or any of
    search_dirs, each plain or .gz; download fetches them into root/MNIST/raw."""

    name = "mnist"
    folder = "MNIST"
    class_names = tuple(str(d) for d in range(10))
    image_shape = (1, 28, 28)
    expected = tuple(f"{n}.gz" for n in IDX_FILES)

    default_val_split = "tail"
    default_normalize = "scalar"

    @property
    def raw_dir(self) -> Path:
        """torchvision's folder for the files (where a download puts them)."""
        return self.root / self.folder / "raw"

    def dataset_dirs(self) -> list[Path]:
        return [self.raw_dir]

    def find_sources(self) -> list[Path] | None:
        return find_files(self.look_dirs(), IDX_FILES, suffixes=(".gz", ""))

    def torchvision_class(self) -> Any:
        """The torchvision dataset class whose mirrors and MD5s are the official ones."""
        from torchvision import datasets

        return datasets.MNIST

    def resources(self) -> list[tuple[str, str]]:
        return list(self.torchvision_class().resources)

    def default_mirrors(self) -> list[str]:
        return list(self.torchvision_class().mirrors)

    def parse(self, sources: list[Path]) -> dict[str, torch.Tensor]:
        train_x, train_y, test_x, test_y = (read_uint8_idx(p, ndim) for p, ndim in zip(sources, (3, 1, 3, 1)))
        return {"train_x": train_x.unsqueeze(1), "train_y": train_y.long(), "test_x": test_x.unsqueeze(1), "test_y": test_y.long()}
