"""Pretrained vectors reach words the training split lacks: with frozen embeddings the vocabulary
gains the val/test words that the vectors file has; trainable ones keep the train-only vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import read_results
from dlrun.checkpoint import load_checkpoint
from dlrun.data.text_csv import TextCSV
from text_corpus import single_thread, write_csv, write_vectors

CPU = torch.device("cpu")
DIM = 8
TRAIN_CUES = {"positive": ["good", "great"], "negative": ["bad", "awful"]}
VAL_ONLY = {"positive": "brilliant", "negative": "boring"}
TEST_CUES = {"positive": ["superb", "lovely"], "negative": ["dull", "poor"]}  # never in train or val
SENTIMENT = {w: 1.0 for w in ["good", "great", "brilliant", "superb", "lovely"]} | {w: -1.0 for w in ["bad", "awful", "boring", "dull", "poor"]}


def _vector(word: str, gen: torch.Generator) -> list[float]:
    """Sentiment words: +-1 on the first axis plus small noise; other words: 0 there."""
    noise = (0.1 * torch.randn(DIM, generator=gen)).tolist()
    return [SENTIMENT.get(word, 0.0), *noise[1:]]


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    """(root with sst-style CSVs, a GloVe-format file of 8-d vectors with 500 words no text uses).

    train: 'the <cue>' with the train cues (+ one 'the okay'); val: train cues, 'the okay' and one
    val-only cue per class; test: only test cues, balanced, plus 'the zebra' (absent from the file)
    once per class.
    """
    root = tmp_path / "corpus"
    train = [(f"the {TRAIN_CUES[label][(i // 2) % 2]}", label) for i, label in enumerate(["positive", "negative"] * 50)]
    write_csv(root / "train.csv", [*train, ("the okay", "positive")])
    write_csv(root / "val.csv", [*train[:20], ("the okay", "positive"), ("the brilliant", "positive"), ("the boring", "negative")])
    test = [(f"the {TEST_CUES[label][i % 2]}", label) for i in range(10) for label in ("positive", "negative")]
    write_csv(root / "test.csv", [*test, ("the zebra", "positive"), ("the zebra", "negative")])
    gen = torch.Generator().manual_seed(0)
    words = [f"w{i}" for i in range(250)] + ["the", "okay", *SENTIMENT] + [f"w{i}" for i in range(250, 500)]
    vectors = write_vectors(tmp_path / "glove.6B.8d.txt", {w: _vector(w, gen) for w in words})
    return root, vectors


def _data(corpus: tuple[Path, Path], freeze: bool | str, **kwargs) -> TextCSV:  # noqa: ANN003
    root, vectors = corpus
    return TextCSV(root=str(root), files={"train": "train.csv", "val": "val.csv", "test": "test.csv"}, labels=["positive", "negative"],
                   tokenizer={"pattern": None}, embeddings={"path": str(vectors), "dim": DIM, "freeze": freeze}, **kwargs)


def _file_vectors(path: Path) -> dict[str, list[float]]:
    return {parts[0]: [float(x) for x in parts[1:]] for parts in (line.split() for line in path.read_text().splitlines())}


TRAIN_ITOS = ["<PAD>", "<UNK>", "the", "good", "bad", "great", "awful", "okay"]  # the 101, then 25 each (first appearance), okay 1


@pytest.mark.parametrize("freeze", [True, "auto"])
def test_frozen_vectors_add_val_and_test_words_the_file_has(corpus: tuple[Path, Path], freeze: bool | str) -> None:
    data = _data(corpus, freeze)
    data.setup(CPU)
    assert data.vocab is not None
    # train words by frequency, then val/test words outside train that the file has, in first-appearance order
    assert data.vocab.itos == [*TRAIN_ITOS, "brilliant", "boring", "superb", "dull", "lovely", "poor"]
    assert data.meta["vocab_size"] == 14 and data.meta["vocab_from_vectors"] == 6
    assert data.decode("test", 0) == ["the", "superb"] and data.decode("test", 3) == ["the", "poor"]
    assert data.decode("test", 20) == ["the", "<UNK>"]  # zebra: not in the file
    assert data.decode("val", 21) == ["the", "brilliant"]
    matrix, file_vectors = data.meta["pretrained_embeddings"], _file_vectors(corpus[1])
    assert matrix.shape == (14, DIM) and data.meta["embeddings_found"] == 12  # every entry but <PAD>, <UNK>
    for word in ["superb", "poor", "brilliant", "good", "the"]:
        assert torch.equal(matrix[data.vocab.stoi[word]], torch.tensor(file_vectors[word]))
    assert not matrix[0].any()


def test_trainable_embeddings_keep_the_train_only_vocabulary(corpus: tuple[Path, Path]) -> None:
    data = _data(corpus, False)
    data.setup(CPU)
    assert data.vocab is not None and data.vocab.itos == TRAIN_ITOS
    assert data.decode("test", 0) == ["the", "<UNK>"] and data.decode("val", 21) == ["the", "<UNK>"]
    assert "vocab_from_vectors" not in data.meta


def test_train_words_dropped_by_min_freq_stay_unknown_everywhere(corpus: tuple[Path, Path]) -> None:
    data = _data(corpus, True, vocab={"min_freq": 2})
    data.setup(CPU)
    assert data.vocab is not None and "okay" not in data.vocab  # in the file, but a (rare) train word: not re-added
    assert data.decode("val", 20) == ["the", "<UNK>"] and data.decode("train", 100) == ["the", "<UNK>"]
    assert data.vocab.itos[-6:] == ["brilliant", "boring", "superb", "dull", "lovely", "poor"]


def test_the_saved_vocabulary_carries_the_added_words(corpus: tuple[Path, Path]) -> None:
    first = _data(corpus, True)
    first.setup(CPU)
    state = first.state_dict()
    assert state["vocab"]["itos"][-4:] == ["superb", "dull", "lovely", "poor"]
    again = _data(corpus, True)
    again.load_state_dict(state)
    again.setup(CPU)
    assert again.vocab is not None and again.vocab.itos == state["vocab"]["itos"]
    assert torch.equal(again.splits["test"].tokens, first.splits["test"].tokens)
    assert torch.equal(again.meta["pretrained_embeddings"], first.meta["pretrained_embeddings"])


def test_unknown_freeze_value_is_refused(corpus: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="embeddings.freeze must be true, false or auto"):
        _data(corpus, "sometimes")


@pytest.mark.slow
def test_a_frozen_model_uses_test_only_words_and_beats_chance_where_train_only_cannot(train_run, corpus: tuple[Path, Path]) -> None:
    """Test texts are 'the <cue>' with cues train never has. Frozen vectors: the model reads the
    cue's sentiment axis (accuracy near 1). Train-only vocabulary: every test text is
    [the, <UNK>], one input, one prediction, so accuracy is exactly the class share, 0.5."""
    root, vectors = corpus
    common = ["experiment=lab3_baseline", f"dataset.root={root}", "dataset.files={train: train.csv, val: val.csv, test: test.csv}",
              f"dataset.embeddings.path={vectors}", f"dataset.embeddings.dim={DIM}", "optimizer.lr=1e-2", "trainer.max_epochs=5"]
    with single_thread():
        code, frozen = train_run(*common, "model.freeze_embeddings=true", name="frozen")
        assert code == 0
        code, trainable = train_run(*common, "model.freeze_embeddings=false", name="trainable")
        assert code == 0
    assert read_results(frozen)["test"]["test/acc"] >= 0.9
    assert read_results(trainable)["test"]["test/acc"] == pytest.approx(0.5)
    itos = load_checkpoint(frozen / "checkpoints" / "last.pt")["data"]["vocab"]["itos"]
    assert {"superb", "dull", "lovely", "poor"} <= set(itos)


def _add_vectors(path: Path, vectors: dict[str, list[float]]) -> None:
    with open(path, "a") as f:
        f.write("".join(" ".join([word, *map(repr, vec)]) + "\n" for word, vec in vectors.items()))


NEW_WORDS = {"stellar": [1.0] + [0.05] * (DIM - 1), "dreadful": [-1.0] + [0.05] * (DIM - 1)}  # in no split


@pytest.mark.parametrize("freeze", [True, False])
def test_predict_inputs_look_up_words_first_seen_there_in_the_vectors_file(corpus: tuple[Path, Path], tmp_path: Path, freeze: bool) -> None:
    trained = _data(corpus, freeze)
    trained.setup(CPU)
    _add_vectors(corpus[1], NEW_WORDS)
    restored = _data(corpus, freeze)
    restored.load_state_dict(trained.state_dict())  # as dlrun predict does: no dataset files read
    inputs = tmp_path / "new.txt"
    inputs.write_text("the stellar\nthe zebra dreadful stellar\nthe superb\n")
    texts, (tokens, lengths) = restored.predict_inputs(inputs)
    assert texts == ["the stellar", "the zebra dreadful stellar", "the superb"] and lengths.tolist() == [2, 4, 2]
    assert restored.vocab is not None and trained.vocab is not None
    the, unk, n = trained.vocab.stoi["the"], 1, len(trained.vocab)
    if freeze:  # stellar, dreadful appended in first-appearance order, zebra (not in the file) stays <UNK>
        superb = trained.vocab.stoi["superb"]  # a test word, added at training
        assert n == 14 and restored.vocab.itos == [*trained.vocab.itos, "stellar", "dreadful"] and restored.meta["vocab_size"] == n + 2
        assert tokens.tolist() == [[the, n, 0, 0], [the, unk, n + 1, n], [the, superb, 0, 0]]
        assert restored.added_vectors is not None and torch.equal(restored.added_vectors, torch.tensor([NEW_WORDS["stellar"], NEW_WORDS["dreadful"]]))
    else:  # trainable embeddings keep the vocabulary they were trained with
        assert restored.vocab.itos == trained.vocab.itos and restored.added_vectors is None
        assert n == 8 and tokens.tolist() == [[the, unk, 0, 0], [the, unk, unk, unk], [the, unk, 0, 0]]  # superb too: train-only vocabulary


@pytest.mark.slow
def test_dlrun_predict_gives_words_first_seen_there_their_file_vectors(train_run, corpus: tuple[Path, Path], tmp_path: Path) -> None:
    """'the stellar' and 'the dreadful': words in no split, added to the vectors file after training with
    +1 and -1 on its sentiment axis, which the frozen model reads. As <UNK> both inputs would be
    [the, <UNK>], the same input, one label; with their file vectors they get opposite labels."""
    from dlrun.cli import main

    root, vectors = corpus
    with single_thread():
        code, run = train_run("experiment=lab3_baseline", f"dataset.root={root}", "dataset.files={train: train.csv, val: val.csv, test: test.csv}",
                              f"dataset.embeddings.path={vectors}", f"dataset.embeddings.dim={DIM}", "optimizer.lr=1e-2", "trainer.max_epochs=5",
                              "model.freeze_embeddings=true")
    assert code == 0 and read_results(run)["test"]["test/acc"] >= 0.9
    _add_vectors(vectors, NEW_WORDS)
    inputs, out = tmp_path / "new.txt", tmp_path / "preds.csv"
    inputs.write_text("the stellar\nthe dreadful\n")
    assert main(["predict", f"ckpt={run / 'checkpoints' / 'last.pt'}", f"inputs={inputs}", f"out={out}"]) == 0
    rows = [line.split(",")[:2] for line in out.read_text().splitlines()[1:]]
    assert rows == [["the stellar", "positive"], ["the dreadful", "negative"]]
