"""The decoded dataset as uint8 tensors in one file, so later runs skip parsing the originals."""

from __future__ import annotations

import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import torch

from dlrun.atomic import atomic_write

CACHE_VERSION = 1


def source_signature(paths: list[Path]) -> list[list[str | int]]:
    """(path, size, mtime) of each source file: a cache made from other files is not reused."""
    signature: list[list[str | int]] = []
    for path in paths:
        stat = path.stat()
        signature.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return signature


def read_state(path: Path, version: int, what: str) -> dict[str, Any] | None:
    """A cache file's contents (tensors only: weights_only) when present, readable and of `version`, else
    None; an unreadable file is reported as `what` and ignored (the data is read from its source again)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError):
        print(f"dlrun: ignoring unreadable {what} {path}", file=sys.stderr)
        return None
    return state if isinstance(state, dict) and state.get("version") == version else None


def load_cache(path: Path, signature: list[list[str | int]] | None) -> dict[str, torch.Tensor] | None:
    """The cached tensors, or None when the file is absent, unreadable, of another version or made
    from other source files (`signature` None: the sources are gone, any valid cache will do)."""
    state = read_state(path, CACHE_VERSION, "data cache")
    if state is None:
        return None
    if signature is not None and state.get("sources") != signature:
        return None
    return state["tensors"]


def save_cache(path: Path, tensors: dict[str, torch.Tensor], signature: list[list[str | int]]) -> bool:
    """Write the cache atomically (a crash never leaves a half file); False when the folder is not writable."""
    state = {"version": CACHE_VERSION, "sources": signature, "tensors": tensors}
    try:
        atomic_write(path, lambda f: torch.save(state, f))
    except OSError:
        return False
    return True
