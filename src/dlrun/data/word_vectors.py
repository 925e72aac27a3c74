"""Pretrained word vectors (GloVe / word2vec text files): select the wanted words in one pass, parse
only their numbers (numpy, one call), and lay them out as an embedding matrix in vocabulary order."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch

from dlrun.data.vocab import PAD_INDEX, Vocab
from dlrun.errors import DlrunError



class EmbeddingsOptions(TypedDict, total=False):
    """dataset.embeddings of the text datasets, checked key by key by dlrun.config_types."""

    path: str | None    # a GloVe/word2vec text file; null: random embeddings
    dim: int
    freeze: bool | str  # true | false | auto (the value is checked by the dataset)


FORMAT = "a text file with one word per line: the token, then the numbers of its vector, separated by spaces or commas"


def _split(line: str, dim: int) -> list[str] | None:
    """[token, x1, ..., xd] from a space- or comma-separated line (the token itself may contain
    the separator: split from the right); None when neither separator gives d numbers."""
    for sep in (" ", ","):
        if line.count(sep) == dim:
            token, _, rest = line.partition(sep)
            return [token, *rest.split(sep)]
    for sep in (None, ","):
        parts = line.rsplit(sep, dim)
        if len(parts) == dim + 1:
            return parts
    return None


def _token_and_rest(line: str, dim: int) -> tuple[str, str] | None:
    """(token, the numbers as one space-separated string), or None when the line has not `dim` numbers."""
    if line.count(" ") == dim:
        token, _, rest = line.partition(" ")
        return token, rest
    parts = _split(line, dim)
    return None if parts is None else (parts[0], " ".join(parts[1:]))


def _is_word2vec_header(line: str) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def _bad_dim(path: Path, number: int, line: str, dim: int) -> DlrunError:
    count = len(line.split()) - 1
    return DlrunError(f"{path}:{number}: expected a token and {dim} numbers separated by spaces or commas, got {count} fields after the token (is dataset.embeddings.dim right?)")


def read_vectors(path: str | Path, words: Iterable[str], dim: int) -> tuple[list[str], np.ndarray]:
    """The words of `words` that the file has (in file order; a repeated word's first line wins)
    and their vectors, a (found, dim) float32 array.

    One pass over the file: a line is selected by its first token (a set lookup) and only the
    selected lines' numbers are parsed, all at once by numpy, so a 400k-line GloVe file costs one
    pass of string slicing. When the first line is "token x1 ... xd" (GloVe), other lines are only
    sliced at their first space; the first line and every selected line must hold a token and `dim`
    numbers (a bad one is named by its line number). A word2vec header line ("count dim") is skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise DlrunError(f"word vectors not found: {path} (expected {FORMAT}; set dataset.embeddings.path, or null for random embeddings)")
    wanted = set(words)
    found: list[str] = []
    rows: list[str] = []
    numbers: list[int] = []
    spaced: bool | None = None  # from the first line: "token x1 ... xd", so every token ends at the first space
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, raw in enumerate(f, start=1):
            regular = False
            if spaced:  # the hot loop: slice the token; a selected line's numbers go to numpy as they are
                cut = raw.find(" ")
                token = raw[:cut]
                if token not in wanted:
                    continue
                rest = raw[cut + 1:]
                regular = rest.count(" ") == dim - 1
            if not regular:  # the first line, or an irregular one (a token with spaces, trailing blanks, a wrong count)
                line = raw.rstrip("\r\n ")
                if not line or (number == 1 and _is_word2vec_header(line)):
                    continue
                split = _token_and_rest(line, dim)
                if split is None:
                    raise _bad_dim(path, number, line, dim)
                if spaced is None:
                    spaced = line.count(" ") == dim
                token, rest = split
                if token not in wanted:
                    continue
            wanted.discard(token)
            found.append(token)
            rows.append(rest)
            numbers.append(number)
    return found, _parse_rows(path, found, rows, numbers, dim)


def _parse_rows(path: Path, tokens: list[str], rows: list[str], numbers: list[int], dim: int) -> np.ndarray:
    """(len(rows), dim) float32 from the numbers of `rows` (whitespace-separated), parsed in one
    numpy call; a row that is not `dim` numbers is named by its line."""
    if not rows:
        return np.zeros((0, dim), dtype=np.float32)
    try:
        values = np.loadtxt(rows, dtype=np.float32, comments=None, ndmin=2)
        if values.shape == (len(rows), dim):
            return values
    except ValueError:
        pass
    parsed = []  # numpy refused something: parse line by line to name the bad one (or accept what float() reads)
    for token, row, number in zip(tokens, rows, numbers):
        fields = row.split()
        if len(fields) != dim:
            raise DlrunError(f"{path}:{number}: expected a token and {dim} numbers separated by spaces or commas, got {len(fields)} fields after the token (is dataset.embeddings.dim right?)")
        try:
            parsed.append([float(x) for x in fields])
        except ValueError as err:
            raise DlrunError(f"{path}:{number}: the vector of '{token}' has a value that is not a number ({err})") from err
    return np.array(parsed, dtype=np.float32)


def vectors_matrix(vocab: Vocab, words: list[str], vectors: np.ndarray, generator: torch.Generator) -> torch.Tensor:
    """(len(vocab), dim) float32: row i is the vector of vocab.itos[i] where `words` has it, else
    N(0, 1) from `generator`; the `<PAD>` row is zeros."""
    matrix = torch.randn(len(vocab), vectors.shape[1], generator=generator)
    target = torch.tensor([vocab.stoi.get(w, -1) for w in words], dtype=torch.long)
    keep = target >= 0
    matrix[target[keep]] = torch.from_numpy(vectors)[keep]
    matrix[PAD_INDEX] = 0.0
    return matrix


def load_word_vectors(path: str | Path, vocab: Vocab, dim: int, generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """(len(vocab), dim) float32 matrix whose row i is the vector of vocab.itos[i], and how many
    vocabulary words the file covered (see `read_vectors` and `vectors_matrix`)."""
    words, vectors = read_vectors(path, vocab.itos, dim)
    return vectors_matrix(vocab, words, vectors, generator), len(words)
