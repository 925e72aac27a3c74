"""The Large Movie Review Dataset v1.0 (IMDB, Maas et al. 2011): 25k train + 25k test reviews,
binary sentiment. Validation is carved from train with a seed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dlrun.data import download as downloads
from dlrun.data.archives import safe_extract
from dlrun.data.files import data_root
from dlrun.data.splits import Size, check_size, holdout
from dlrun.data.text_data import EmbeddingsOptions, RawSplit, TextClassificationData, TokenizerOptions, VocabOptions, read_text
from dlrun.errors import DlrunError

ARCHIVE = "aclImdb_v1.tar.gz"
MIRRORS = ("https://ai.stanford.edu/~amaas/data/sentiment",)
SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
LAYOUT = "aclImdb/{train,test}/{pos,neg}/*.txt"
CLASS_DIRS = {"positive": "pos", "negative": "neg"}  # class 0 = positive, 1 = negative (as the lab's SST labels)


def _review_order(path: Path) -> tuple[int, str]:
    """Files are named <id>_<rating>.txt: sort by id, so the order is the same on every filesystem."""
    head = path.stem.split("_", 1)[0]
    return (int(head) if head.isdigit() else -1, path.name)


class IMDB(TextClassificationData):
    """Reviews from root/aclImdb; ARCHIVE downloaded from the first of `mirrors` that serves it
    (sha256-verified) and safely extracted when missing."""

    def __init__(
        self,
        root: str | None = None,
        download: bool = True,
        mirrors: Sequence[str] = MIRRORS,
        sha256: str = SHA256,
        val_size: Size = 0.1,
        tokenizer: TokenizerOptions | None = None,
        vocab: VocabOptions | None = None,
        embeddings: EmbeddingsOptions | None = None,
        max_len: int | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        bucket: int = 0,
        seed: int = 7052020,
    ) -> None:
        check_size("val_size", val_size)
        super().__init__(tokenizer, vocab, embeddings, max_len, batch_size, eval_batch_size, bucket, seed,
                         class_names=list(CLASS_DIRS))
        self.root = data_root(root)
        self.download = download
        self.mirrors = list(mirrors)
        self.sha256 = sha256
        self.val_size = val_size

    @property
    def folder(self) -> Path:
        return self.root / "aclImdb"

    @staticmethod
    def _complete(folder: Path) -> bool:
        return all((folder / split / d).is_dir() for split in ("train", "test") for d in CLASS_DIRS.values())

    def ensure_files(self) -> None:
        """Download and extract the archive unless the layout is already there."""
        if self._complete(self.folder):
            return
        where = f"{self.root}/{LAYOUT}"
        urls = " or ".join(downloads.mirror_url(m, ARCHIVE) for m in self.mirrors)
        if not self.download:
            raise DlrunError(f"IMDB not found: expected {where} (set dataset.download=true, or get {urls} and extract it into {self.root})")
        try:
            archive = downloads.fetch(ARCHIVE, self.root, self.mirrors, sha256=self.sha256)
        except DlrunError as err:
            raise DlrunError(f"{err}; without network, download {urls} elsewhere and extract it so that {where} exist") from err
        safe_extract(archive, self.root, only=("aclImdb",))  # never any other entry of dataset.root
        if not self._complete(self.folder):
            raise DlrunError(f"{archive} did not contain {LAYOUT}")

    @property
    def cache_dir(self) -> Path:
        """Where the token cache (dlrun.data.token_cache) lives: next to the reviews."""
        return self.folder

    def source_files(self) -> list[Path]:
        """Every review file read_splits reads (the token cache's key)."""
        self.ensure_files()
        return [p for split in ("train", "test") for d in CLASS_DIRS.values() for p in sorted((self.folder / split / d).glob("*.txt"))]

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
        parts = holdout(len(train.texts), {"val_size": self.val_size}, self.seed, "imdb", items="reviews")
        pick = lambda idx: RawSplit([train.texts[i] for i in idx], [train.labels[i] for i in idx])  # noqa: E731
        return {"train": pick(parts["rest"].tolist()), "val": pick(parts["val_size"].tolist()), "test": test}
