"""Verified downloads: stream to a temporary file, check its SHA-256, then rename into place."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from dlrun.errors import DlrunError

CHUNK = 1 << 20


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_verified(url: str, dest: str | Path, sha256: str, timeout: float = 60.0, progress: bool = True) -> Path:
    """Make `dest` a copy of `url` whose SHA-256 is `sha256`.

    An existing `dest` with the right checksum is kept. Otherwise the file is streamed into a
    temporary file next to `dest`, hashed on the way, and renamed over `dest` only when the
    checksum matches; a failed or interrupted download leaves no partial `dest`. Network errors
    and checksum mismatches raise DlrunError naming the URL.
    """
    dest = Path(dest)
    expected = sha256.lower()
    if dest.is_file() and sha256_of(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - http(s)/file URLs from configs
            except (urllib.error.URLError, OSError, ValueError) as err:
                reason = getattr(err, "reason", err)
                raise DlrunError(f"cannot download {url}: {reason}") from err
            with response:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = _progress(total, dest.name, progress)
                try:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
                except OSError as err:
                    raise DlrunError(f"download of {url} failed: {err}") from err
                finally:
                    bar.close()
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != expected:
            raise DlrunError(f"checksum mismatch for {url}: sha256 {actual}, expected {expected} (download again, or check the URL)")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _progress(total: int | None, name: str, enabled: bool):  # noqa: ANN202 - a tqdm bar
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}", disable=None if enabled else True, leave=False)
