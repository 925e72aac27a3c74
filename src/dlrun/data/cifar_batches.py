"""CIFAR-10's "python version" batches: pickled dicts read with an unpickler that only builds
numpy arrays, from the extracted folder or straight out of the downloaded tarball."""

from __future__ import annotations

import importlib
import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlrun.errors import DlrunError

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
IMAGE_BYTES = 3 * 32 * 32

# What a CIFAR batch pickle may reference: numpy array reconstruction, nothing that runs code.
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class ArrayUnpickler(pickle.Unpickler):
    """Refuses every global outside ALLOWED (a hostile pickle cannot call arbitrary functions)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        if module.startswith("numpy.core") and int(np.__version__.split(".")[0]) >= 2:
            module = "numpy._core" + module[len("numpy.core"):]
        return getattr(importlib.import_module(module), name)


def parse_batch(raw: bytes, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 from one pickled batch."""
    try:
        batch = ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as err:
        raise DlrunError(f"{source}: not a CIFAR-10 python batch (truncated or corrupt: {err})") from err
    if not isinstance(batch, dict):
        raise DlrunError(f"{source}: not a CIFAR-10 python batch (expected a dict, got {type(batch).__name__})")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_BYTES:
        raise DlrunError(f"{source}: 'data' must be a uint8 array of shape (N, {IMAGE_BYTES})")
    if labels is None or len(labels) != len(data):
        raise DlrunError(f"{source}: 'labels' must list one class per image ({len(data)} images)")
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if len(y) and (int(y.min()) < 0 or int(y.max()) > 9):
        raise DlrunError(f"{source}: labels must be in 0..9")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), y


def read_folder(folder: Path, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated batches `names` from an extracted cifar-10-batches-py folder."""
    parts = []
    for name in names:
        path = folder / name
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise DlrunError(f"cannot read {path}: {err.strerror or err}") from err
        parts.append(parse_batch(raw, str(path)))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def read_archive(archive: Path, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated batches read from the tarball's regular-file members (nothing is extracted)."""
    parts = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in names:
                member_name = f"{FOLDER}/{name}"
                try:
                    member = tar.getmember(member_name)
                except KeyError as err:
                    raise DlrunError(f"{archive}: has no member {member_name}") from err
                if not member.isfile():
                    raise DlrunError(f"{archive}: member {member_name} is not a regular file")
                handle = tar.extractfile(member)
                assert handle is not None
                parts.append(parse_batch(handle.read(), f"{archive}:{member_name}"))
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DlrunError(f"{archive}: truncated or corrupt archive ({err}); delete it and download again") from err
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

