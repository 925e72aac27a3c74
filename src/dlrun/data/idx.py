"""The IDX file format of MNIST-style datasets: a minimal reader (and a writer for tests and tools).

Header: two zero bytes, a type byte (0x08 = uint8, ...), a byte with the number of dimensions, then
each dimension as a big-endian int32; the data follow in big-endian order. Files may be gzipped.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from dlrun.errors import DlrunError

# IDX type byte -> (big-endian numpy dtype, torch dtype)
IDX_TYPES: dict[int, tuple[str, torch.dtype]] = {
    0x08: (">u1", torch.uint8),
    0x09: (">i1", torch.int8),
    0x0B: (">i2", torch.int16),
    0x0C: (">i4", torch.int32),
    0x0D: (">f4", torch.float32),
    0x0E: (">f8", torch.float64),
}
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except FileNotFoundError as err:
        raise DlrunError(f"IDX file not found: {path}") from err
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise DlrunError(f"cannot read IDX file {path}: corrupt or truncated gzip data ({err})") from err
    return raw


def read_idx(path: str | Path) -> torch.Tensor:
    """The array stored in an IDX file (gzipped or not) as a tensor of the file's type and shape."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DlrunError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'none'}; expected 000008nn for uint8 data)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DlrunError(f"{path} is truncated: the header announces {ndim} dimensions but the file has {len(raw)} bytes")
    dims = [int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)]
    np_dtype, torch_dtype = IDX_TYPES[raw[2]]
    expected = int(np.prod(dims, dtype=np.int64)) * np.dtype(np_dtype).itemsize
    if len(raw) - header != expected:
        problem = "truncated" if len(raw) - header < expected else "longer than its header says"
        raise DlrunError(f"{path} is {problem}: shape {dims} needs {expected} data bytes, found {len(raw) - header}")
    data = np.frombuffer(raw, dtype=np_dtype, offset=header).astype(np.dtype(np_dtype).newbyteorder("="))
    return torch.from_numpy(data.reshape(dims).copy()).to(torch_dtype)


def write_idx(path: str | Path, tensor: torch.Tensor) -> None:
    """Write `tensor` as an IDX file (gzipped if the name ends in .gz)."""
    path = Path(path)
    types = {torch_dtype: (code, np_dtype) for code, (np_dtype, torch_dtype) in IDX_TYPES.items()}
    if tensor.dtype not in types:
        raise ValueError(f"IDX cannot store dtype {tensor.dtype}")
    code, np_dtype = types[tensor.dtype]
    header = bytes([0, 0, code, tensor.dim()]) + np.asarray(tensor.shape, dtype=">i4").tobytes()
    payload = header + tensor.cpu().numpy().astype(np_dtype).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
