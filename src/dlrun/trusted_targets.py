"""Which code a checkpoint's stored config may name: a checkpoint is data from someone else, so only
the `_target_`s that the config tree defines (dlrun's and the user's config dirs) or dlrun's own
classes are built from it, unless the user opts in with trust_checkpoint=true."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dlrun.errors import DlrunError

TARGET_LINE = re.compile(r"^\s*_target_\s*:\s*['\"]?([\w.]+)", re.MULTILINE)


def defined_targets(config_dirs: Iterable[Path]) -> set[str]:
    """Every `_target_` written in a YAML file of the config dirs (read as text, no composing)."""
    found: set[str] = set()
    for root in config_dirs:
        for yaml_file in Path(root).rglob("*.yaml"):
            found.update(TARGET_LINE.findall(yaml_file.read_text(encoding="utf-8", errors="replace")))
    return found


def stored_targets(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(config key, target) for every `_target_` in a plain stored config."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "_target_" and isinstance(value, str):
                yield path or "<root>", value
            else:
                yield from stored_targets(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from stored_targets(value, f"{path}[{index}]")


def check_stored_targets(config: dict[str, Any], source: str | Path, config_dirs: Iterable[Path], trust: bool = False) -> None:
    """Refuse a stored config that names code the config tree does not define (one line, the opt-in)."""
    if trust:
        return
    allowed = defined_targets(config_dirs)
    for key, target in stored_targets(config):
        if target not in allowed and not target.startswith("dlrun."):
            raise DlrunError(f"{source} names code that no config of this dlrun defines: {key}._target_={target}; "
                             "if you made this checkpoint with your own code, pass trust_checkpoint=true")
