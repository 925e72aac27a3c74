"""The Large Movie Review Dataset v1.0 (IMDB, Maas et al. 2011): 25k train + 25k test reviews,
binary sentiment. Validation is carved from train with a seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dlrun.data.archives import safe_extract
from dlrun.data.download import download_verified
from dlrun.data.text_data import RawSplit, TextClassificationData, read_text
from dlrun.errors import DlrunError

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
LAYOUT = "aclImdb/{train,test}/{pos,neg}/*.txt"
CLASS_DIRS = {"positive": "pos", "negative": "neg"}  # class 0 = positive, 1 = negative (as the lab's SST labels)


def _review_order(path: Path) -> tuple[int, str]:
    """Files are named <id>_<rating>.txt: sort by id, so the order is the same on every filesystem."""
    head = path.stem.split("_", 1)[0]
    return (int(head) if head.isdigit() else -1, path.name)


class IMDB(TextClassificationData):
    """Reviews from `root`/aclImdb; downloaded (checksum-verified) and safely extracted when missing."""

    def __init__(
        self,
        root: str = "data",
        download: bool = True,
        url: str = URL,
        sha256: str = SHA256,
        val_fraction: float = 0.1,
        tokenizer: dict[str, Any] | None = None,
        vocab: dict[str, Any] | None = None,
        embeddings: dict[str, Any] | None = None,
        max_len: int | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        bucket: int = 0,
        seed: int = 7052020,
    ) -> None:
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        super().__init__(tokenizer, vocab, embeddings, max_len, batch_size, eval_batch_size, bucket, seed,
                         class_names=list(CLASS_DIRS))
        self.root = Path(root)
        self.download = download
        self.url = url
        self.sha256 = sha256
        self.val_fraction = val_fraction

    @property
    def folder(self) -> Path:
        return self.root / "aclImdb"

    def _complete(self) -> bool:
        return all((self.folder / split / d).is_dir() for split in ("train", "test") for d in CLASS_DIRS.values())

    def ensure_files(self) -> None:
        """Download and extract the archive unless the layout is already there."""
        if self._complete():
            return
        where = f"{self.root}/{LAYOUT}"
        if not self.download:
            raise DlrunError(f"IMDB not found: expected {where} (set dataset.download=true, or get {self.url} and extract it into {self.root})")
        archive = self.root / Path(self.url).name
        try:
            download_verified(self.url, archive, self.sha256)
        except DlrunError as err:
            if not str(err).startswith("cannot download"):
                raise
            raise DlrunError(f"{err}; without network, download {self.url} elsewhere and extract it so that {where} exist") from err
        safe_extract(archive, self.root)
        if not self._complete():
            raise DlrunError(f"{archive} did not contain {LAYOUT}")

    def _read_folder(self, split: str) -> RawSplit:
        texts, labels = [], []
        for label, subdir in CLASS_DIRS.items():
            folder = self.folder / split / subdir
            for path in sorted(folder.glob("*.txt"), key=_review_order):
                try:
                    texts.append(read_text(path.read_bytes()))
                except OSError as err:
                    raise DlrunError(f"cannot read {path}: {err.strerror or err}") from err
                labels.append(label)
        if not texts:
            raise DlrunError(f"no reviews in {self.folder / split}/{{pos,neg}} (expected {LAYOUT})")
        return RawSplit(texts, labels)

    def read_splits(self) -> dict[str, RawSplit]:
        self.ensure_files()
        train, test = self._read_folder("train"), self._read_folder("test")
        order = torch.randperm(len(train.texts), generator=torch.Generator().manual_seed(self.seed)).tolist()
        n_val = max(1, round(len(order) * self.val_fraction))
        if n_val >= len(order):
            raise DlrunError(f"val_fraction {self.val_fraction} leaves no training reviews ({len(order)} in train)")
        val_idx, train_idx = sorted(order[:n_val]), sorted(order[n_val:])
        pick = lambda idx: RawSplit([train.texts[i] for i in idx], [train.labels[i] for i in idx])  # noqa: E731
        return {"train": pick(train_idx), "val": pick(val_idx), "test": test}
