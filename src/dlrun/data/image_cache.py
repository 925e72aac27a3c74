"""The decoded dataset as uint8 tensors in one file, so later runs skip parsing the originals."""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

CACHE_VERSION = 1


def source_signature(paths: list[Path]) -> list[list[str | int]]:
    """(path, size, mtime) of each source file: a cache made from other files is not reused."""
    signature: list[list[str | int]] = []
    for path in paths:
        stat = path.stat()
        signature.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return signature


def load_cache(path: Path, signature: list[list[str | int]] | None) -> dict[str, torch.Tensor] | None:
    """The cached tensors, or None when the file is absent, unreadable, of another version or made
    from other source files (`signature` None: the sources are gone, any valid cache will do)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError):
        print(f"dlrun: ignoring unreadable data cache {path}", file=sys.stderr)
        return None
    if not isinstance(state, dict) or state.get("version") != CACHE_VERSION:
        return None
    if signature is not None and state.get("sources") != signature:
        return None
    return state["tensors"]


def save_cache(path: Path, tensors: dict[str, torch.Tensor], signature: list[list[str | int]]) -> bool:
    """Write the cache atomically (temp file + rename); False when the folder is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"version": CACHE_VERSION, "sources": signature, "tensors": tensors}, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
