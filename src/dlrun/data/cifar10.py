"""CIFAR-10 (course lab 2): the python-version batches, 45k/5k from a seeded shuffle, 10k test."""

from __future__ import annotations

from pathlib import Path

import torch

from dlrun.data import cifar_batches
from dlrun.data.cifar_batches import ARCHIVE, FOLDER, TEST_FILES, TRAIN_FILES
from dlrun.data.files import find_files
from dlrun.data.images import ImageClassificationData


class CIFAR10(ImageClassificationData):
    """32x32 colour images in 10 classes. Files: root/cifar-10-batches-py/ (extracted, as
    torchvision leaves it) or root/cifar-10-python.tar.gz (read without extracting), or the
    same in one of search_dirs."""

    name = "cifar10"
    class_names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    image_shape = (3, 32, 32)
    expected = (f"{FOLDER}/{{{','.join(TRAIN_FILES + TEST_FILES)}}} or {ARCHIVE}",)

    default_val_split = "random"
    default_normalize = "channel"

    def dataset_dirs(self) -> list[Path]:
        return [self.root]

    def find_sources(self) -> list[Path] | None:
        for folder in self.look_dirs():
            found = find_files([folder / FOLDER], TRAIN_FILES + TEST_FILES) or find_files([folder], [ARCHIVE])
            if found:
                return found
        return None

    def resources(self) -> list[tuple[str, str]]:
        from torchvision import datasets

        return [(ARCHIVE, datasets.CIFAR10.tgz_md5)]

    def default_mirrors(self) -> list[str]:
        from torchvision import datasets

        return [datasets.CIFAR10.url.rpartition("/")[0]]

    def parse(self, sources: list[Path]) -> dict[str, torch.Tensor]:
        if len(sources) == 1:
            train_x, train_y = cifar_batches.read_archive(sources[0], TRAIN_FILES)
            test_x, test_y = cifar_batches.read_archive(sources[0], TEST_FILES)
        else:
            folder = sources[0].parent
            train_x, train_y = cifar_batches.read_folder(folder, TRAIN_FILES)
            test_x, test_y = cifar_batches.read_folder(folder, TEST_FILES)
        return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}
