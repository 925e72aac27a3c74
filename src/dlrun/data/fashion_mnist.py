"""Fashion-MNIST: MNIST's format and sizes with clothing classes. Also finds the files that Debian's
dataset-fashion-mnist package installs under /usr/share/datasets/fashion-mnist."""

from __future__ import annotations

from typing import Any

from dlrun.data.mnist import MNIST

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"


class FashionMNIST(MNIST):
    name = "fashion_mnist"
    folder = "FashionMNIST"
    class_names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

    default_normalize = "channel"
    default_search_dirs = (DEBIAN_DIR,)

    def torchvision_class(self) -> Any:
        from torchvision import datasets

        return datasets.FashionMNIST
