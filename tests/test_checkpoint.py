"""Checkpoint digests: recorded on save, checked on load; a flipped tensor byte is 'corrupted'."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
import torch

from dlrun.checkpoint import content_digest, load_checkpoint, save_checkpoint
from dlrun.errors import DlrunError


def test_digest_is_sha256_of_keys_dtypes_shapes_and_bytes() -> None:
    expected = hashlib.sha256()
    for part in (b"D1", b"'a'", b"Ttorch.float32(2,)", torch.tensor([1.0, 2.0]).numpy().tobytes()):
        expected.update(part)
    assert content_digest({"a": torch.tensor([1.0, 2.0])}) == expected.hexdigest()
    assert content_digest({"a": torch.tensor([1.0, 2.0])}) != content_digest({"a": torch.tensor([1.0, 2.5])})
    assert content_digest({"a": 1, "b": [1, "x"]}) == content_digest({"b": [1, "x"], "a": 1})  # key order free


def test_round_trip_verifies(tmp_path: Path) -> None:
    state = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "epoch": 3, "rng": (1, 2), "config": {"seed": 1}}
    save_checkpoint(state, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(loaded["model"]["w"], state["model"]["w"]) and loaded["epoch"] == 3


def flip_tensor_byte(path: Path) -> None:
    """Flip one byte of a tensor's storage and rewrite the zip with valid CRCs (only the data changed)."""
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w") as zout:
        for info, data in entries:
            if "/data/" in info.filename and not info.filename.endswith(".pkl") and data:
                data = bytes([data[0] ^ 0x01]) + data[1:]
            zout.writestr(info, data)


@pytest.mark.fault("a checkpoint whose tensor bytes were flipped (zip still valid)", "one-line 'corrupted' error")
def test_flipped_tensor_byte_is_corrupted(tmp_path: Path) -> None:
    save_checkpoint({"model": {"w": torch.ones(4)}}, tmp_path / "c.pt")
    flip_tensor_byte(tmp_path / "c.pt")
    assert zipfile.is_zipfile(tmp_path / "c.pt")
    with pytest.raises(DlrunError, match=r"is corrupted: its contents do not match the sha256"):
        load_checkpoint(tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt", verify=False)["model"]["w"][0].item() != 1.0  # the flip is real
