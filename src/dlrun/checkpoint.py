"""Checkpoint files: written atomically with a SHA-256 of their contents, read only with
torch.load(weights_only=True) and checked against that digest (a flipped byte is "corrupted")."""

from __future__ import annotations

import hashlib
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from dlrun.atomic import atomic_write
from dlrun.errors import DlrunError

FORMAT = "dlrun-checkpoint"
VERSION = 1


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` atomically: a crash at any moment leaves the previous complete file."""
    state = {k: v for k, v in state.items() if k not in ("format", "version", "sha256")}  # a reloaded state's own
    payload = {"format": FORMAT, "version": VERSION, "sha256": content_digest(state), **state}
    atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", verify: bool = True) -> dict[str, Any]:
    """Load a dlrun checkpoint safely; anything else (missing, truncated, foreign, a pickle that
    carries code, or contents that no longer match their digest) raises DlrunError naming the file.
    `verify=False` leaves the digest to a later `verify_digest` (after the caller's own content checks)."""
    path = Path(path)
    if not path.is_file():
        raise DlrunError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise DlrunError(f"cannot read checkpoint {path}: truncated or not a checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f" ({found.group(1)})" if found else ""
        raise DlrunError(f"refusing to load {path}: it holds Python objects{what}, not plain tensors and data") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise DlrunError(f"cannot read checkpoint {path}: truncated or not a checkpoint ({_first_line(err)})") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DlrunError(f"{path} is not a dlrun checkpoint")
    if state.get("version") != VERSION:
        raise DlrunError(f"{path} has checkpoint version {state.get('version')}; this dlrun reads version {VERSION}")
    if verify:
        verify_digest(state, path)
    return state


def verify_digest(state: dict[str, Any], path: str | Path) -> None:
    """Raise DlrunError unless `state` matches the SHA-256 recorded when it was saved."""
    recorded = state.get("sha256")
    if not isinstance(recorded, str):
        raise DlrunError(f"{path} records no sha256 of its contents (written by an older dlrun?); it cannot be verified")
    contents = {k: v for k, v in state.items() if k not in ("format", "version", "sha256")}
    if content_digest(contents) != recorded:
        raise DlrunError(f"checkpoint {path} is corrupted: its contents do not match the sha256 recorded when it was saved")


def content_digest(value: Any) -> str:
    """SHA-256 over a checkpoint's contents: dict keys, tensors (dtype, shape, bytes) and plain values,
    independent of how torch.save lays them out in the file."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        data = value.detach().to("cpu").contiguous()
        digest.update(f"T{data.dtype}{tuple(data.shape)}".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"V{type(value).__name__}:{value!r}".encode())


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
