"""dlrun's grid sweeper (`hydra/sweeper=dlrun`, chosen by dlrun.launch.dlrun_plugins): Hydra's basic
grid sweeper (the cartesian product of the swept values, in its order, in batches of max_batch_size)
without the check that composes every job before the first starts. `dlrun train` has already composed
and built every job (a covering subset of a grid over 64 jobs) in its pre-flight, so that check would
compose each job once more (about 0.2 s a job). Hydra requires sweepers to live in the `hydra_plugins`
package; the config is configs/hydra/sweeper/dlrun.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf


class DlrunSweeper(Sweeper):
    def __init__(self, max_batch_size: int | None = None, params: dict[str, str] | None = None) -> None:
        self.max_batch_size = max_batch_size
        self.params = params or {}
        self.config: DictConfig | None = None
        self.hydra_context: Any = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        assert self.config is not None and self.launcher is not None
        from dlrun.sweep_grid import combinations

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)  # glob() lists config groups
        try:
            jobs = combinations([*(f"{k}={v}" for k, v in self.params.items()), *arguments], parser)
        except ValueError as err:  # an interval or range: not a grid
            raise HydraException(f"{err} (Hydra's grid sweepers take lists: a=1,2,3)") from None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        size = self.max_batch_size or len(jobs) or 1
        returns, first = [], 0
        for batch in (jobs[i:i + size] for i in range(0, len(jobs), size)):
            results = list(self.launcher.launch(batch, initial_job_idx=first))
            for result in results:
                _ = result.return_value  # a failed job's exception stops the sweep, as in Hydra's sweeper
            first += len(batch)
            returns.append(results)
        return returns
