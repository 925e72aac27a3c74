"""Pretrained vector files: space and comma separated, missing words, <PAD> row, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlrun.data.vocab import Vocab
from dlrun.data.word_vectors import load_word_vectors
from dlrun.errors import DlrunError
from text_corpus import write_vectors

VOCAB = Vocab(["<PAD>", "<UNK>", "the", "movie", ",", "zebra"])
VECTORS = {"the": [0.5, -1.0, 2.0], "movie": [1.5, 0.25, -0.75], ",": [3.0, 3.0, 3.0], "unused": [9.0, 9.0, 9.0]}


def _expected_random_rows(seed: int) -> torch.Tensor:
    """What N(0, 1) draws a generator with `seed` gives for the whole (6, 3) matrix."""
    return torch.randn(len(VOCAB), 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("sep", "header"), [(" ", False), (",", False), (" ", True)])
def test_rows_follow_vocab_order_missing_words_are_normal_pad_is_zero(tmp_path: Path, sep: str, header: bool) -> None:
    path = write_vectors(tmp_path / "vectors.txt", VECTORS, sep=sep, header=header)
    matrix, found = load_word_vectors(path, VOCAB, 3, torch.Generator().manual_seed(7))
    assert found == 3  # the, movie, ','
    assert matrix.shape == (6, 3) and matrix.dtype == torch.float32
    assert torch.equal(matrix[0], torch.zeros(3))  # <PAD>
    assert matrix[2].tolist() == [0.5, -1.0, 2.0]
    assert matrix[3].tolist() == [1.5, 0.25, -0.75]
    assert matrix[4].tolist() == [3.0, 3.0, 3.0]  # the token ',' itself, in either format
    random_rows = _expected_random_rows(7)
    assert torch.equal(matrix[1], random_rows[1]) and torch.equal(matrix[5], random_rows[5])  # <UNK>, zebra: N(0,1)


def test_first_vector_of_a_repeated_word_wins_and_crlf_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_bytes(b"the 1 2 3\r\nthe 4 5 6\r\n\r\n")
    matrix, found = load_word_vectors(path, VOCAB, 3, torch.Generator().manual_seed(0))
    assert found == 1 and matrix[2].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.fault('GloVe/word2vec file missing', 'one-line error naming the path and the setting')
def test_missing_file_names_the_path_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(DlrunError) as err:
        load_word_vectors(tmp_path / "glove.txt", VOCAB, 3, torch.Generator())
    message = str(err.value)
    assert "glove.txt" in message and "dataset.embeddings.path" in message and "\n" not in message


def test_wrong_dimension_names_the_line(tmp_path: Path) -> None:
    path = write_vectors(tmp_path / "v.txt", {"the": [1.0, 2.0, 3.0]})
    with pytest.raises(DlrunError, match=r"v.txt:1: expected a token and 5 numbers"):
        load_word_vectors(path, VOCAB, 5, torch.Generator())


def test_non_numeric_value_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("movie 1 2 3\nthe 1 x 3\n")
    with pytest.raises(DlrunError, match=r"v.txt:2: .*'the'.*not a number"):
        load_word_vectors(path, VOCAB, 3, torch.Generator())


def test_a_token_with_spaces_is_split_from_the_right_and_does_not_shadow_its_first_word(tmp_path: Path) -> None:
    """GloVe 840B has tokens with spaces ('. . .'): such a line must not be read as the vector of
    its first word, which a later line defines."""
    path = tmp_path / "v.txt"
    path.write_text("unused 0 0 0\nthe movie 7 7 7\nthe 1 2 3 \nmovie 4 5 6\n")
    matrix, found = load_word_vectors(path, VOCAB, 3, torch.Generator().manual_seed(0))
    assert found == 2 and matrix[2].tolist() == [1.0, 2.0, 3.0] and matrix[3].tolist() == [4.0, 5.0, 6.0]


def test_a_bad_selected_line_after_a_good_first_line_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("unused 0 0 0\nmovie 1 2\nthe 1 2 3\n")
    with pytest.raises(DlrunError, match=r"v.txt:2: expected a token and 3 numbers"):
        load_word_vectors(path, VOCAB, 3, torch.Generator())
    path.write_text("unused 0 0 0\nthe 1 2 3\nmovie 1 two 3\n")
    with pytest.raises(DlrunError, match=r"v.txt:3: .*'movie'.*not a number"):
        load_word_vectors(path, VOCAB, 3, torch.Generator())
