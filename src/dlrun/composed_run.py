"""A single run of a config that is already composed (with its `hydra` node), through Hydra's launcher
API, so `dlrun train` composes a run's config once: the pre-flight's composition is the run's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from dlrun.errors import DlrunError, one_line


def run_composed(cfg: DictConfig, pinned: list[str], callbacks: ConfiguredCallbacks, task: Callable[[DictConfig], Any]) -> None:
    """Run `task` on the composed `cfg` as `hydra.main` would in RUN mode, through the launcher API
    (`run_job`): the `pinned` overrides (`hydra.run.dir=...`) are set on it and recorded like
    command-line ones, Hydra's logging is set up, `callbacks` (its `hydra.callbacks`) are called as
    Hydra calls them, and the job's exception is raised. Composing again would give the same config
    at ~0.25 s."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.utils import configure_log, run_job
    from hydra.types import HydraContext

    from dlrun.paths import config_dir
    from dlrun.preflight import JOB_NAME

    with read_write(cfg.hydra), open_dict(cfg.hydra):
        for override in OverridesParser.create().parse_overrides([*pinned, "hydra.mode=RUN"]):  # hydra.main adds the mode
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=False)
            cfg.hydra.overrides.hydra.append(override.input_line)
    configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
    callbacks.on_run_start(config=cfg, config_name="train")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name=JOB_NAME):
            context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=callbacks)  # type: ignore[arg-type]
            returned = run_job(task_function=task, config=cfg, job_dir_key="hydra.run.dir", job_subdir_key=None, hydra_context=context)
    finally:
        GlobalHydra.instance().clear()
    callbacks.on_run_end(config=cfg, config_name="train", job_return=returned)
    returned.return_value  # raises the job's exception, as Hydra's run does


class ConfiguredCallbacks:
    """The config's `hydra.callbacks`, instantiated and called in Hydra's order (start hooks in
    config order, end hooks in reverse)."""

    def __init__(self, cfg: DictConfig) -> None:
        from hydra.utils import instantiate

        self.callbacks = []
        for name, node in (cfg.hydra.callbacks or {}).items():
            try:
                self.callbacks.append(instantiate(node))
            except Exception as err:
                raise DlrunError(f"hydra.callbacks.{name}: {one_line(str(err).splitlines()[0])}") from None

    def _call(self, hook: str, reverse: bool, **kwargs: Any) -> None:
        for callback in reversed(self.callbacks) if reverse else self.callbacks:
            getattr(callback, hook)(**kwargs)

    def on_run_start(self, **kwargs: Any) -> None:
        self._call("on_run_start", False, **kwargs)

    def on_job_start(self, **kwargs: Any) -> None:
        self._call("on_job_start", False, **kwargs)

    def on_job_end(self, **kwargs: Any) -> None:
        self._call("on_job_end", True, **kwargs)

    def on_run_end(self, **kwargs: Any) -> None:
        self._call("on_run_end", True, **kwargs)
