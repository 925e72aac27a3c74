"""Where dlrun finds its config tree and where runs go."""

from __future__ import annotations

import os
from pathlib import Path

from dlrun.errors import DlrunError


def config_dir() -> Path:
    """The config tree: ``$DLRUN_CONFIG_DIR`` if set, else the copy an installed wheel carries
    (``dlrun/configs``), else ``configs/`` of the source checkout (editable installs, PYTHONPATH=src)."""
    env = os.environ.get("DLRUN_CONFIG_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [here / "configs", here.parents[1] / "configs"]
    for path in candidates:
        if (path / "train.yaml").is_file():
            return path
    raise DlrunError(
        "cannot find the config tree (configs/train.yaml); reinstall dlrun (`pip install .` or the "
        "wheel) or set DLRUN_CONFIG_DIR"
    )


def config_groups() -> dict[str, list[str]]:
    """Each config group (a folder of YAML files) with its options, sorted; reads no YAML."""
    root = config_dir()
    groups: dict[str, list[str]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name == "hydra":
            continue
        options = sorted(f.stem for f in folder.glob("*.yaml"))
        if options:
            groups[folder.name] = options
    return groups
