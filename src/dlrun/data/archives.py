"""Safe extraction of downloaded tar archives: every member is checked before anything is written."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Collection
from pathlib import Path, PurePosixPath

from dlrun.errors import DlrunError

READ_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error)


def unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why `member` must not be extracted (None when it is a plain file or directory inside the
    target): absolute paths, `..` components, links, devices, fifos and other special entries."""
    name = member.name
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in path.parts:
        return "leaves the target directory ('..')"
    if member.issym() or member.islnk():
        return f"is a {'symbolic' if member.issym() else 'hard'} link (to '{member.linkname}')"
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a fifo"
    if not (member.isfile() or member.isdir()):
        return "is not a regular file or directory"
    return None


def check_members(tar: tarfile.TarFile, tar_path: Path) -> list[tarfile.TarInfo]:
    """All members of `tar`, or DlrunError naming the first unsafe one."""
    try:
        members = tar.getmembers()
    except READ_ERRORS as err:
        raise DlrunError(f"cannot read archive {tar_path} (truncated or corrupt?): {err}") from err
    for member in members:
        reason = unsafe_reason(member)
        if reason is not None:
            raise DlrunError(f"refusing to extract {tar_path}: member '{member.name}' {reason}")
    return members


def safe_extract(tar_path: str | Path, target_dir: str | Path, only: Collection[str] | None = None) -> list[Path]:
    """Extract `tar_path` into `target_dir` and return the top-level paths it created. With `only`,
    just the members under those top-level names are extracted (and replaced): an archive cannot
    touch the other entries of `target_dir` (e.g. a dataset archive holding `MNIST/`).

    Members are checked first (see `unsafe_reason`), so a bad archive writes nothing. Extraction
    goes to a hidden temporary directory inside `target_dir` (with tarfile's `data` filter as a
    second line of defence) and each top-level entry is then renamed into place, replacing an
    existing entry of the same name, so an interrupted extraction never leaves a half-filled
    dataset folder behind.
    """
    tar_path, target = Path(tar_path), Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(tar_path, mode="r:*")
    except READ_ERRORS as err:
        raise DlrunError(f"cannot read archive {tar_path}: {err}") from err
    with tar:
        members = check_members(tar, tar_path)
        if only is not None:
            members = [m for m in members if PurePosixPath(m.name.replace("\\", "/")).parts[:1] in [(n,) for n in only]]
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target))
        try:
            try:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, members=members, filter="data")
                else:  # pragma: no cover - Python without extraction filters; members are checked above
                    tar.extractall(staging, members=members)
            except READ_ERRORS as err:
                raise DlrunError(f"cannot extract {tar_path} (truncated or corrupt archive?): {err}") from err
            created = []
            for entry in sorted(staging.iterdir()):
                destination = target / entry.name
                if destination.is_symlink() or destination.exists():
                    _remove(destination)
                os.replace(entry, destination)
                created.append(destination)
            return created
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
