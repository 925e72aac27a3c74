"""IMDB (aclImdb layout): reading, seeded validation split, download + safe extraction, offline errors."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest
import torch

from dlrun.data.imdb import IMDB
from dlrun.errors import DlrunError
from text_corpus import write_aclimdb


def _imdb(root: Path, **kwargs) -> IMDB:
    kwargs.setdefault("download", False)
    data = IMDB(root=str(root), **kwargs)
    data.setup(torch.device("cpu"))
    return data


def test_reads_the_tree_with_labels_and_a_seeded_validation_split(tmp_path: Path) -> None:
    write_aclimdb(tmp_path, {"train": 20, "test": 10})
    data = _imdb(tmp_path, val_size=0.25, seed=5)
    sizes = {s: len(data.splits[s]) for s in ("train", "val", "test")}
    assert sizes == {"train": 30, "val": 10, "test": 20}
    assert data.meta["class_names"] == ["positive", "negative"] and data.meta["num_classes"] == 2
    assert data.splits["test"].labels.tolist() == [0] * 10 + [1] * 10  # pos files first, then neg
    again = _imdb(tmp_path, val_size=0.25, seed=5)
    other = _imdb(tmp_path, val_size=0.25, seed=6)
    assert torch.equal(again.splits["val"].tokens, data.splits["val"].tokens)
    assert not torch.equal(other.splits["val"].tokens, data.splits["val"].tokens)


def test_validation_is_disjoint_from_train_and_vocab_ignores_it(tmp_path: Path) -> None:
    folder = write_aclimdb(tmp_path, {"train": 4, "test": 2})
    (folder / "train" / "pos" / "0_9.txt").write_text("Zyzzyva zyzzyva zyzzyva!")
    texts = {}
    for seed in range(20):  # find a seed that puts the zyzzyva review into validation
        data = _imdb(tmp_path, val_size=0.25, seed=seed)
        texts = {s: [" ".join(data.decode(s, i)) for i in range(len(data.splits[s]))] for s in ("train", "val")}
        if "<UNK> <UNK> <UNK> !" in texts["val"]:
            break
    assert "<UNK> <UNK> <UNK> !" in texts["val"]
    assert not any("zyzzyva" in t for t in texts["train"])
    assert len(set(texts["train"]) & set(texts["val"])) <= 1  # only accidental duplicate texts could overlap


@pytest.mark.fault('IMDB review empty or with invalid UTF-8 bytes', 'loads (bytes replaced), no crash')
def test_html_breaks_empty_reviews_and_bad_bytes(tmp_path: Path) -> None:
    folder = write_aclimdb(tmp_path, {"train": 3, "test": 1})
    next((folder / "test" / "pos").glob("0_*.txt")).write_bytes(b"")
    next((folder / "test" / "neg").glob("0_*.txt")).write_bytes(b"Bad<br /><br />\xff\xfeMovie")
    data = _imdb(tmp_path, val_size=0.34)
    assert data.decode("test", 0) == []
    assert data.decode("test", 1) == ["bad", "<UNK>", "<UNK>", "movie"]  # <br /> gone; each bad byte is a U+FFFD token
    tokens, lengths, labels = next(iter(data.loader("test")))
    assert lengths.tolist()[0] == 1 and labels.tolist() == [0, 1]


def test_max_len_truncates(tmp_path: Path) -> None:
    write_aclimdb(tmp_path, {"train": 5, "test": 2})
    data = _imdb(tmp_path, max_len=3)
    assert int(data.splits["train"].lengths.max()) <= 3


def _archive_of(tree_root: Path, archive: Path) -> str:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree_root / "aclImdb", arcname="aclImdb")
    return hashlib.sha256(archive.read_bytes()).hexdigest()


def test_downloads_verifies_and_extracts_when_missing(tmp_path: Path) -> None:
    write_aclimdb(tmp_path / "mirror", {"train": 4, "test": 2})
    archive = tmp_path / "mirror" / "aclImdb_v1.tar.gz"
    digest = _archive_of(tmp_path / "mirror", archive)
    root = tmp_path / "data"
    data = _imdb(root, download=True, mirrors=[archive.parent.as_uri()], sha256=digest)
    assert len(data.splits["test"]) == 4
    assert (root / "aclImdb_v1.tar.gz").is_file() and (root / "aclImdb" / "train" / "neg").is_dir()
    assert sorted(p.name for p in root.iterdir()) == ["aclImdb", "aclImdb_v1.tar.gz"]  # no temp leftovers


def test_wrong_checksum_is_refused_before_extraction(tmp_path: Path) -> None:
    write_aclimdb(tmp_path / "mirror", {"train": 2, "test": 1})
    archive = tmp_path / "mirror" / "aclImdb_v1.tar.gz"
    _archive_of(tmp_path / "mirror", archive)
    root = tmp_path / "data"
    with pytest.raises(DlrunError, match="checksum mismatch"):
        _imdb(root, download=True, mirrors=[archive.parent.as_uri()], sha256="f" * 64)
    assert not (root / "aclImdb").exists()


@pytest.mark.fault('IMDB missing and offline', 'one-line error with the URL and the expected layout')
def test_offline_and_missing_names_the_url_and_the_layout(tmp_path: Path) -> None:
    url = (tmp_path / "unreachable" / "aclImdb_v1.tar.gz").as_uri()
    with pytest.raises(DlrunError) as err:
        _imdb(tmp_path / "data", download=True, mirrors=[(tmp_path / "unreachable").as_uri()])
    message = str(err.value)
    assert url in message and "aclImdb/{train,test}/{pos,neg}/*.txt" in message and "\n" not in message
    with pytest.raises(DlrunError, match=r"IMDB not found: expected .*aclImdb/\{train,test\}/\{pos,neg\}/\*\.txt.*ai.stanford.edu"):
        _imdb(tmp_path / "data", download=False)


def test_bad_val_size_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="val_size"):
        IMDB(val_size=1.0)


@pytest.mark.fault("IMDB archive (custom url + its sha256) that also holds MNIST/ and a top-level file",
                   "only aclImdb/ is extracted into dataset.root; the other entries there stay untouched")
def test_extraction_replaces_only_aclimdb(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    write_aclimdb(mirror, {"train": 2, "test": 1})
    (mirror / "MNIST" / "raw").mkdir(parents=True)
    (mirror / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"evil")
    (mirror / "notes.txt").write_text("evil")
    archive = mirror / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("aclImdb", "MNIST", "notes.txt"):
            tar.add(mirror / name, arcname=name)
    root = tmp_path / "data"
    (root / "MNIST" / "raw").mkdir(parents=True)
    (root / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"good")
    data = _imdb(root, download=True, mirrors=[mirror.as_uri()], sha256=hashlib.sha256(archive.read_bytes()).hexdigest())
    assert len(data.splits["test"]) == 2
    assert (root / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes() == b"good"
    assert sorted(p.name for p in root.iterdir()) == ["MNIST", "aclImdb", "aclImdb_v1.tar.gz"]
