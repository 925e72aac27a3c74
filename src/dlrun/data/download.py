"""Verified downloads from mirrors: stream to a temporary file, check length and checksum, fsync,
then rename into place, so a partial download is never mistaken for a whole one."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from dlrun.errors import DlrunError, one_line

CHUNK = 1 << 20


class _Failed(Exception):
    """One URL did not yield the verified file (the message says why, in a few words)."""


def file_digest(path: str | Path, algorithm: str) -> str:
    """Hex digest (`sha256`, `md5`, ...) of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    return file_digest(path, "sha256")


def mirror_url(mirror: str, filename: str) -> str:
    """`<mirror>/<filename>`, joined with exactly one '/'."""
    return f"{mirror.rstrip('/')}/{filename.lstrip('/')}"


def fetch(filename: str, dest_dir: str | Path, mirrors: Sequence[str], *, sha256: str | None = None,
          md5: str | None = None, timeout: float = 60.0, progress: bool = True) -> Path:
    """`dest_dir/filename`, downloaded from the first of `mirrors` (base URLs) that serves it whole.

    An existing file that passes the checksum is reused without touching the network (with no
    checksum given, any existing file is: only a complete download is ever renamed into place).
    Each `<mirror>/<filename>` is tried in order (HTTP(S) redirects followed, `timeout` seconds per
    socket operation, so a stalled server fails); a body shorter than its Content-Length or with
    the wrong sha256/md5 counts as a failure and the next mirror is tried. When every mirror fails,
    one DlrunError line names each URL and why.
    """
    parts = Path(filename).parts
    if not parts or Path(filename).is_absolute() or ".." in parts:
        raise DlrunError(f"cannot download {filename!r}: the file name must be a relative path inside the dataset folder")
    if not mirrors:
        raise DlrunError(f"cannot download {filename}: no mirrors configured (set dataset.mirrors to a list of base URLs)")
    return _fetch_urls([mirror_url(m, filename) for m in mirrors], Path(dest_dir) / filename, sha256, md5, timeout, progress)


def download_verified(url: str, dest: str | Path, sha256: str, timeout: float = 60.0, progress: bool = True) -> Path:
    """Make `dest` a copy of `url` whose SHA-256 is `sha256` (`fetch` for one full URL and any
    destination name); errors start with "cannot download" and name the URL."""
    return _fetch_urls([url], Path(dest), sha256, None, timeout, progress)


def _fetch_urls(urls: list[str], dest: Path, sha256: str | None, md5: str | None, timeout: float, progress: bool) -> Path:
    """The first of `urls` that yields a verified `dest` (see `fetch`)."""
    expected = {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}
    if dest.is_file() and all(file_digest(dest, name) == value for name, value in expected.items()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tried = []
    for url in urls:
        try:
            _download(url, dest, expected, timeout, progress)
            return dest
        except _Failed as err:
            tried.append(f"{url} ({one_line(err)})")
    raise DlrunError(f"cannot download {dest.name}: tried {'; '.join(tried)}")


def _download(url: str, dest: Path, expected: dict[str, str], timeout: float, progress: bool) -> None:
    """Stream `url` to a temporary file next to `dest`; rename it over `dest` only when whole and
    verified. The temporary file is removed on any failure."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digests = {name: hashlib.new(name) for name in expected}
    try:
        with os.fdopen(fd, "wb") as out:
            received, promised = _stream(url, out, digests, timeout, progress, dest.name)
            if promised is not None and received != promised:
                raise _Failed(f"connection closed after {received} of {promised} bytes")
            out.flush()
            os.fsync(out.fileno())
        for name, digest in digests.items():
            if digest.hexdigest() != expected[name]:
                raise _Failed(f"checksum mismatch: {name} {digest.hexdigest()}, expected {expected[name]}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _stream(url: str, out, digests: dict, timeout: float, progress: bool, name: str) -> tuple[int, int | None]:  # noqa: ANN001
    """Copy the body of `url` into `out`, updating `digests`; (bytes received, Content-Length or None)."""
    received = 0
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - http(s)/file URLs from configs
    except urllib.error.HTTPError as err:
        raise _Failed(f"HTTP {err.code} {err.reason}") from err
    except urllib.error.URLError as err:
        raise _Failed(_describe(err.reason) if isinstance(err.reason, BaseException) else str(err.reason)) from err
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise _Failed(_describe(err)) from err
    with response:
        length = response.headers.get("Content-Length")
        promised = int(length) if length and length.strip().isdigit() else None
        bar = _progress(promised, name, progress)
        try:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                for digest in digests.values():
                    digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except http.client.IncompleteRead as err:  # a chunked body cut short
            of = "" if promised is None else f" of {promised}"
            raise _Failed(f"connection closed after {received + len(err.partial)}{of} bytes") from err
        except (OSError, http.client.HTTPException) as err:
            raise _Failed(f"{_describe(err)} after {received} bytes") from err
        finally:
            bar.close()
    return received, promised


def _describe(err: BaseException) -> str:
    """A few words for a network error (a timeout says so, whatever its class)."""
    if isinstance(err, TimeoutError):
        return "timed out"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _progress(total: int | None, name: str, enabled: bool):  # noqa: ANN202 - a tqdm bar
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}", disable=None if enabled else True, leave=False)
