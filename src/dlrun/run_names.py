"""Run dir names that say what differs, since TensorBoard names a run by its dir: a sweep job is
`<num>_<the overrides that vary in the sweep>` (e.g. `3_optimizer-adam_seed-2`), a single run
ends in its command-line overrides. Names are sanitised for file systems and for Hydra overrides
(`key-value`: a path with '=' or ',' would break `ckpt_path=<run dir>/...`), and shortened with a
stable hash past MAX_CHARS; the same overrides always give the same name (sweep.resume)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

JOB_DIR_RESOLVER = "dlrun_job_dir"
RUN_SUFFIX_RESOLVER = "dlrun_run_suffix"
EXCLUDE_KEY = "hydra.job.config.override_dirname.exclude_keys"  # Hydra's own "keys left out of dir names"
MAX_CHARS = 80  # of the overrides part; longer: cut, plus '-' and 8 hex digits of its SHA-1
_DROP = re.compile(r"[\[\]{}()'\"]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+@-]+")  # what stays literal in a Hydra override value and a file name


def _clean(override: str) -> str:
    """`model.hidden=[128,128]` -> `model.hidden-128+128`: key '-' value, list commas as '+'."""
    key, sep, value = override.partition("=")
    value = _DROP.sub("", value).replace(",", "+")
    return _UNSAFE.sub("-", key + ("-" + value if sep else ""))


def describe(overrides: Iterable[str], exclude: Iterable[str] = ()) -> str:
    """`optimizer-adam_seed-2`: the overrides that define what a run computes, minus `exclude`d
    keys, joined by '_', in command-line order; file-system safe and at most MAX_CHARS + 9 long."""
    from dlrun.overrides import job_identity, override_key

    skip = set(exclude)
    kept = [str(o).lstrip("+") for o in job_identity([str(o) for o in overrides]) if override_key(str(o)) not in skip]
    text = "_".join(_clean(o) for o in kept).strip(".-")
    if len(text) > MAX_CHARS:
        digest = hashlib.sha1("\n".join(kept).encode()).hexdigest()[:8]
        text = f"{text[:MAX_CHARS].rstrip('._-')}-{digest}"
    return text


def job_dir_name(num: int | str, overrides: Iterable[str], exclude: Iterable[str] = ()) -> str:
    """A sweep job's subdir: its number, then the overrides that vary (just the number if none)."""
    text = describe(overrides, exclude)
    return f"{num}_{text}" if text else str(num)


def run_suffix(overrides: Iterable[str]) -> str:
    """What a single run's dir name ends in: `_` + its command-line overrides ('' without any)."""
    text = describe(overrides)
    return f"_{text}" if text else ""


def constant_keys(overrides: list[str], jobs: list[list[str]] | None) -> list[str]:
    """Keys that take one value in every job of a sweep (left out of job dir names). With the grid
    (basic sweeper) it is read off the jobs; otherwise (Optuna) the command line's plain overrides."""
    from dlrun.overrides import job_identity, override_key

    if jobs is not None:
        seen: dict[str, set[str]] = {}
        counts: dict[str, int] = {}
        for job in jobs:
            for o in job_identity(job):
                seen.setdefault(override_key(o), set()).add(o)
                counts[override_key(o)] = counts.get(override_key(o), 0) + 1
        return [k for k, v in seen.items() if len(v) == 1 and counts[k] == len(jobs)]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    keys = []
    for o in job_identity(overrides):
        try:
            if not parser.parse_override(o).is_sweep_override():
                keys.append(override_key(o))
        except Exception:  # unparsable here: Hydra reports it itself
            continue
    return keys


def exclude_override(keys: list[str]) -> str:
    """The Hydra override that tells every job which keys stay out of its dir name."""
    return f"{EXCLUDE_KEY}=[" + ",".join("'" + k.replace("'", "\\'") + "'" for k in keys) + "]"


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if value is not None else []


def register_resolvers() -> None:
    """`${dlrun_job_dir:num,task overrides,exclude keys}` and `${dlrun_run_suffix:task overrides}`."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver(JOB_DIR_RESOLVER):
        OmegaConf.register_new_resolver(
            JOB_DIR_RESOLVER, lambda num, overrides, exclude=None: job_dir_name(num, _strings(overrides), _strings(exclude)))
    if not OmegaConf.has_resolver(RUN_SUFFIX_RESOLVER):
        OmegaConf.register_new_resolver(RUN_SUFFIX_RESOLVER, lambda overrides: run_suffix(_strings(overrides)))
