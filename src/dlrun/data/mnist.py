"""MNIST (course labs 1-2): IDX files from torchvision's mirrors, 55k/5k/10k split as in the lab."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import torch

from dlrun.data.idx import read_idx
from dlrun.data.images import ImageClassificationData
from dlrun.errors import DlrunError, one_line

DOWNLOAD_TIMEOUT_S = 60
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def read_uint8_idx(path: Path, ndim: int) -> torch.Tensor:
    """An IDX file that must hold uint8 values in `ndim` dimensions (3: images, 1: labels)."""
    array = read_idx(path)
    if array.dtype != torch.uint8 or array.dim() != ndim:
        kind = "images (N, H, W)" if ndim == 3 else "labels (N,)"
        raise DlrunError(f"{path}: expected uint8 {kind}, found {array.dtype} of shape {list(array.shape)} (a different file under this name?)")
    return array


def find_idx_files(dirs: list[Path]) -> list[Path] | None:
    """The four IDX files from the first folder that has all of them (each plain or .gz)."""
    for folder in dirs:
        found = []
        for name in IDX_FILES:
            candidates = [folder / f"{name}.gz", folder / name]
            hit = next((p for p in candidates if p.is_file()), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return found
    return None


def download_files(folder: Path, mirrors: list[str], resources: list[tuple[str, str]]) -> None:
    """Fetch each (file name, md5) from the first mirror that serves it, into `folder` (a stalled
    connection fails after DOWNLOAD_TIMEOUT_S instead of hanging)."""
    from torchvision.datasets.utils import download_url

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        _download_all(folder, mirrors, resources, download_url)
    finally:
        socket.setdefaulttimeout(previous)


def _download_all(folder: Path, mirrors: list[str], resources: list[tuple[str, str]], download_url: Any) -> None:
    """Each missing file from the first mirror that serves it; a partial file is removed on failure."""
    for filename, md5 in resources:
        target = folder / filename
        if target.is_file():
            continue
        errors = []
        for mirror in mirrors:
            try:
                download_url(f"{mirror}{filename}", root=str(folder), filename=filename, md5=md5)
                break
            except Exception as err:  # URLError, HTTPError, timeouts, md5 mismatch: try the next mirror
                target.unlink(missing_ok=True)
                errors.append(one_line(err))
        else:
            raise DlrunError(f"download of {filename} failed: {errors[-1] if errors else 'no mirror'}")


class MNIST(ImageClassificationData):
    """Handwritten digits, 28x28 grey. Files: data_dir/MNIST/raw/ (torchvision's layout) or any of
    search_dirs; download fetches them there."""

    name = "mnist"
    folder = "MNIST"
    class_names = tuple(str(d) for d in range(10))
    image_shape = (1, 28, 28)

    default_val_split = "tail"
    default_normalize = "scalar"

    @property
    def raw_dir(self) -> Path:
        """torchvision's folder for the files (where a download puts them)."""
        return self.data_dir / self.folder / "raw"

    def look_dirs(self) -> list[Path]:
        """Folders searched for the four IDX files, in order."""
        return [self.raw_dir, *self.search_dirs]

    def find_sources(self) -> list[Path] | None:
        return find_idx_files(self.look_dirs())

    def torchvision_class(self) -> Any:
        """The torchvision dataset class whose mirrors and MD5s the download uses."""
        from torchvision import datasets

        return datasets.MNIST

    def fetch_sources(self) -> list[Path]:
        names = [f"{n}.gz" for n in IDX_FILES]
        hint = "pass dataset.data_dir=... or put the files in one of these folders"
        if not self.download:
            raise DlrunError(self.missing_message(names, self.look_dirs(), f"dataset.download=false; {hint}"))
        cls = self.torchvision_class()
        try:
            download_files(self.raw_dir, list(cls.mirrors), list(cls.resources))
        except DlrunError as err:
            raise DlrunError(self.missing_message(names, self.look_dirs(), f"{err}; {hint}")) from err
        sources = self.find_sources()
        if sources is None:
            raise DlrunError(self.missing_message(names, self.look_dirs(), "the download left them incomplete"))
        return sources

    def parse(self, sources: list[Path]) -> dict[str, torch.Tensor]:
        train_x, train_y, test_x, test_y = (read_uint8_idx(p, ndim) for p, ndim in zip(sources, (3, 1, 3, 1)))
        return {"train_x": train_x.unsqueeze(1), "train_y": train_y.long(), "test_x": test_x.unsqueeze(1), "test_y": test_y.long()}
