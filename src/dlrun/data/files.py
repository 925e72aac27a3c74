"""Where a dataset's files are: the data root (DLRUN_DATA_DIR), the folders searched in order,
and the one-line error that names the expected files and those folders."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from dlrun.errors import DlrunError

ENV = "DLRUN_DATA_DIR"
RETRY_HINT = "pass dataset.root=... or put the files in one of these folders"


def data_root(root: str | os.PathLike[str] | None) -> Path:
    """`root` with ~ expanded; None means $DLRUN_DATA_DIR, else `data` (the configs' default)."""
    return Path(os.path.expanduser(str(root if root is not None else os.environ.get(ENV) or "data")))


def expand_dirs(dirs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Folders from a config list, ~ expanded."""
    return [Path(os.path.expanduser(str(d))) for d in dirs]


def find_files(dirs: Sequence[Path], names: Sequence[str], suffixes: Sequence[str] = ("",)) -> list[Path] | None:
    """The files `names` from the first folder that holds all of them (each name with the first
    of `suffixes` present, e.g. (".gz", "")), or None."""
    for folder in dirs:
        found = []
        for name in names:
            hit = next((folder / f"{name}{s}" for s in suffixes if (folder / f"{name}{s}").is_file()), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return found
    return None


def first_dir(dirs: Sequence[Path], holds: Callable[[Path], bool]) -> Path | None:
    """The first of `dirs` for which `holds(folder)` is true, or None."""
    return next((folder for folder in dirs if holds(folder)), None)


class MissingFiles(DlrunError):
    """A dataset's files are not in any searched folder (and were not downloaded)."""

    def __init__(self, dataset: str, names: Sequence[str], dirs: Sequence[Path], reason: str) -> None:
        self.names, self.dirs, self.reason = list(names), list(dirs), reason
        where = ", ".join(str(d) for d in dirs)
        super().__init__(f"{dataset}: cannot find {', '.join(names)} in {where} ({reason})")
