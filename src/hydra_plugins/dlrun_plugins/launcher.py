"""dlrun's sweep launcher (`hydra/launcher=dlrun`, chosen by dlrun.launch.dlrun_plugins): Hydra's basic
launcher (jobs one after another in this process), except that a job whose overrides differ from an
earlier job's only in values (seed=2 after seed=1) gets that job's config with the new values instead
of a new composition (about 0.2 s a job). Hydra requires launchers to live in the `hydra_plugins`
package; the config is configs/hydra/launcher/dlrun.yaml."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)


class DlrunLauncher(Launcher):
    def __init__(self) -> None:
        super().__init__()
        self.config: DictConfig | None = None
        self.task_function: Any = None
        self.hydra_context: Any = None
        self.composed: list[tuple[list[str], DictConfig]] = []  # jobs Hydra composed, before run_job touched them

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally")
        runs: list[JobReturn] = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            sweep_config = self.job_config(list(overrides), self.composed)  # kept across batches (Optuna's trials)
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = idx
                sweep_config.hydra.job.num = idx
            runs.append(run_job(hydra_context=self.hydra_context, task_function=self.task_function, config=sweep_config,
                                job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir"))
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return runs

    def job_config(self, overrides: list[str], composed: list[tuple[list[str], DictConfig]]) -> DictConfig:
        """The job's config: derived from a composed job when only values differ, else composed by Hydra."""
        from dlrun.preflight import with_other_values

        assert self.config is not None
        derived = with_other_values(overrides, composed)
        if derived is None:
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            composed.append((overrides, copy.deepcopy(cfg)))
            return cfg
        parsed = [o for o in OverridesParser.create().parse_overrides(overrides) if not o.is_hydra_override()]
        with read_write(derived.hydra), open_dict(derived.hydra):
            derived.hydra.overrides.task = [o.input_line for o in parsed]
            derived.hydra.job.override_dirname = overrides_dirname(parsed, derived.hydra.job.config.override_dirname)
        OmegaConf.copy_cache(from_config=self.config, to_config=derived)  # the sweep's ${now:} etc., as Hydra does
        return derived


def overrides_dirname(overrides: Sequence[Any], settings: DictConfig) -> str:
    """hydra.job.override_dirname as Hydra's config loader writes it: the overrides' input lines minus
    exclude_keys, sorted, joined by item_sep, each `=` replaced by kv_sep."""
    lines = sorted(o.input_line for o in overrides if o.key_or_group not in settings.exclude_keys)
    return re.sub("[=]", settings.kv_sep, settings.item_sep.join(lines))
