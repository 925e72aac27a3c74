"""Where dlrun finds its config tree and the user's config dirs added on top of it."""

from __future__ import annotations

import os
from pathlib import Path

from dlrun.errors import DlrunError

USER_DIRS_ENV = "DLRUN_CONFIG_DIR"  # the user's config dirs (os.pathsep-separated), searched after dlrun's


def config_dir() -> Path:
    """dlrun's own config tree: the copy an installed wheel carries (``dlrun/configs``), else
    ``configs/`` of the source checkout (editable installs, PYTHONPATH=src)."""
    here = Path(__file__).resolve().parent
    for path in (here / "configs", here.parents[1] / "configs"):
        if (path / "train.yaml").is_file():
            return path
    raise DlrunError("cannot find dlrun's config tree (configs/train.yaml); reinstall dlrun (`pip install .` or the wheel)")


def user_config_dirs() -> list[Path]:
    """The user's config dirs: --config-dir / -cd and hydra.searchpath of the command line (the CLI
    records them in $DLRUN_CONFIG_DIR, so launcher job processes see them too)."""
    raw = os.environ.get(USER_DIRS_ENV, "")
    return [Path(p) for p in raw.split(os.pathsep) if p]


def add_user_config_dir(path: str | os.PathLike[str]) -> Path:
    """Record a user config dir (absolute); one-line error when it is not a folder."""
    folder = Path(os.path.expanduser(str(path))).absolute()
    if not folder.is_dir():
        raise DlrunError(f"config dir not found: {folder} (--config-dir names a folder holding group folders such as model/)")
    dirs = [str(d) for d in user_config_dirs() if d != folder] + [str(folder)]
    os.environ[USER_DIRS_ENV] = os.pathsep.join(dirs)
    return folder


def config_dirs() -> list[Path]:
    """dlrun's tree first, then the user's dirs (the order Hydra searches them in)."""
    return [config_dir(), *user_config_dirs()]


def searchpath_overrides() -> list[str]:
    """The Hydra override that adds the user's config dirs to the search path (none without any)."""
    dirs = user_config_dirs()
    return [f"hydra.searchpath=[{','.join(repr('file://' + str(d)) for d in dirs)}]"] if dirs else []


def config_groups() -> dict[str, list[str]]:
    """Each config group (a folder of YAML files, in any config dir) with its options, sorted; reads no YAML."""
    groups: dict[str, set[str]] = {}
    for root in config_dirs():
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "hydra"):
            options = {f.stem for f in folder.glob("*.yaml")}
            if options:
                groups.setdefault(folder.name, set()).update(options)
    return {group: sorted(options) for group, options in sorted(groups.items())}
