"""Run and sweep dirs that are new by construction: resolved once in the launching process and
created with an exclusive mkdir, so two runs (or two sweeps) started in the same second, in
different processes, can never share a dir."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from omegaconf import OmegaConf

from dlrun.errors import DlrunError

UID_RESOLVER = "dlrun_uid"
_uid = [secrets.token_hex(3)]
MAX_TRIES = 50


def register_resolvers() -> None:
    """`${dlrun_uid:}`: a random suffix for run dir names (redrawn by `new_uid` on a clash)."""
    if not OmegaConf.has_resolver(UID_RESOLVER):
        OmegaConf.register_new_resolver(UID_RESOLVER, lambda: _uid[0])
    from dlrun.run_names import register_resolvers as register_name_resolvers

    register_name_resolvers()  # run and job dir names that carry the overrides


def new_uid() -> str:
    """Draw a new random suffix (used after a name clash)."""
    _uid[0] = secrets.token_hex(3)
    return _uid[0]


def has_unique_suffix(template: str) -> bool:
    """Whether a dir template (unresolved) ends in a random suffix that can be redrawn."""
    return "${" + UID_RESOLVER + ":" in template


def create_exclusive(resolve: Callable[[], str], redraw: bool) -> tuple[Path, bool]:
    """Create the dir that `resolve()` names with an exclusive mkdir. With `redraw`, a clash draws a
    new suffix and tries again; without, an existing dir is returned as is. Returns (absolute
    path, created)."""
    for _ in range(MAX_TRIES):
        path = Path(resolve()).expanduser().absolute()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
            return path, True
        except FileExistsError:
            if not redraw:
                return path, False
            new_uid()
        except OSError as err:
            raise DlrunError(f"cannot create run dir {path}: {err.strerror or err}") from err
    raise DlrunError(f"could not find a free run dir name after {MAX_TRIES} tries (last: {path})")


def quote_override(value: str) -> str:
    """A value quoted for a Hydra override, so commas, spaces or '=' in paths stay literal."""
    return "'" + value.replace("'", "\\'") + "'"
