"""IDX parsing (MNIST / Fashion-MNIST files): valid files, and one clear error for each kind of bad file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from dlrun.data.idx import read_idx
from dlrun.errors import DlrunError
from image_files import idx_bytes, write_idx


@pytest.mark.parametrize("compress", [True, False])
def test_reads_images_and_labels(tmp_path: Path, compress: bool) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    x = read_idx(write_idx(tmp_path / "img-idx3-ubyte", images, compress), ndim=3)
    y = read_idx(write_idx(tmp_path / "lab-idx1-ubyte", labels, compress), ndim=1)
    assert x.dtype == torch.uint8 and x.shape == (2, 3, 4)
    assert x[1, 2, 3].item() == 23 and x[0, 0, 1].item() == 1
    assert y.tolist() == [7, 1]


def test_header_bytes_match_the_published_magic_numbers() -> None:
    # MNIST's documented magic numbers: 2051 (0x00000803) for images, 2049 (0x00000801) for labels.
    assert idx_bytes(np.zeros((1, 1, 1), np.uint8))[:4] == (2051).to_bytes(4, "big")
    assert idx_bytes(np.zeros(1, np.uint8))[:4] == (2049).to_bytes(4, "big")


def test_wrong_magic_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x0d\x03" + b"\x00" * 40)  # type 0x0d = float, not ubyte
    with pytest.raises(DlrunError, match=r"t10k-images-idx3-ubyte: not an IDX file .*magic 00 00 0d 03, expected 00 00 08 03"):
        read_idx(path, ndim=3)


def test_labels_file_given_as_images_is_refused(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", np.zeros(5, np.uint8))
    with pytest.raises(DlrunError, match="expected 00 00 08 03"):
        read_idx(path, ndim=3)


def test_truncated_data_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((10, 28, 28), np.uint8))[:-100])
    with pytest.raises(DlrunError, match=r"IDX data has 7740 bytes, the header \[10, 28, 28\] says 7840"):
        read_idx(path, ndim=3)


def test_truncated_gzip_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(1000, np.uint8)))[:30])
    with pytest.raises(DlrunError, match="train-labels-idx1-ubyte.gz: truncated or corrupt gzip file"):
        read_idx(path, ndim=1)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(b"")
    with pytest.raises(DlrunError, match="truncated IDX file"):
        read_idx(path, ndim=1)
