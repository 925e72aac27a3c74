"""The token cache (dlrun.data.token_cache): a second IMDB setup reads no review and gets the same corpus;
changed files or options are not served from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlrun.data.imdb import IMDB
from text_corpus import write_aclimdb


def _setup(root: Path, **kwargs) -> IMDB:
    data = IMDB(root=str(root), download=False, **kwargs)
    data.setup(torch.device("cpu"))
    return data


def _same(a: IMDB, b: IMDB) -> bool:
    return a.vocab.itos == b.vocab.itos and a.class_names == b.class_names and all(
        torch.equal(getattr(a.splits[s], f), getattr(b.splits[s], f)) for s in ("train", "val", "test") for f in ("tokens", "offsets", "labels"))


def test_second_setup_comes_from_the_cache_without_reading_reviews(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_aclimdb(tmp_path, {"train": 20, "test": 10})
    first = _setup(tmp_path, val_size=0.25, seed=5)
    assert len(list((tmp_path / "aclImdb").glob("imdb-tokens-*.pt"))) == 1
    monkeypatch.setattr(IMDB, "read_splits", lambda self: pytest.fail("read the reviews again"))
    second = _setup(tmp_path, val_size=0.25, seed=5)
    assert _same(first, second)
    assert second.meta["vocab_size"] == len(first.vocab) and second.meta["split_sizes"] == {"train": 30, "val": 10, "test": 20}
    assert second.meta["class_names"] == ["positive", "negative"]


def test_changed_file_or_options_build_again(tmp_path: Path) -> None:
    write_aclimdb(tmp_path, {"train": 20, "test": 10})
    first = _setup(tmp_path)
    review = sorted((tmp_path / "aclImdb" / "train" / "pos").glob("*.txt"))[0]
    review.write_text("zyzzyva " * 7)  # a new word, a new size
    changed = _setup(tmp_path)
    assert "zyzzyva" in changed.vocab.stoi and "zyzzyva" not in first.vocab.stoi
    lower = _setup(tmp_path, tokenizer={"lowercase": False}, max_len=5)  # other options: their own cache file
    assert int(lower.splits["train"].lengths.max()) <= 5
    assert len(list((tmp_path / "aclImdb").glob("imdb-tokens-*.pt"))) == 2
    assert _same(changed, _setup(tmp_path))  # the first option set's cache now holds the changed corpus
