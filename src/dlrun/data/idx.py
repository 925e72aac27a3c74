"""IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed, read with strict checks."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from dlrun.errors import DlrunError

UBYTE = 0x08  # the only element type the MNIST family uses


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """The uint8 array stored in an IDX file with `ndim` dimensions (3 for images, 1 for labels).

    Header: two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions, then each
    dimension as a big-endian int32; the data follows. Anything else raises DlrunError naming the file.
    """
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DlrunError(f"{path}: truncated IDX file ({len(raw)} bytes, no header)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE or raw[3] != ndim:
        expected = f"00 00 08 {ndim:02x}"
        raise DlrunError(f"{path}: not an IDX file of {ndim}-D unsigned bytes (magic {raw[:4].hex(' ')}, expected {expected})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DlrunError(f"{path}: truncated IDX header")
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    size = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != size:
        raise DlrunError(f"{path}: IDX data has {len(raw) - header} bytes, the header {shape} says {size} (truncated or corrupt)")
    array = np.frombuffer(raw, dtype=np.uint8, count=size, offset=header).reshape(shape)
    return torch.from_numpy(array.copy())


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in .gz."""
    try:
        if path.suffix != ".gz":
            return path.read_bytes()
        with gzip.open(path, "rb") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DlrunError(f"{path}: truncated or corrupt gzip file ({err}); delete it and download again") from err
    except OSError as err:
        raise DlrunError(f"cannot read {path}: {err.strerror or err}") from err

