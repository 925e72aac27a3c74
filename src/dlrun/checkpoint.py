"""Checkpoint files: written atomically, read only with torch.load(weights_only=True)."""

from __future__ import annotations

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
    payload = {"format": FORMAT, "version": VERSION, **state}
    atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a dlrun checkpoint safely; anything else (missing, truncated, foreign, or a pickle that
    carries code) raises DlrunError naming the file."""
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
    return state


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
