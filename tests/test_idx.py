"""The IDX reader on hand-built bytes (the MNIST format), gzip, and broken files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from dlrun.data.idx import read_idx, write_idx
from dlrun.errors import DlrunError

# magic 0x00000803 (uint8, 3 dims), dims 2 x 2 x 3 big-endian, then 12 data bytes
HAND_BUILT = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12))


def test_reads_hand_built_uint8_file(tmp_path: Path) -> None:
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(HAND_BUILT)
    tensor = read_idx(path)
    assert tensor.dtype == torch.uint8
    assert tensor.shape == (2, 2, 3)
    assert tensor[1, 0].tolist() == [6, 7, 8]


def test_reads_gzipped_file_and_big_endian_int32(tmp_path: Path) -> None:
    gz = tmp_path / "x.gz"
    gz.write_bytes(gzip.compress(HAND_BUILT))
    assert torch.equal(read_idx(gz), torch.arange(12, dtype=torch.uint8).reshape(2, 2, 3))
    labels = tmp_path / "labels"
    labels.write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + (258).to_bytes(4, "big") + (-1).to_bytes(4, "big", signed=True))
    assert read_idx(labels).tolist() == [258, -1]


@pytest.mark.parametrize("gz", [False, True])
def test_write_read_round_trip(tmp_path: Path, gz: bool) -> None:
    data = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    path = tmp_path / ("a.gz" if gz else "a")
    write_idx(path, data)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if gz else b"\x00\x00")
    assert torch.equal(read_idx(path), data)


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n", "bad magic number"),
    (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "truncated: the header"),
    (HAND_BUILT[:-1], "is truncated: shape [2, 2, 3] needs 12 data bytes, found 11"),
    (HAND_BUILT + b"\x00", "longer than its header says"),
    (gzip.compress(HAND_BUILT)[:-6], "corrupt or truncated gzip"),
])
@pytest.mark.fault('IDX file (MNIST/Fashion-MNIST) empty, truncated, wrong magic, wrong dtype', 'one-line error naming the file')
def test_bad_files_raise_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(DlrunError, match="bad") as err:
        read_idx(path)
    assert message in str(err.value)


@pytest.mark.fault('IDX file missing', 'one-line error naming the file')
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DlrunError, match="IDX file not found"):
        read_idx(tmp_path / "nope")
