"""Tiny datasets written byte for byte in the real on-disk formats (IDX, CIFAR-10 python batches),
so the real parsers run in tests without a download."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding: 0x00 0x00, type 0x08 (ubyte), ndim, big-endian int32 dims, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    data = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def mnist_arrays(n_train: int, n_test: int, size: int = 28) -> dict[str, np.ndarray]:
    """Images whose every pixel is (i % 4) * 60 for image i, labels i % 10."""
    def images(n: int) -> np.ndarray:
        values = (np.arange(n) % 4) * 60
        return np.broadcast_to(values[:, None, None], (n, size, size)).astype(np.uint8).copy()

    return {
        "train-images-idx3-ubyte": images(n_train),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": images(n_test),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_mnist(folder: Path, n_train: int = 40, n_test: int = 30, compress: bool = True) -> dict[str, np.ndarray]:
    """The four MNIST IDX files in `folder` (.gz unless compress=False); returns the arrays."""
    arrays = mnist_arrays(n_train, n_test)
    for name, array in arrays.items():
        write_idx(folder / name, array, compress)
    return arrays


def cifar_batch_bytes(images: np.ndarray, labels: list[int]) -> bytes:
    """One batch as CIFAR-10's python version stores it: a protocol-2 pickle of a dict with bytes keys."""
    batch = {
        b"batch_label": b"testing batch",
        b"labels": list(labels),
        b"data": np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    return pickle.dumps(batch, protocol=2)


def cifar_arrays(per_batch: int, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Random images (N, 3, 32, 32) and labels for data_batch_1..5 and test_batch."""
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {n: (rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, per_batch)]) for n in names}


def write_cifar_folder(root: Path, per_batch: int = 10) -> dict[str, tuple[np.ndarray, list[int]]]:
    """root/cifar-10-batches-py/{data_batch_1..5,test_batch}."""
    arrays = cifar_arrays(per_batch)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in arrays.items():
        (folder / name).write_bytes(cifar_batch_bytes(images, labels))
    return arrays


def write_cifar_archive(root: Path, per_batch: int = 10) -> dict[str, tuple[np.ndarray, list[int]]]:
    """root/cifar-10-python.tar.gz with the batches under cifar-10-batches-py/."""
    arrays = cifar_arrays(per_batch)
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, (images, labels) in arrays.items():
            data = cifar_batch_bytes(images, labels)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return arrays


def write_tree(root: Path, per_class: int = 6, size: int = 8, colour: bool = True, splits: tuple[str, ...] = ("train",)) -> None:
    """Classes 'cat' (dark images) and 'dog' (bright images); every third file RGB, the rest greyscale;
    PNG, JPEG and BMP mixed."""
    for split in splits:
        for label, (name, level) in enumerate((("cat", 40), ("dog", 200))):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                value = np.full((size, size), level + i, dtype=np.uint8)
                image = Image.fromarray(np.stack([value] * 3, -1)) if colour and i % 3 == 0 else Image.fromarray(value)
                suffix = (".png", ".bmp", ".png")[i % 3]
                image.save(folder / f"{i:03d}{suffix}")
