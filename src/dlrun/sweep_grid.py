"""The jobs a sweep will run, known before any starts: Hydra's basic-sweeper grid expanded through
Hydra's public override parser (job numbers = its order), a covering subset for the pre-flight check
of a large grid, and the check that a sampling sweeper's search space names existing keys."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dlrun.errors import DlrunError


def planned_jobs(cfg: Any, overrides: list[str]) -> list[list[str]] | None:
    """The override lists of the sweep's jobs, in order, when Hydra's basic sweeper runs it (the
    config group choice `hydra/sweeper: basic`, read from `hydra.runtime.choices`, Hydra's public
    record of the chosen options); None for a sampling sweeper (Optuna), whose trials are not known
    in advance. `cfg` is a composed config with its `hydra` node."""
    from omegaconf import DictConfig, OmegaConf

    if not uses_basic_sweeper(cfg.hydra):
        return None
    params = cfg.hydra.sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=False) if isinstance(params, DictConfig) else None
    try:
        return grid_jobs(overrides, params if isinstance(params, dict) else None)
    except ValueError as err:
        raise DlrunError(f"{err}: the grid sweeper takes lists (a=1,2,3) and range(1,4); interval() is for a "
                         "sampling sweeper such as Optuna (hparams_search=...)") from None


GRID_SWEEPERS = ("dlrun", "basic")  # dlrun's default (configs/hydra/sweeper/dlrun.yaml) and Hydra's own: the same grid


def uses_basic_sweeper(hydra_cfg: Any) -> bool:
    """Whether a grid sweeper (Hydra's basic one, or dlrun's that forms the same jobs) runs the sweep:
    the config group choice `hydra/sweeper` as Hydra records it in `hydra.runtime.choices`
    (`hydra_cfg` is the `hydra` node)."""
    return hydra_cfg.runtime.choices.get("hydra/sweeper") in GRID_SWEEPERS


def grid_jobs(overrides: list[str], config_params: dict[str, Any] | None = None) -> list[list[str]]:
    """The override lists of the jobs Hydra's basic sweeper runs, in its order (= job numbers)."""
    params = [f"{k}={v}" for k, v in (config_params or {}).items()]
    return combinations([*params, *overrides])


def _choices(overrides: list[str], parser: Any = None) -> list[list[str]]:
    """Each key's values as `key=value` strings (one for a plain override; a later override of a key
    replaces an earlier one, as in Hydra's basic sweeper). `parser`: an OverridesParser (one made with
    Hydra's config loader also expands glob() over config groups)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    by_key: dict[str, list[str]] = {}
    for override in (parser or OverridesParser.create()).parse_overrides(overrides):
        key = override.get_key_element()
        if not override.is_sweep_override():
            by_key[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            by_key[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            kind = override.value_type.name.lower().replace("_sweep", "") if override.value_type else "sampled"
            raise ValueError(f"{key}: an {kind}() sweep is not a grid")
    return list(by_key.values())


def combinations(overrides: list[str], parser: Any = None) -> list[list[str]]:
    """The cartesian product of the overrides' values (`a=1,2 b=x,y` -> 4 lists), as Hydra's basic
    sweeper forms it, through Hydra's public override parser. A range/interval sweep (for other
    sweepers) raises ValueError; a malformed override raises OverrideParseException."""
    import itertools

    return [list(job) for job in itertools.product(*_choices(overrides, parser))]


def covering(overrides: list[str], groups: Iterable[str], limit: int) -> list[list[str]]:
    """Jobs that together hold every value of every swept key, for a pre-flight check of a grid
    too large to compose whole: the full grid if it has at most `limit` jobs, else every combination
    of the config-group choices (which decide the keys that exist) with the other keys' values
    cycled side by side (job i takes value i mod n of each), so `seed=0,...,63,abc` checks `abc` too."""
    import itertools
    import math

    choices = _choices(overrides)
    if math.prod(len(c) for c in choices) <= limit:
        return [list(job) for job in itertools.product(*choices)]
    group_set = set(groups)
    is_group = [c[0].split("=", 1)[0].lstrip("+~") in group_set for c in choices]
    width = max([len(c) for c, g in zip(choices, is_group) if not g] or [1])
    jobs = []
    for picks in itertools.product(*[c if g else [None] for c, g in zip(choices, is_group)]):
        for i in range(width):
            jobs.append([p if p is not None else c[i % len(c)] for p, c in zip(picks, choices)])
    return jobs


def check_search_space(cfg: Any) -> None:
    """Every key a sweeper samples (hydra.sweeper.params) must exist in the config, or every trial
    would fail on it; `+key` adds a new one."""
    from omegaconf import OmegaConf

    params = cfg.hydra.sweeper.get("params") or {}
    missing = object()
    for key in params:
        key = str(key)
        if key.startswith("+") or key.startswith("hydra"):
            continue
        if OmegaConf.select(cfg, key.lstrip("~"), default=missing) is missing:
            raise DlrunError(f"hydra.sweeper.params: '{key}' is not a key of this config (a missing experiment=...? "
                             f"add new keys as +{key})")
