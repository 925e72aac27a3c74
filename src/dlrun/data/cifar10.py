"""CIFAR-10 (course lab 2): the python-version batches, 45k/5k from a seeded shuffle, 10k test."""

from __future__ import annotations

from pathlib import Path

import torch

from dlrun.data import cifar_batches
from dlrun.data.cifar_batches import ARCHIVE, FOLDER, TEST_FILES, TRAIN_FILES
from dlrun.data.images import ImageClassificationData
from dlrun.data.mnist import download_files
from dlrun.errors import DlrunError


class CIFAR10(ImageClassificationData):
    """32x32 colour images in 10 classes. Files: data_dir/cifar-10-batches-py/ (extracted, as
    torchvision leaves it) or data_dir/cifar-10-python.tar.gz (read without extracting)."""

    name = "cifar10"
    class_names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    image_shape = (3, 32, 32)

    default_val_split = "random"
    default_normalize = "channel"

    def look_dirs(self) -> list[Path]:
        """Folders searched for the batches folder or the tarball, in order."""
        return [self.data_dir, *self.search_dirs]

    def find_sources(self) -> list[Path] | None:
        for folder in self.look_dirs():
            batches = folder / FOLDER
            if all((batches / name).is_file() for name in TRAIN_FILES + TEST_FILES):
                return [batches / name for name in TRAIN_FILES + TEST_FILES]
            if (folder / ARCHIVE).is_file():
                return [folder / ARCHIVE]
        return None

    def fetch_sources(self) -> list[Path]:
        expected = [f"{FOLDER}/{{{','.join(TRAIN_FILES + TEST_FILES)}}}", ARCHIVE]
        hint = "pass dataset.data_dir=... or put the files in one of these folders"
        if not self.download:
            raise DlrunError(self.missing_message([" or ".join(expected)], self.look_dirs(), f"dataset.download=false; {hint}"))
        from torchvision import datasets

        cls = datasets.CIFAR10
        base, _, filename = cls.url.rpartition("/")
        try:
            download_files(self.data_dir, [base + "/"], [(filename, cls.tgz_md5)])
        except DlrunError as err:
            raise DlrunError(self.missing_message([" or ".join(expected)], self.look_dirs(), f"{err}; {hint}")) from err
        return [self.data_dir / ARCHIVE]

    def parse(self, sources: list[Path]) -> dict[str, torch.Tensor]:
        if len(sources) == 1:
            train_x, train_y = cifar_batches.read_archive(sources[0], TRAIN_FILES)
            test_x, test_y = cifar_batches.read_archive(sources[0], TEST_FILES)
        else:
            folder = sources[0].parent
            train_x, train_y = cifar_batches.read_folder(folder, TRAIN_FILES)
            test_x, test_y = cifar_batches.read_folder(folder, TEST_FILES)
        return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}
