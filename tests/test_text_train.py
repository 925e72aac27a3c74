"""End-to-end `dlrun train` of the lab 3 experiments on tiny corpora the tests write."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import read_results
from dlrun.checkpoint import load_checkpoint
from text_corpus import FILLER_WORDS, NEGATIVE_WORDS, POSITIVE_WORDS, single_thread, write_aclimdb, write_sst, write_vectors

SMALL_RNN = ["model.hidden_size=32", "model.head=[16]"]


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.fixture
def sst(tmp_path: Path) -> list[str]:
    """Overrides pointing dataset=sst at a tiny separable corpus and an 8-d vector file."""
    root = write_sst(tmp_path / "sst")
    gen = torch.Generator().manual_seed(0)
    words = POSITIVE_WORDS + NEGATIVE_WORDS + FILLER_WORDS[:-1]  # 'plot' gets no vector: N(0,1)
    vectors = write_vectors(root / "glove.txt", {w: torch.randn(8, generator=gen).tolist() for w in words})
    return [f"dataset.root={tmp_path}", f"dataset.embeddings.path={vectors}", "dataset.embeddings.dim=8"]


@pytest.mark.slow
def test_lab3_gru_learns_a_separable_corpus_with_attention(train_run, sst: list[str]) -> None:
    code, run = train_run("experiment=lab3_gru", *sst, *SMALL_RNN, "model.readout=attention", "optimizer.lr=3e-3",
                          "trainer.max_epochs=4")
    assert code == 0
    results = read_results(run)
    assert results["status"] == "completed" and results["name"] == "lab3_gru"
    assert results["test"]["test/acc"] >= 0.9 and results["test"]["test/f1"] >= 0.9
    assert (run / "attention.png").read_bytes()[:4] == b"\x89PNG" and (run / "confusion_matrix.png").is_file()
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    itos = state["data"]["vocab"]["itos"]
    assert itos[:2] == ["<PAD>", "<UNK>"] and set(POSITIVE_WORDS) <= set(itos)
    assert state["model"]["embedding.weight"].shape == (len(itos), 8)
    assert not state["model"]["embedding.weight"][0].any()  # <PAD> row stays zero
    assert state["config"]["trainer"]["gradient_clip_norm"] == 0.25


def test_lab3_baseline_learns_with_random_embeddings_and_resumes_with_the_saved_vocabulary(train_run, sst: list[str], tmp_path: Path) -> None:
    no_vectors = [*sst, "dataset.embeddings.path=null", "model.freeze_embeddings=auto", "optimizer.lr=1e-2"]
    code, run = train_run("experiment=lab3_baseline", *no_vectors, "trainer.max_epochs=3")
    assert code == 0
    first = read_results(run)
    assert first["test"]["test/acc"] >= 0.9
    train_file = Path(sst[0].split("=", 1)[1]) / "sst" / "sst_train_raw.csv"
    train_file.write_text(train_file.read_text() + "zebra quokka wombat, positive\n")  # new words after the checkpoint
    code, resumed = train_run("experiment=lab3_baseline", *no_vectors, "trainer.max_epochs=4",
                              f"ckpt_path={run / 'checkpoints' / 'last.pt'}", name="resumed")
    assert code == 0
    again = read_results(resumed)
    assert again["epochs_run"] == 4 and again["num_params"] == first["num_params"]  # same vocabulary size
    itos = load_checkpoint(resumed / "checkpoints" / "last.pt")["data"]["vocab"]["itos"]
    assert "zebra" not in itos


def test_imdb_gru_runs_on_an_aclimdb_tree(train_run, tmp_path: Path) -> None:
    write_aclimdb(tmp_path / "data", {"train": 30, "test": 10})
    code, run = train_run("experiment=imdb_gru", f"dataset.root={tmp_path / 'data'}", "dataset.download=false",
                          "dataset.embeddings.path=null", "dataset.embeddings.dim=8", *SMALL_RNN, "trainer.fast_dev_run=true")
    assert code == 0
    results = read_results(run)
    assert set(results["test"]) == {"test/loss", "test/acc", "test/f1"}


def test_bad_model_option_fails_before_any_data_is_read(train_run, capsys) -> None:
    code, _ = train_run("experiment=lab3_gru", "dataset.root=/nonexistent", "model.cell=transformer")
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: model: unknown cell 'transformer' (valid: rnn, gru, lstm)"


def test_missing_glove_file_is_one_clear_line(train_run, sst: list[str], capsys) -> None:
    code, _ = train_run("experiment=lab3_baseline", *sst[:1], "dataset.embeddings.path=/nonexistent/glove.txt")
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: word vectors not found: /nonexistent/glove.txt") and "\n" not in err
