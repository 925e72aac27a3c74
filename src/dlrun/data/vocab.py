"""Vocabulary built on the training split: frequency order, specials, max_size and min_freq."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

PAD, UNK = "<PAD>", "<UNK>"
PAD_INDEX, UNK_INDEX = 0, 1
SPECIALS = (PAD, UNK)


class VocabOptions(TypedDict, total=False):
    """dataset.vocab of the text datasets, checked key by key by dlrun.config_types."""

    max_size: int  # including the specials; -1: every train token
    min_freq: int  # keep tokens seen at least this often


class Vocab:
    """Token <-> index maps (the course lab's `itos` / `stoi`).

    Specials come first (`<PAD>` = 0, `<UNK>` = 1 for text; none for labels), then tokens by
    descending frequency; equal counts keep the order of first appearance in the training data
    (what a stable sort of the lab's frequency dict gives). Unknown tokens map to `<UNK>`.
    """

    def __init__(self, itos: Sequence[str], specials: Sequence[str] = SPECIALS) -> None:
        if len(set(itos)) != len(itos):
            raise ValueError("vocabulary has duplicate tokens")
        if list(itos[: len(specials)]) != list(specials):
            raise ValueError(f"vocabulary must start with the specials {list(specials)}")
        self.itos = list(itos)
        self.specials = list(specials)
        self.stoi = {token: index for index, token in enumerate(self.itos)}
        self.unk_index = self.stoi.get(UNK)

    @classmethod
    def build(
        cls,
        documents: Iterable[Sequence[str]],
        max_size: int = -1,
        min_freq: int = 0,
        specials: Sequence[str] = SPECIALS,
    ) -> Vocab:
        """Count tokens over `documents` and keep the most frequent.

        max_size: total size including the specials (-1: no limit). min_freq: keep tokens seen at
        least this often (specials are always kept).
        """
        check_limits(max_size, min_freq, len(specials))
        counts: Counter[str] = Counter()
        for tokens in documents:
            counts.update(tokens)
        return cls.from_counts(counts, max_size, min_freq, specials)

    @classmethod
    def from_counts(cls, counts: Counter[str], max_size: int = -1, min_freq: int = 0, specials: Sequence[str] = SPECIALS) -> Vocab:
        """The vocabulary of a token -> count map whose insertion order is first appearance."""
        check_limits(max_size, min_freq, len(specials))
        ranked = sorted(((t, c) for t, c in counts.items() if c >= min_freq and t not in specials), key=lambda tc: -tc[1])
        room = len(ranked) if max_size < 0 else max_size - len(specials)
        return cls([*specials, *(t for t, _ in ranked[:room])], specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def index(self, token: str) -> int:
        """The index of `token` (`<UNK>` when unknown; KeyError in a vocabulary without `<UNK>`)."""
        if self.unk_index is None:
            return self.stoi[token]
        return self.stoi.get(token, self.unk_index)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Numericalize a token sequence (the lab's `encode`)."""
        get, unk = self.stoi.get, self.unk_index
        if unk is None:
            return [self.stoi[t] for t in tokens]
        return [get(t, unk) for t in tokens]

    def decode(self, indices: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in indices]

    def state_dict(self) -> dict[str, Any]:
        return {"itos": list(self.itos), "specials": list(self.specials)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Vocab:
        return cls(state["itos"], state["specials"])


def check_limits(max_size: int, min_freq: int, num_specials: int) -> None:
    """ValueError for a max_size that cannot hold the specials or a negative min_freq."""
    if max_size != -1 and max_size < max(num_specials, 1):
        raise ValueError(f"vocab max_size must be -1 (no limit) or >= {max(num_specials, 1)} (it includes the specials), got {max_size}")
    if min_freq < 0:
        raise ValueError(f"vocab min_freq must be >= 0, got {min_freq}")
