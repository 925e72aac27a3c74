"""CIFAR-10 python batches: folder and tarball layouts, and refusal of corrupt or hostile files."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from dlrun.data import cifar_batches
from dlrun.errors import DlrunError
from image_files import cifar_batch_bytes, write_cifar_archive, write_cifar_folder

TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


def test_folder_batches_concatenate_in_order(tmp_path: Path) -> None:
    arrays = write_cifar_folder(tmp_path, per_batch=4)
    x, y = cifar_batches.read_folder(tmp_path / "cifar-10-batches-py", TRAIN)
    assert x.shape == (20, 3, 32, 32) and y.shape == (20,)
    assert np.array_equal(x[4:8].numpy(), arrays["data_batch_2"][0])  # rows are channel-major 3x32x32
    assert y.tolist() == sum((arrays[n][1] for n in TRAIN), [])


def test_archive_is_read_without_extracting(tmp_path: Path) -> None:
    arrays = write_cifar_archive(tmp_path, per_batch=3)
    x, y = cifar_batches.read_archive(tmp_path / "cifar-10-python.tar.gz", ["test_batch"])
    assert np.array_equal(x.numpy(), arrays["test_batch"][0]) and y.tolist() == arrays["test_batch"][1]
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-python.tar.gz"]


def test_pickle_that_calls_code_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, ("echo pwned",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DlrunError, match="data_batch_1: not a CIFAR-10 python batch .*forbidden global posix.system"):
        cifar_batches.read_folder(tmp_path, ["data_batch_1"])


@pytest.mark.fault('CIFAR-10 pickle batch truncated', 'one-line error naming the file')
def test_truncated_batch_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(cifar_batch_bytes(np.zeros((5, 3, 32, 32), np.uint8), [0] * 5)[:500])
    with pytest.raises(DlrunError, match="test_batch: not a CIFAR-10 python batch"):
        cifar_batches.read_folder(tmp_path, ["test_batch"])


def test_wrong_image_size_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(cifar_batch_bytes(np.zeros((5, 3, 28, 28), np.uint8), [0] * 5))
    with pytest.raises(DlrunError, match=r"'data' must be a uint8 array of shape \(N, 3072\)"):
        cifar_batches.read_folder(tmp_path, ["test_batch"])


def test_label_count_mismatch_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(cifar_batch_bytes(np.zeros((5, 3, 32, 32), np.uint8), [0] * 4))
    with pytest.raises(DlrunError, match="'labels' must list one class per image"):
        cifar_batches.read_folder(tmp_path, ["test_batch"])


@pytest.mark.fault('CIFAR-10 tar.gz truncated', 'one-line error naming the file')
def test_truncated_archive_is_an_error(tmp_path: Path) -> None:
    write_cifar_archive(tmp_path, per_batch=3)
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DlrunError, match="cifar-10-python.tar.gz: truncated or corrupt archive"):
        cifar_batches.read_archive(archive, TRAIN)


def test_archive_member_that_is_a_link_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(DlrunError, match="member cifar-10-batches-py/test_batch is not a regular file"):
        cifar_batches.read_archive(archive, ["test_batch"])
