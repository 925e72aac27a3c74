"""Text classification from CSV-like files with one `text, label` per line (the course lab's SST form)."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from dlrun.config_types import checked_options
from dlrun.data.files import data_root
from dlrun.data.text_data import SPLITS, EmbeddingsOptions, RawSplit, TextClassificationData, TokenizerOptions, VocabOptions, read_text
from dlrun.errors import DlrunError

LINE_FORMAT = "one 'text, label' per line (the label after the last comma)"


def read_labelled_lines(path: Path) -> RawSplit:
    """Parse `path`: each non-blank line is `text, label`, split at the last comma (the text may
    contain commas); bytes that are not UTF-8 are replaced, never an error."""
    if not path.is_file():
        raise DlrunError(f"data file not found: {path} (expected {LINE_FORMAT}; set dataset.root and dataset.files)")
    try:
        content = read_text(path.read_bytes())
    except OSError as err:
        raise DlrunError(f"cannot read {path}: {err.strerror or err}") from err
    texts, labels = [], []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        text, comma, label = line.rpartition(",")
        if not comma or not label.strip():
            raise DlrunError(f"{path}:{number}: expected {LINE_FORMAT}, got {line[:60]!r}")
        texts.append(text.strip())
        labels.append(label.strip())
    return RawSplit(texts, labels)


class SplitFiles(TypedDict):
    """dataset.files: each split's file, relative to root (all three required), checked by dlrun.config_types."""

    train: str
    val: str
    test: str


class TextCSV(TextClassificationData):
    """Train/val/test from three files (`files`: paths relative to `root`, the data folder).

    labels: the class order (class i = labels[i]); null orders the labels found in train by
    frequency, as the lab's label vocabulary does (SST: positive = 0, negative = 1).
    """

    def __init__(
        self,
        root: str | None = None,
        files: SplitFiles | None = None,
        labels: list[str] | None = None,
        tokenizer: TokenizerOptions | None = None,
        vocab: VocabOptions | None = None,
        embeddings: EmbeddingsOptions | None = None,
        max_len: int | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        bucket: int = 0,
        seed: int = 7052020,
    ) -> None:
        files = checked_options("files", files, SplitFiles)
        super().__init__(tokenizer, vocab, embeddings, max_len, batch_size, eval_batch_size, bucket, seed, class_names=labels)
        self.root = data_root(root)
        self.files = {s: self.root / files[s] for s in SPLITS}

    def read_splits(self) -> dict[str, RawSplit]:
        return {split: read_labelled_lines(path) for split, path in self.files.items()}
