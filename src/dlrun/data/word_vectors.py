"""Pretrained word vectors (GloVe / word2vec text files) as an embedding matrix in vocabulary order."""

from __future__ import annotations

from pathlib import Path

import torch

from dlrun.data.vocab import PAD_INDEX, Vocab
from dlrun.errors import DlrunError

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


def _is_word2vec_header(line: str) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def load_word_vectors(path: str | Path, vocab: Vocab, dim: int, generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """(len(vocab), dim) float32 matrix whose row i is the vector of vocab.itos[i], and how many
    vocabulary words the file covered.

    Words the file lacks get N(0, 1) rows drawn from `generator`; the `<PAD>` row is zeros. A
    word2vec header line ("count dim") is skipped. Only lines of vocabulary words are parsed as
    numbers, so a large file (GloVe 6B: 400k words) costs one pass of string splitting.
    """
    path = Path(path)
    if not path.is_file():
        raise DlrunError(f"word vectors not found: {path} (expected {FORMAT}; set dataset.embeddings.path, or null for random embeddings)")
    matrix = torch.randn(len(vocab), dim, generator=generator)
    found = torch.zeros(len(vocab), dtype=torch.bool)
    stoi = vocab.stoi
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, raw in enumerate(f, start=1):
            line = raw.rstrip("\r\n ")
            if not line or (number == 1 and _is_word2vec_header(line)):
                continue
            parts = _split(line, dim)
            if parts is None:
                count = len(line.split()) - 1
                raise DlrunError(f"{path}:{number}: expected a token and {dim} numbers separated by spaces or commas, got {count} fields after the token (is dataset.embeddings.dim right?)")
            row = stoi.get(parts[0])
            if row is None or found[row]:
                continue
            try:
                matrix[row] = torch.tensor([float(x) for x in parts[1:]])
            except ValueError as err:
                raise DlrunError(f"{path}:{number}: the vector of '{parts[0]}' has a value that is not a number ({err})") from err
            found[row] = True
    matrix[PAD_INDEX] = 0.0
    return matrix, int(found.sum())
