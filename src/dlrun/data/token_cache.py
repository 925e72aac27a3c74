"""The numericalised text corpus (token ids, offsets and labels of every split, the vocabulary and the
label order) in one file, keyed by the source files (path, size, mtime) and the options that shape
it (tokenizer, vocabulary limits, max_len, split), so a later run skips reading and tokenising them.

A dataset takes part by offering `source_files()` (every file its `read_splits` reads) and `cache_dir`;
runs with a vocabulary from a checkpoint or with pretrained vectors build as before (not cached)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from dlrun.atomic import atomic_write
from dlrun.data.image_cache import read_state

CACHE_VERSION = 1
KEY_OPTIONS = ("max_size", "min_freq", "max_len", "seed", "val_size", "class_names")  # dataset attributes that shape the corpus


def cache_key(data: Any) -> dict[str, Any] | None:
    """What the cached corpus depends on, or None when `data` does not take part."""
    if not hasattr(data, "source_files") or getattr(data, "vocab", None) is not None or getattr(data, "vectors_path", None) is not None:
        return None
    tokenizer = {k: v for k, v in vars(data.tokenizer).items() if not k.startswith("_")}
    options = {k: getattr(data, k, None) for k in KEY_OPTIONS}
    return {"dataset": type(data).__name__, "tokenizer": tokenizer, "options": json.loads(json.dumps(options, default=str)),
            "sources": source_signature(data.source_files())}


def source_signature(paths: list[Path]) -> list[list[str | int]]:
    """(absolute path, size, mtime) of each file: one stat per file (no per-file resolve; 50,000 reviews)."""
    signature: list[list[str | int]] = []
    for path in paths:
        stat = os.stat(path)
        signature.append([str(Path(path).absolute()), stat.st_size, stat.st_mtime_ns])
    return signature


def cache_path(data: Any, key: dict[str, Any]) -> Path:
    """One file per dataset and option set (the source signature is checked inside)."""
    options = json.dumps({k: key[k] for k in ("dataset", "tokenizer", "options")}, sort_keys=True, default=str)
    return Path(data.cache_dir) / f"{key['dataset'].lower()}-tokens-{hashlib.sha256(options.encode()).hexdigest()[:12]}.pt"


def restore(data: Any, key: dict[str, Any], device: torch.device) -> bool:
    """Fill `data` (vocab, class_names, splits, meta) from the cache of `key`; False when there is none that fits."""
    from dlrun.data.text_batches import TokenSequences
    from dlrun.data.vocab import Vocab

    state = read_state(cache_path(data, key), CACHE_VERSION, "token cache")
    if state is None or state.get("key") != key:
        return False
    data.vocab = Vocab.from_state(state["vocab"])
    data.class_names = list(state["class_names"])
    data.splits = {s: TokenSequences(t["tokens"], t["offsets"], t["labels"]).to(device) for s, t in state["splits"].items()}
    data.meta.update(vocab_size=len(data.vocab), num_classes=len(data.class_names), class_names=list(data.class_names),
                     split_sizes={s: len(seq) for s, seq in data.splits.items()})
    return True


def save(data: Any, key: dict[str, Any]) -> bool:
    """After setup built the corpus: write it atomically under `key` (taken before the vocabulary was built)."""
    small = len(data.vocab) < 2**31  # int32 ids: half the file to read back (TokenSequences makes them int64 again)
    splits = {s: {"tokens": seq.tokens[:-1].cpu().to(torch.int32 if small else torch.long), "offsets": seq.offsets.cpu(),
                  "labels": seq.labels.cpu()} for s, seq in data.splits.items()}
    state = {"version": CACHE_VERSION, "key": key, "vocab": data.vocab.state_dict(), "class_names": list(data.class_names), "splits": splits}
    try:
        atomic_write(cache_path(data, key), lambda f: torch.save(state, f))
    except OSError:
        print(f"dlrun: note: cannot write the token cache in {data.cache_dir} (tokenising again next time)", file=sys.stderr)
        return False
    return True
