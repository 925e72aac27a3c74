"""Tiny text corpora written in the real on-disk formats (lab SST CSV, aclImdb tree, GloVe text)."""

from __future__ import annotations

import random
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

POSITIVE_WORDS = ["good", "great", "superb", "lovely", "brilliant"]
NEGATIVE_WORDS = ["bad", "awful", "boring", "dull", "poor"]
FILLER_WORDS = ["the", "a", "movie", "film", "is", "was", "and", "of", "it", "plot"]


def separable_texts(n: int, seed: int) -> list[tuple[str, str]]:
    """(text, label) pairs: filler words plus 1-3 words that only occur with the text's label."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.choice(["positive", "negative"])
        words = [rng.choice(FILLER_WORDS) for _ in range(rng.randint(0, 12))]
        for _ in range(rng.randint(1, 3)):
            cue = rng.choice(POSITIVE_WORDS if label == "positive" else NEGATIVE_WORDS)
            words.insert(rng.randint(0, len(words)), cue)
        out.append((" ".join(words), label))
    return out


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    """The lab's SST form: `text, label` per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{text}, {label}\n" for text, label in rows))
    return path


def write_sst(root: Path, sizes: tuple[int, int, int] = (300, 80, 80), seed: int = 0) -> Path:
    """sst_{train,valid,test}_raw.csv of a separable corpus under `root`."""
    for offset, (split, n) in enumerate(zip(("train", "valid", "test"), sizes)):
        write_csv(root / f"sst_{split}_raw.csv", separable_texts(n, seed + offset))
    return root


def write_aclimdb(root: Path, per_class: dict[str, int] | None = None, seed: int = 0) -> Path:
    """root/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt with HTML breaks, as the real files."""
    per_class = per_class or {"train": 20, "test": 10}
    rng = random.Random(seed)
    for split, n in per_class.items():
        for subdir, label in (("pos", "positive"), ("neg", "negative")):
            folder = root / "aclImdb" / split / subdir
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                text, _ = separable_texts(1, rng.randint(0, 10**9))[0]
                cue = rng.choice(POSITIVE_WORDS if label == "positive" else NEGATIVE_WORDS)
                rating = rng.randint(7, 10) if subdir == "pos" else rng.randint(1, 4)
                (folder / f"{i}_{rating}.txt").write_text(f"{cue.capitalize()}! {text}<br /><br />{cue}.")
    return root / "aclImdb"


def write_vectors(path: Path, vectors: dict[str, list[float]], sep: str = " ", header: bool = False) -> Path:
    """A GloVe (sep=' ') or comma-separated vector file; `header` adds word2vec's 'count dim' line."""
    lines = [f"{len(vectors)} {len(next(iter(vectors.values())))}"] if header else []
    lines += [sep.join([word, *(repr(float(x)) for x in vec)]) for word, vec in vectors.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def make_tar(path: Path, files: dict[str, bytes]) -> Path:
    """A .tar.gz holding `files` (archive name -> contents)."""
    import io

    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread: small RNN steps on a shared 2-core machine are much faster that way."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
