"""SST-style CSV datasets: the lab's vocabulary rules, numericalization, collate, labels, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlrun.checkpoint import load_checkpoint, save_checkpoint
from dlrun.data.text_csv import TextCSV
from dlrun.errors import DlrunError
from text_corpus import write_csv

# counts: the 4, is 3, film 2, bad 2, then the count-1 words in order of first appearance
TRAIN = [
    ("the film is good", "positive"),
    ("a bad film", "negative"),
    ("the the plot is bad", "negative"),
    ("yet the act is still charming here", "positive"),
]
ITOS = ["<PAD>", "<UNK>", "the", "is", "film", "bad", "good", "a", "plot", "yet", "act", "still", "charming", "here"]
PRETOKENIZED = {"lowercase": True, "strip_html": False, "pattern": None}


def _files(root: Path, train: list[tuple[str, str]] = TRAIN) -> dict[str, str]:
    write_csv(root / "train.csv", train)
    write_csv(root / "valid.csv", [("the unseen film", "negative"), ("good act", "positive")])
    write_csv(root / "test.csv", [("here is a plot", "positive")])
    return {"train": "train.csv", "val": "valid.csv", "test": "test.csv"}


def _data(root: Path, **kwargs) -> TextCSV:
    kwargs.setdefault("tokenizer", PRETOKENIZED)
    data = TextCSV(root=str(root), files=_files(root, kwargs.pop("train", TRAIN)), **kwargs)
    data.setup(torch.device("cpu"))
    return data


def _text(data: TextCSV, split: str, i: int) -> list[int]:
    seq = data.splits[split]
    return seq.tokens[int(seq.offsets[i]) : int(seq.offsets[i + 1])].tolist()


def test_vocabulary_from_train_only_in_lab_order(tmp_path: Path) -> None:
    data = _data(tmp_path)
    assert data.vocab is not None and data.vocab.itos == ITOS
    assert data.meta["vocab_size"] == 14 and data.meta["class_names"] == ["positive", "negative"]
    assert "unseen" not in data.vocab  # valid words never enter the vocabulary


def test_numericalization_like_the_labs_train_3_example(tmp_path: Path) -> None:
    data = _data(tmp_path)
    assert data.decode("train", 3) == ["yet", "the", "act", "is", "still", "charming", "here"]
    assert _text(data, "train", 3) == [9, 2, 10, 3, 11, 12, 13]
    assert data.splits["train"].labels.tolist() == [0, 1, 1, 0]  # positive = 0, negative = 1
    assert _text(data, "val", 0) == [2, 1, 4]  # 'unseen' -> <UNK>
    assert data.splits["val"].labels.tolist() == [1, 0]


def test_max_size_and_min_freq(tmp_path: Path) -> None:
    small = _data(tmp_path / "a", vocab={"max_size": 6})
    assert small.vocab.itos == ITOS[:6]
    assert _text(small, "train", 3) == [1, 2, 1, 3, 1, 1, 1]
    frequent = _data(tmp_path / "b", vocab={"min_freq": 2})
    assert frequent.vocab.itos == ["<PAD>", "<UNK>", "the", "is", "film", "bad"]


def test_labels_by_train_frequency_when_not_given(tmp_path: Path) -> None:
    rows = [("x", "negative"), ("y", "positive"), ("z", "positive")]
    data = _data(tmp_path, train=rows, labels=None)
    assert data.class_names == ["positive", "negative"]  # the more frequent label is 0
    tie = _data(tmp_path / "tie", train=[("x", "negative"), ("y", "positive")], labels=None)
    assert tie.class_names == ["negative", "positive"]  # equal counts: first appearance


def test_first_unshuffled_batch_lengths_like_the_lab(tmp_path: Path) -> None:
    rows = [(" ".join(["w"] * 32), "positive"), (" ".join(["v"] * 34), "positive"), ("a b", "negative")]
    data = _data(tmp_path, train=rows, batch_size=2)
    tokens, lengths, labels = next(iter(data.loader("train")))
    assert lengths.tolist() == [32, 34] and labels.tolist() == [0, 0]
    assert tokens.shape == (2, 34) and tokens[0, 32:].tolist() == [0, 0]


def test_commas_in_text_empty_text_and_bad_bytes_load(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_bytes(b"well , it works, positive\n, negative\ncaf\xe9 \xff\xfe ok, positive\n\n")
    write_csv(tmp_path / "valid.csv", [("ok", "positive")])
    write_csv(tmp_path / "test.csv", [("ok", "negative")])
    data = TextCSV(root=str(tmp_path), files={"train": "train.csv", "val": "valid.csv", "test": "test.csv"}, tokenizer=PRETOKENIZED)
    data.setup(torch.device("cpu"))
    assert data.decode("train", 0) == ["well", ",", "it", "works"]
    assert data.decode("train", 1) == []
    assert data.decode("train", 2) == ["caf\ufffd", "\ufffd\ufffd", "ok"]
    tokens, lengths, labels = next(iter(data.loader("train")))
    assert lengths.tolist() == [4, 1, 3] and tokens[1].tolist() == [0, 0, 0, 0]
    assert labels.tolist() == [0, 1, 0]


def test_state_dict_restores_the_vocabulary_through_a_checkpoint(tmp_path: Path) -> None:
    data = _data(tmp_path / "a")
    save_checkpoint({"data": data.state_dict()}, tmp_path / "ckpt.pt")
    state = load_checkpoint(tmp_path / "ckpt.pt")["data"]  # weights_only=True must accept it
    changed = TextCSV(root=str(tmp_path / "b"), files=_files(tmp_path / "b", [("zebra zebra good", "negative"), ("x", "positive")]),
                      tokenizer=PRETOKENIZED)
    changed.load_state_dict(state)
    changed.setup(torch.device("cpu"))
    assert changed.vocab.itos == ITOS  # not rebuilt from the new train file
    assert _text(changed, "train", 0) == [1, 1, 6]


def test_state_dict_rejects_a_different_tokenizer(tmp_path: Path) -> None:
    state = _data(tmp_path).state_dict()
    other = TextCSV(root=str(tmp_path), files=_files(tmp_path), tokenizer={"pattern": None, "lowercase": False})
    with pytest.raises(DlrunError, match="tokenizer"):
        other.load_state_dict(state)


@pytest.mark.parametrize(
    ("content", "message"),
    [("no label separator here\n", r"train.csv:1: expected one 'text, label' per line"),
     ("text, neutral\n", "unknown label 'neutral'")],
)
@pytest.mark.fault('SST-style CSV with malformed lines or unknown labels', 'one-line error naming the file and line')
def test_bad_lines_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    files = _files(tmp_path)
    (tmp_path / "train.csv").write_text(content)
    data = TextCSV(root=str(tmp_path), files=files, labels=["positive", "negative"])
    with pytest.raises(DlrunError, match=message):
        data.setup(torch.device("cpu"))


@pytest.mark.fault('SST-style CSV file missing', 'one-line error naming the file')
def test_missing_file_names_it(tmp_path: Path) -> None:
    data = TextCSV(root=str(tmp_path), files={"train": "a.csv", "val": "b.csv", "test": "c.csv"})
    with pytest.raises(DlrunError, match=r"data file not found: .*a.csv"):
        data.setup(torch.device("cpu"))


@pytest.mark.parametrize(
    "kwargs",
    [{"files": {"train": "a"}}, {"vocab": {"max_size": 1}}, {"vocab": {"size": 3}}, {"embeddings": {"dim": 0}},
     {"max_len": 0}, {"batch_size": 0}, {"bucket": -1}, {"labels": ["a", "a"]}, {"tokenizer": {"pattern": "("}}],
)
def test_constructor_rejects_bad_arguments_without_io(tmp_path: Path, kwargs: dict) -> None:
    kwargs.setdefault("files", {"train": "a", "val": "b", "test": "c"})
    with pytest.raises(ValueError):
        TextCSV(root=str(tmp_path / "missing"), **kwargs)
