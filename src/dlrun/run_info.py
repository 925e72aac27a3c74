"""What the running Hydra job says about itself: its overrides, the hyperparameters that set it
apart from its siblings (compare's columns, TensorBoard HParams), whether it is a sweep job, and
the command that resumes it."""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf


def overrides() -> list[str]:
    """The job's task overrides (the command line minus Hydra's own settings)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task)


def in_sweep() -> bool:
    """Whether this run is a job of a multirun (its torchrun workers inherit DLRUN_SWEEP_JOB)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.get().mode == RunMode.MULTIRUN or os.environ.get("DLRUN_SWEEP_JOB") == "1"


DEFINING_GROUPS = ("model", "loss", "optimizer", "scheduler", "regularizer")
DEFINING_KEYS = ("dataset.batch_size", "trainer.max_epochs")
MAX_TEXT = 120  # a list longer than this as text is left out of the columns


def flat_values(node: Any, prefix: str) -> dict[str, Any]:
    """Scalars of a plain config node under dotted paths; lists as short strings; `_target_`-style
    keys and nulls (sizes filled from the dataset) left out."""
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            if not str(key).startswith("_"):
                flat.update(flat_values(value, f"{prefix}.{key}"))
        return flat
    if isinstance(node, list):
        text = str(node)
        return {prefix: text} if len(text) <= MAX_TEXT else {}
    return {} if node is None else {prefix: node}


def inside_group(choice: str) -> bool:
    """A choice placed inside a defining group's node (`regularizer@regularizer.regularizers.l2`, an entry
    of a list or of `combined`): implied by the group's choice and its recorded values, so not a column."""
    return "@" in choice and choice.split("@", 1)[1].split(".", 1)[0] in DEFINING_GROUPS


def hparams(cfg: DictConfig) -> dict[str, Any]:
    """What defines the run: the group choices, the resolved options of the model, loss, optimizer,
    scheduler and regularizer (so presets that differ only in values still differ here), batch size,
    max epochs, seed and the overridden values (as the config holds them, so 1e-3 and 0.001 are one
    value). Run-control keys (sweep.*, ckpt_path) are left out: they never change what a run computes."""
    from hydra.core.hydra_config import HydraConfig

    from dlrun.overrides import is_run_control, job_identity, override_key

    hydra_cfg = HydraConfig.get()
    params: dict[str, Any] = {str(k): v for k, v in hydra_cfg.runtime.choices.items()
                              if not is_run_control(str(k)) and v and not inside_group(str(k))}
    for group in DEFINING_GROUPS:
        if group in cfg:
            params.update(flat_values(OmegaConf.to_container(cfg[group], resolve=True), group))
    for key in DEFINING_KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None:
            params[key] = value
    for override in job_identity(list(hydra_cfg.overrides.task)):
        key = override_key(override)
        value: Any = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if isinstance(value, ListConfig):
            value = str(OmegaConf.to_container(value))
        if value is None or isinstance(value, DictConfig):
            value = override.partition("=")[2]
        params[key] = value
    params["seed"] = int(cfg.seed)
    return params


def resume_command(checkpoint: str) -> str:
    """The `dlrun train` command line that continues this run from `checkpoint`."""
    import shlex

    from dlrun.rundir import quote_override

    kept = [o for o in overrides() if not o.startswith(("ckpt_path=", "hydra."))]
    return shlex.join(["dlrun", "train", *kept, f"ckpt_path={quote_override(checkpoint)}"])
