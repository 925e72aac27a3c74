"""Run and sweep dirs that are new by construction: resolved once in the launching process and
created with an exclusive mkdir, so two runs (or two sweeps) started in the same second, in
different processes, can never share a dir."""

from __future__ import annotations

import re
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


ARTEFACTS = ("checkpoints", ".hydra", "results.json", "sweep.json", "metrics.csv", "error.log")
EVENTS_PREFIX = "events.out.tfevents."


def artefacts(path: Path) -> list[str]:
    """The run or sweep artefacts (checkpoints, events, .hydra, results.json, sweep.json, ...) that
    `path` holds; an empty list for a missing or fresh dir."""
    try:
        names = sorted(p.name for p in Path(path).iterdir())
    except OSError:
        return []
    return [n for n in names if n in ARTEFACTS or n.startswith(EVENTS_PREFIX)]


def how_to_continue(path: Path) -> str:
    """What to do with a dir that holds a run or a sweep instead of reusing it."""
    if (path / "sweep.json").exists():
        return f"it holds a sweep: finish it with dlrun train -m ... {shell_override('sweep.resume', str(path))}"
    last = path / "checkpoints" / "last.pt"
    if last.is_file():
        return (f"it holds a run: resume it into a new dir with dlrun train ... "
                f"{shell_override('ckpt_path', str(last))}")
    return "it holds another run's files"


def check_fresh(path: Path, what: str, hint: str | None = None) -> None:
    """Refuse `path` as a new run, sweep or eval dir if it holds any run or sweep artefact, so a
    second run never overwrites or mixes with the files of the first."""
    found = artefacts(path)
    if found:
        raise DlrunError(f"{what} {path} already holds {', '.join(found)}; {hint or how_to_continue(Path(path))}; "
                         f"or choose a new {what}")


PLAIN = re.compile(r"[A-Za-z0-9_./-]+")


def quote_override(value: str) -> str:
    """A value quoted for Hydra's override grammar, so spaces, commas, quotes, parentheses, '=' or
    non-ASCII letters in paths stay literal: '...' with \\' for a quote, backslashes before a quote
    (or the end) doubled and `${` escaped; plain values (letters, digits, _ . / -) pass as they are."""
    if PLAIN.fullmatch(value):
        return value
    value = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, value)
    return "'" + value.replace("'", "\\'").replace("${", "\\${") + "'"


def shell_override(key: str, value: str) -> str:
    """`key=value` quoted for Hydra, then for the shell: a command line that pastes back as is."""
    import shlex

    return shlex.quote(f"{key}={quote_override(value)}")
