"""Checks `dlrun train` overrides before any job starts: every sweep combination must compose and
every option must build. Problems become one-line errors that name the key and the valid choices."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from dlrun.data.keys import renamed_message
from dlrun.errors import DlrunError, one_line
from dlrun.paths import config_dir, config_groups, searchpath_overrides
from dlrun.overrides import override_key

JOB_NAME = "launch"  # hydra.job.name: what hydra.main names the jobs of dlrun.launch's task function
PLUGIN_PACKAGES = {  # Hydra plugins the `sweeps` extra installs: an option they add is missing without them
    "hydra/launcher/joblib": "hydra-joblib-launcher", "hydra/launcher/submitit_slurm": "hydra-submitit-launcher",
    "hydra/launcher/submitit_local": "hydra-submitit-launcher", "hydra/sweeper/optuna": "hydra-optuna-sweeper",
}
MAX_COMBINATIONS = 64  # a larger grid is checked on jobs that cover every value of every key (sweep_grid.covering)


def expand(overrides: list[str], multirun: bool) -> list[list[str]]:
    """The override lists of the jobs Hydra's basic sweeper would run (one list without -m)."""
    if not multirun:
        return [overrides]
    from dlrun.sweep_grid import covering

    try:
        return covering(overrides, config_groups(), MAX_COMBINATIONS)
    except Exception as err:  # interval()/tag sweeps for other sweepers: check the fixed part only
        from hydra.errors import OverrideParseException

        if isinstance(err, OverrideParseException):
            raise DlrunError(one_line(err)) from err
        return [[o for o in overrides if "," not in o and "(" not in o]]


def compose(overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """The composed `train` config, with Hydra's multi-line errors turned into one line."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name=JOB_NAME):
            return hydra_compose(config_name="train", overrides=[*overrides, *searchpath_overrides()],
                                 return_hydra_config=return_hydra_config)
    except DlrunError:
        raise
    except Exception as err:
        raise DlrunError(explain(err, overrides)) from err
    finally:
        GlobalHydra.instance().clear()


def explain(err: BaseException, overrides: list[str]) -> str:
    """A one-line reason for a composition error, listing valid options or keys; the facts come
    from the exception's type and attributes (Hydra's MissingConfigException, OmegaConf's key errors)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, option = err.missing_cfg_file.rpartition("/")
        options = list(err.options) if err.options is not None else config_groups().get(group, [])
        plugin = PLUGIN_PACKAGES.get(err.missing_cfg_file)
        hint = f"; it comes with {plugin}: pip install {plugin} (or dlrun's `sweeps` extra, docs/sweeps.md)" if plugin else ""
        return f"unknown option '{option}' for {group} (valid: {', '.join(options) or 'none'}){hint}"
    first_line = one_line(str(err).splitlines()[0]) if str(err) else type(err).__name__
    if isinstance(err, ConfigCompositionException):
        cause = err.__cause__
        if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):  # a key that is not there
            key = next((override_key(o) for o in overrides if override_key(o).startswith(str(cause.full_key))), str(cause.full_key))
            group = key.split(".")[0]
            if f"~{group}" in overrides and group in REQUIRED_GROUPS:  # `~trainer trainer.max_epochs=3`
                return (f"the config group '{group}' is required (~{group} removed it): choose one with {group}=<option> "
                        f"(valid: {', '.join(config_groups().get(group, [])) or 'none'})")
            if "/" in key:
                return f"unknown config group '{key.split('/')[0]}' (valid: {', '.join(config_groups())})"
            renamed = renamed_message(key)
            if renamed is not None:
                return renamed
            return f"unknown key '{key}' (valid keys here: {', '.join(_sibling_keys(key, overrides))}; add new keys with +{key}=...)"
        if _has_sweep(overrides):
            return f"{first_line} (sweeps need -m: dlrun train -m ...)"
    return one_line(str(err).split("\n\n")[0])


def _has_sweep(overrides: list[str]) -> bool:
    """Whether an override lists several values (a sweep, which needs -m)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return any(o.is_sweep_override() for o in OverridesParser.create().parse_overrides(overrides))
    except Exception:
        return False


def _sibling_keys(key: str, overrides: list[str]) -> list[str]:
    """The keys that exist next to `key` in the config composed from the group choices."""
    parent, _, _ = key.rpartition(".")
    choices = [o for o in overrides if "=" in o and "." not in o.split("=")[0] and not o.startswith(("+", "~"))]
    try:
        cfg = compose([o for o in choices if o.split("=")[0] in config_groups()])
    except DlrunError:
        return []
    node: Any = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig):
        return []
    return sorted(str(k) for k in node.keys() if not str(k).startswith("_"))


def check_overrides(overrides: list[str], multirun: bool) -> DictConfig:
    """Compose and build every job of the command; raise DlrunError on the first problem. Returns
    the first job's config with its `hydra` node, so the launcher does not compose it again."""
    from dlrun.build import check_buildable

    first = None
    composed: list[tuple[list[str], DictConfig]] = []  # the jobs composed by Hydra so far
    built: set[str] = set()  # what the jobs checked so far built from (build.build_inputs)
    for job in expand(overrides, multirun):
        cfg = with_other_values(job, composed)
        if cfg is None:
            cfg = compose(job, return_hydra_config=True)
            composed.append((job, cfg))
        first = cfg if first is None else first
        prefix = f"job {' '.join(job)}: " if multirun and len(job) else ""
        try:
            check_complete(cfg)
            check_buildable(cfg, built)
        except DlrunError as err:
            raise DlrunError(prefix + str(err), err.exit_code) from err
        except Exception as err:  # a bug in a constructor, not bad input: keep its traceback
            from dlrun.failure import classify

            failure = classify(err, output_root(overrides, multirun))
            where = getattr(err, "dlrun_group", "the config")
            raise DlrunError(f"{prefix}internal error while building {where}: {failure.message} "
                             f"(traceback in {failure.log})", exit_code=1) from None
    assert first is not None  # expand gives at least one job
    return first


def with_other_values(job: list[str], composed: list[tuple[list[str], DictConfig]]) -> DictConfig | None:
    """`job`'s config derived from a composed job whose overrides differ only in the values of keys
    that config has (seed=2 after seed=1: no config group or file changes, so composing again, about
    0.2 s, would give the same config with other values); None when no composed job is that close.
    Only plain `key=value` overrides of non-`hydra` keys with a scalar value are applied this way."""
    import copy

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    parser, groups = OverridesParser.create(), config_groups()
    for base_job, base in composed:
        if len(base_job) != len(job):
            continue
        changes = []
        for given, before in zip(job, base_job):
            if given == before:
                continue
            new, old = parser.parse_override(given), parser.parse_override(before)
            key = new.key_or_group
            plain = (new.type == OverrideType.CHANGE and new.package is None and not new.is_sweep_override()
                     and key == old.key_or_group and "/" not in key and not key.startswith("hydra")
                     and key not in groups and isinstance(new.value(), (str, int, float, bool, type(None)))
                     and OmegaConf.select(base, key, default=_ABSENT) is not _ABSENT)
            if not plain:
                break
            changes.append((key, new.value()))
        else:
            cfg = copy.deepcopy(base)
            for key, value in changes:
                OmegaConf.update(cfg, key, value, merge=True)
            return cfg
    return None


_ABSENT = object()
REQUIRED_GROUPS = ("dataset", "model", "task", "loss", "optimizer", "scheduler", "regularizer", "trainer")


def check_complete(cfg: DictConfig) -> None:
    """Every group a run builds is present (`~model` removes one) and every value resolves
    (`${nope}`, `${oc.env:UNSET}`, `seed=${seed}`), named by its key, before Hydra starts a job."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf.errors import OmegaConfBaseException

    for group in REQUIRED_GROUPS:
        if not isinstance(cfg.get(group), DictConfig):
            raise DlrunError(f"the config group '{group}' is required: choose one with {group}=<option> "
                             f"(valid: {', '.join(config_groups().get(group, [])) or 'none'})")
    HydraConfig.instance().set_config(cfg)  # `${hydra:...}` (e.g. in `name`) resolves as in the job
    for key in cfg:
        if key == "hydra":
            continue
        try:
            node = OmegaConf.select(cfg, str(key), throw_on_resolution_failure=True)
            if isinstance(node, (DictConfig, ListConfig)):
                OmegaConf.to_container(node, resolve=True)
        except OmegaConfBaseException as err:
            where = getattr(err, "full_key", None) or key
            raise DlrunError(f"cannot resolve {where}: {one_line(str(err).splitlines()[0])}") from None


def check_output_dir(overrides: list[str], multirun: bool, composed: DictConfig | None = None) -> None:
    """Fail before any job starts if the run (or sweep) dir cannot be created."""
    static = output_root(overrides, multirun, composed)
    try:
        static.mkdir(parents=True, exist_ok=True)
        probe = static / f".dlrun-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise DlrunError(f"cannot write to the output dir {static}: {err.strerror or err}") from err


def output_root(overrides: list[str], multirun: bool, composed: DictConfig | None = None) -> Path:
    """The fixed part of hydra.run.dir (hydra.sweep.dir with -m), e.g. `outputs`: where runs go
    (read from the `composed` config with its `hydra` node when there is one, else from train.yaml)."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = [_override_value(o) for o in overrides if o.startswith(f"{key}=")]
    if given:
        template = given[-1]
    elif composed is not None:
        template = str(OmegaConf.to_container(composed.hydra["sweep" if multirun else "run"], resolve=False)["dir"])
    else:
        node: Any = OmegaConf.to_container(OmegaConf.load(config_dir() / "train.yaml"), resolve=False)
        for part in key.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        template = node if isinstance(node, str) else "outputs"
    return Path(template.split("${")[0] or ".")


def _override_value(override: str) -> str:
    """The value of `key=value` as Hydra reads it (quotes removed, escapes undone)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return str(OverridesParser.create().parse_override(override).value())
    except Exception:
        return override.split("=", 1)[1]
