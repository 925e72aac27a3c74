"""Builds the run's objects from the composed config with Hydra's `instantiate`.

A config value a constructor rejects (after config_types has checked the keys and types: a
DlrunError or ValueError, or a TypeError from a library's constructor such as torch's) becomes a
one-line DlrunError naming the config group; any other exception from dlrun's own constructors is a
bug in them, so it is raised as it is and keeps its traceback (dlrun.failure).
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from dlrun import optim
from dlrun.early_stopping import check_monitor
from dlrun.split_checks import check_val_split
from dlrun.data.base import DataModule, lacks
from dlrun.config_types import check_node, check_root, locate
from dlrun.errors import DlrunError, one_line
from dlrun.models.init import UNSET_MEANS_DEFAULT
from dlrun.regularizers.base import Regularizer
from dlrun.run_logger import RunLogger
from dlrun.schedulers.schedule import Schedule, build_schedule


def build(group: str, node: Any, **kwargs: Any) -> Any:
    """instantiate(node, **kwargs); keys and value types are checked against the target's signature
    first, a rejected value is `group: reason`, and a bug in a constructor is raised unchanged."""
    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    if isinstance(plain, dict):
        check_node(group, {k: v for k, v in plain.items() if k not in kwargs}, provided=tuple(kwargs))
    target = plain.get("_target_", "") if isinstance(plain, dict) else ""
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as err:
        raise rejected(group, err.__cause__ or err, target) from err
    except (TypeError, ValueError) as err:
        raise rejected(group, err, target) from err


def rejected(group: str, err: BaseException, target: str) -> BaseException:
    """What to raise for an exception from the constructor `target`: a rejected value (DlrunError,
    ValueError, or a TypeError from a library's code) as one line `group: reason`; anything else
    from dlrun's own code is a bug, raised unchanged (tagged with the group for pre-flight)."""
    if isinstance(err, DlrunError):
        return err
    if isinstance(err, ValueError) or (isinstance(err, TypeError) and not str(target).startswith("dlrun.")):
        return DlrunError(f"{group}: {one_line(err)}")
    err.dlrun_group = group  # type: ignore[attr-defined]  # pre-flight names where the bug struck
    return err


def build_data(cfg: DictConfig) -> DataModule:
    """The dataset, which must provide what dlrun.data.base.DataModule declares."""
    data = build("dataset", cfg.dataset)
    if not isinstance(data, DataModule):
        raise DlrunError(f"dataset: {cfg.dataset._target_} lacks {', '.join(lacks(data, DataModule))} of dlrun.data.base.DataModule "
                         "(inherit dlrun.data.base.BaseData for the members that have a default)")
    return data


def build_model(cfg: DictConfig, data: DataModule, meta: dict[str, Any] | None = None) -> nn.Module:
    """The model, with each config value left at null filled from the dataset's meta (or `meta`)."""
    meta = data.meta if meta is None else meta
    fill = {k: meta[k] for k, v in cfg.model.items() if v is None and k in meta}
    missing = [k for k, v in cfg.model.items() if v is None and k not in meta and k in _required(cfg.model)]
    if missing:
        raise DlrunError(f"model: {', '.join(missing)} must be set (the dataset does not provide it)")
    return build("model", cfg.model, **fill)


def _required(node: DictConfig) -> set[str]:
    """Constructor parameters of node's _target_ that have no default."""
    try:
        params = inspect.signature(locate(node._target_)).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in params if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD}


def build_task(cfg: DictConfig) -> Any:
    loss = build("loss", cfg.loss)
    return build("task", cfg.task, loss=loss)


def build_regularizer(cfg: DictConfig) -> Regularizer:
    return build("regularizer", cfg.regularizer)


def build_optimizer(cfg: DictConfig, model: nn.Module) -> torch.optim.Optimizer:
    lr = cfg.optimizer.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr)):  # a string, a list
        raise DlrunError(f"optimizer.lr: expected a finite number > 0, got {lr!r}")
    factory = build("optimizer", cfg.optimizer, no_decay=cfg.optimizer.get("no_decay", False))  # optim.py acts on no_decay
    if next(iter(model.parameters()), None) is None:
        raise DlrunError(f"model: {cfg.model._target_.rsplit('.', 1)[-1]} has no parameters, so there is nothing to "
                         "train; evaluate it instead: dlrun eval model=... dataset=... task=...")
    try:
        optimizer = optim.build_optimizer(factory, model)
    except (TypeError, ValueError) as err:
        raise rejected("optimizer", err, str(cfg.optimizer.get("_target_", ""))) from err
    for group in optimizer.param_groups:
        lr = group.get("lr")
        if isinstance(lr, (int, float)) and not lr > 0:
            raise DlrunError(f"optimizer: lr must be > 0, got {lr}")
    return optimizer


def build_trainer(cfg: DictConfig, run_dir: Path, logger: RunLogger) -> Any:
    return build("trainer", cfg.trainer, run_dir=run_dir, logger=logger)


def build_schedule_for(cfg: DictConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Schedule:
    try:
        return build_schedule(cfg.scheduler, optimizer, steps_per_epoch, int(cfg.trainer.max_epochs))
    except InstantiationException as err:
        raise rejected("scheduler", err.__cause__ or err, str(cfg.scheduler.get("_target_", ""))) from err
    except (TypeError, ValueError) as err:
        raise rejected("scheduler", err, str(cfg.scheduler.get("_target_", ""))) from err


BUILT_GROUPS = ("dataset", "model", "loss", "task", "regularizer", "trainer", "optimizer", "scheduler")  # what check_buildable builds


def build_inputs(cfg: DictConfig) -> str:
    """The resolved groups `check_buildable` builds, as one string: jobs with the same ones (seed=1 and
    seed=2) build alike, so a sweep's pre-flight builds them once."""
    return repr({group: OmegaConf.to_container(cfg[group], resolve=True) for group in BUILT_GROUPS if group in cfg})


def check_buildable(cfg: DictConfig, built: set[str] | None = None) -> None:
    """Build every option without loading data (a dummy parameter stands in for the model's when
    the dataset cannot describe the model yet), so bad values fail before any real work. `built`:
    the `build_inputs` of the jobs checked so far; a job with the same ones has its top-level keys checked only.

    A dataset whose meta is only known after setup (a vocabulary size) offers stand-in values in
    `preflight_meta` (DataModule); the model is then built with those (the real meta wins where both exist).
    """
    check_root(cfg)
    inputs = build_inputs(cfg) if built is not None else ""
    if built is not None and inputs in built:
        return
    data = build_data(cfg)
    check_val_split(cfg, data)
    task = build_task(cfg)
    build_regularizer(cfg)
    trainer = build_trainer(cfg, Path("."), RunLogger(Path("."), tensorboard=False))
    check_monitor(str(trainer.monitor), task)  # a metric the task never reports fails now, not after epoch 1
    params: Any = [nn.Parameter(torch.zeros(1))]
    meta = {**data.preflight_meta, **data.meta}
    sizes_unknown = [k for k, v in cfg.model.items() if v is None and k not in meta and k not in UNSET_MEANS_DEFAULT]
    if not sizes_unknown:
        params = build_model(cfg, data, meta).parameters()
    optimizer = build_optimizer(cfg, nn.ParameterList(params))
    build_schedule_for(cfg, optimizer, steps_per_epoch=10 * trainer.accumulate)
    if built is not None:
        built.add(inputs)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data (stored in checkpoints and results.json)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    return container
