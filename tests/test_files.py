"""File lookup: the data root (DLRUN_DATA_DIR), the first folder holding all files, the missing-files error."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrun.data.files import MissingFiles, data_root, find_files, first_dir


def test_data_root_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DLRUN_DATA_DIR", raising=False)
    assert data_root(None) == Path("data")
    monkeypatch.setenv("DLRUN_DATA_DIR", str(tmp_path))
    assert data_root(None) == tmp_path
    assert data_root("elsewhere") == Path("elsewhere")  # an explicit root wins
    assert data_root("~/x") == Path.home() / "x"


def test_find_files_takes_the_first_folder_holding_all_names(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "one.gz").write_bytes(b"")  # a has only one of the two files
    (b / "one").write_bytes(b"")
    (b / "two.gz").write_bytes(b"")
    (b / "two").write_bytes(b"")
    assert find_files([a, b], ["one", "two"], suffixes=(".gz", "")) == [b / "one", b / "two.gz"]
    assert find_files([a], ["one", "two"], suffixes=(".gz", "")) is None
    assert find_files([a, b], ["one"]) == [b / "one"]  # no suffixes: the exact name only


def test_first_dir_and_the_missing_files_message(tmp_path: Path) -> None:
    (tmp_path / "y").mkdir()
    assert first_dir([tmp_path / "x", tmp_path / "y"], Path.is_dir) == tmp_path / "y"
    assert first_dir([tmp_path / "x"], Path.is_dir) is None
    err = MissingFiles("mnist", ["a.gz", "b.gz"], [tmp_path / "x", tmp_path / "y"], "dataset.download=false")
    assert str(err) == f"mnist: cannot find a.gz, b.gz in {tmp_path / 'x'}, {tmp_path / 'y'} (dataset.download=false)"
    assert err.names == ["a.gz", "b.gz"] and err.reason == "dataset.download=false"
