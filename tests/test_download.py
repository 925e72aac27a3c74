"""Verified downloads (file:// URLs exercise the real streaming code offline)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dlrun.data.download import download_verified, sha256_of
from dlrun.errors import DlrunError


def _source(tmp_path: Path, data: bytes = b"review data " * 1000) -> tuple[str, str]:
    path = tmp_path / "src" / "archive.tar.gz"
    path.parent.mkdir()
    path.write_bytes(data)
    return path.as_uri(), hashlib.sha256(data).hexdigest()


def test_sha256_of_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_of(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 example


def test_download_writes_the_verified_file(tmp_path: Path) -> None:
    url, digest = _source(tmp_path)
    dest = download_verified(url, tmp_path / "data" / "archive.tar.gz", digest, progress=False)
    assert dest.read_bytes() == b"review data " * 1000
    assert [p.name for p in dest.parent.iterdir()] == ["archive.tar.gz"]  # no temp file left


def test_checksum_mismatch_leaves_no_file(tmp_path: Path) -> None:
    url, _ = _source(tmp_path)
    dest = tmp_path / "data" / "archive.tar.gz"
    with pytest.raises(DlrunError, match="checksum mismatch") as err:
        download_verified(url, dest, "0" * 64, progress=False)
    assert url in str(err.value)
    assert list(dest.parent.iterdir()) == []


def test_existing_verified_file_is_kept_and_a_corrupt_one_replaced(tmp_path: Path) -> None:
    url, digest = _source(tmp_path)
    dest = tmp_path / "archive.tar.gz"
    dest.write_bytes(b"review data " * 1000)
    mtime = dest.stat().st_mtime_ns
    download_verified("file:///nonexistent/never-read", dest, digest, progress=False)
    assert dest.stat().st_mtime_ns == mtime
    dest.write_bytes(b"truncated")
    download_verified(url, dest, digest, progress=False)
    assert sha256_of(dest) == digest


def test_unreachable_url_is_a_clear_error(tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere.tar.gz").as_uri()
    with pytest.raises(DlrunError, match="cannot download") as err:
        download_verified(missing, tmp_path / "out.tar.gz", "0" * 64, progress=False)
    assert missing in str(err.value)
    assert not (tmp_path / "out.tar.gz").exists()
