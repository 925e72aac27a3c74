"""dataset=char_text: one UTF-8 text as a character stream for language models (course lab 3, old).

Characters are indexed by descending frequency (ties by code point). The text is split into train,
val and test by position (val and test are the tail), and each split is cut into `batch_size`
contiguous streams; batch t holds the t-th `seq_len` characters of every stream, so row i of batch
t+1 continues row i of batch t and a hidden state carried from batch to batch stays meaningful.
Targets are the inputs shifted by one character. Nothing is shuffled: every epoch sees the same
batches in the same order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from dlrun.data.base import BaseData, EpochSeeded
from dlrun.errors import DlrunError


class CharVocab:
    """Characters <-> ids, id 0 being the most frequent character."""

    def __init__(self, chars: Sequence[str]) -> None:
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}
        if len(self.index) != len(self.chars) or any(len(c) != 1 for c in self.chars):
            raise ValueError("a character vocabulary holds distinct single characters")

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        counts = Counter(text)
        return cls(sorted(counts, key=lambda c: (-counts[c], c)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """Ids of `text` (int64); a character outside the vocabulary is a DlrunError naming it."""
        try:
            return torch.tensor([self.index[c] for c in text], dtype=torch.long)
        except KeyError as err:
            raise DlrunError(f"character {err.args[0]!r} is not in the vocabulary ({len(self)} characters)") from None

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return "".join(self.chars[i] for i in values)


class CharStreamBatches(EpochSeeded):
    """Batches `(inputs, targets, t)` of one split: inputs and targets (batch_size, seq_len), t the
    batch's position in the epoch (0 starts a new pass, where a carried hidden state is reset)."""

    def __init__(self, ids: torch.Tensor, batch_size: int, seq_len: int) -> None:
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size}, {seq_len}")
        self.seq_len = seq_len
        self.num_batches = max(len(ids) - 1, 0) // (batch_size * seq_len)
        used = batch_size * self.num_batches * seq_len
        self.inputs = ids[:used].view(batch_size, -1)
        self.targets = ids[1 : used + 1].view(batch_size, -1)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        for t in range(self.take_skip(), self.num_batches):
            cols = slice(t * self.seq_len, (t + 1) * self.seq_len)
            yield self.inputs[:, cols], self.targets[:, cols], t


class CharText(BaseData):
    """A text file (default: the generated dialogue of dlrun.data.dialogue_text) as character batches.

    val_size and test_size (fractions) of the characters at the end are held out (test last). Eval splits
    use eval_batch_size streams, fewer if the split is too short for that many."""

    preflight_meta = {"vocab_size": 2}  # the real size is known after reading the text

    def __init__(self, path: str | None = None, batch_size: int = 32, seq_len: int = 30, eval_batch_size: int = 16,
                 val_size: float = 0.05, test_size: float = 0.05, default_chars: int = 120_000,
                 seed: int = 0) -> None:
        if batch_size < 1 or seq_len < 1 or eval_batch_size < 1:
            raise ValueError("batch_size, seq_len and eval_batch_size must be >= 1")
        if not (0 < val_size < 1 and 0 < test_size < 1 and val_size + test_size < 1):
            raise ValueError("val_size and test_size are fractions of the text in (0, 1) with a sum below 1")
        if default_chars < 1:
            raise ValueError(f"default_chars must be >= 1, got {default_chars}")
        self.path = path
        self.batch_size, self.seq_len, self.eval_batch_size = batch_size, seq_len, eval_batch_size
        self.val_size, self.test_size = val_size, test_size
        self.default_chars, self.seed = default_chars, seed
        self.vocab: CharVocab | None = None
        self.splits: dict[str, torch.Tensor] = {}
        self.meta: dict[str, Any] = {}

    def read_text(self) -> str:
        """The text: the file at `path`, or the generated default."""
        if self.path is None:
            from dlrun.data.dialogue_text import dialogue_text

            return dialogue_text(self.default_chars, self.seed)
        try:
            return Path(self.path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DlrunError(f"dataset.path: text file not found: {self.path}") from None
        except UnicodeDecodeError as err:
            raise DlrunError(f"dataset.path: {self.path} is not UTF-8 text (byte {err.start})") from None
        except OSError as err:
            raise DlrunError(f"dataset.path: cannot read {self.path}: {err.strerror or err}") from None

    def setup(self, device: torch.device) -> None:
        text = self.read_text()
        if self.vocab is None:
            self.vocab = CharVocab.from_text(text)
        ids = self.vocab.encode(text).to(device)
        n_test = int(len(ids) * self.test_size)
        n_val = int(len(ids) * self.val_size)
        n_train = len(ids) - n_val - n_test
        self.splits = {"train": ids[:n_train], "val": ids[n_train : n_train + n_val], "test": ids[n_train + n_val :]}
        for split, part in self.splits.items():
            if len(part) < self.seq_len + 1:
                raise DlrunError(f"dataset: the {split} split has {len(part)} characters, fewer than seq_len + 1 = "
                                 f"{self.seq_len + 1} (use a longer text or larger fractions)")
        if len(self.splits["train"]) < self.batch_size * self.seq_len + 1:
            raise DlrunError(f"dataset: the train split ({n_train} characters) is shorter than one batch of "
                             f"batch_size x seq_len = {self.batch_size * self.seq_len} (lower them or use a longer text)")
        self.meta["vocab_size"] = len(self.vocab)

    def loader(self, split: str, train: bool = False) -> CharStreamBatches:
        ids = self.splits[split]
        rows = self.batch_size if split == "train" else min(self.eval_batch_size, (len(ids) - 1) // self.seq_len)
        return CharStreamBatches(ids, rows, self.seq_len)

    def encode(self, text: str) -> torch.Tensor:
        return self._vocab().encode(text)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        return self._vocab().decode(ids)

    def _vocab(self) -> CharVocab:
        if self.vocab is None:
            raise RuntimeError("call setup() or load_state_dict() first")
        return self.vocab

    def state_dict(self) -> dict[str, Any]:
        return {"chars": list(self.vocab.chars)} if self.vocab is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Reuse a checkpoint's vocabulary (resume, eval, predict): ids keep their meaning."""
        if state.get("chars"):
            self.vocab = CharVocab(state["chars"])
            self.meta["vocab_size"] = len(self.vocab)
