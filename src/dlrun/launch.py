"""Around Hydra: claim a new run or sweep dir before it starts (exclusively, so two runs never share
one), plan a sweep and write its manifest, and close the sweep when Hydra returns."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dlrun.errors import DlrunError, one_line


def composed_with_hydra(overrides: list[str]) -> DictConfig:
    """The config of `overrides` with its `hydra` node, ready to resolve dir templates."""
    from hydra.core.hydra_config import HydraConfig

    from dlrun.preflight import compose

    cfg = compose(overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def new_dir(cfg: DictConfig, kind: str) -> tuple[Path, bool]:
    """Resolve hydra.<kind>.dir and create it exclusively; a clash on a template with a random
    suffix draws a new suffix. Returns (path, created)."""
    from dlrun.rundir import create_exclusive, has_unique_suffix

    template = str(OmegaConf.to_container(cfg.hydra[kind], resolve=False)["dir"])
    return create_exclusive(lambda: str(OmegaConf.select(cfg, f"hydra.{kind}.dir")), redraw=has_unique_suffix(template))


def claim_run_dir(overrides: list[str]) -> list[str]:
    """Hydra overrides that pin this run's dir to a new one. Under torchrun rank 0 creates it and
    tells the other ranks, which write nothing there through Hydra."""
    from dlrun import distributed
    from dlrun.results import RESULTS_FILE
    from dlrun.rundir import quote_override

    path, error = None, None
    if distributed.is_main():
        try:
            path, created = new_dir(composed_with_hydra(overrides), "run")
            if not created and (path / RESULTS_FILE).exists():
                raise DlrunError(f"run dir {path} already holds a run (results.json); choose a new hydra.run.dir")
        except DlrunError as err:
            error = str(err)
    path, error = distributed.broadcast_object((str(path) if path else None, error))
    if error:
        raise DlrunError(error)
    extra = [f"hydra.run.dir={quote_override(str(path))}"]
    if not distributed.is_main():
        extra += ["hydra.output_subdir=null", "hydra/job_logging=disabled"]
    return extra


@dataclass
class SweepPlan:
    sweep_dir: Path
    hydra_overrides: list[str]


def plan_sweep(overrides: list[str], args: list[str]) -> SweepPlan:
    """Claim a new sweep dir (or reopen the one named by sweep.resume) and write its manifest."""
    from dlrun import gpu_slots, run_names, sweep
    from dlrun.preflight import expand
    from dlrun.rundir import quote_override

    cfg = composed_with_hydra(expand(overrides, multirun=True)[0])
    on_error = str(cfg.sweep.on_error)
    if on_error not in sweep.ON_ERROR:
        raise DlrunError(f"sweep.on_error: unknown value '{on_error}' (valid: {', '.join(sweep.ON_ERROR)})")
    gpus = gpu_slots.resolve_gpus(cfg.sweep.gpus)
    sweep.check_search_space(cfg)
    jobs = None
    if cfg.hydra.sweeper.get("_target_") == sweep.BASIC_SWEEPER:
        params = cfg.hydra.sweeper.get("params")
        params = OmegaConf.to_container(params, resolve=False) if isinstance(params, DictConfig) else None
        jobs = sweep.grid_jobs(overrides, params if isinstance(params, dict) else None)
    resume = cfg.sweep.resume
    if resume:
        sweep_dir = Path(str(resume)).expanduser().absolute()
        sweep.check_resumable(sweep_dir, overrides, jobs)
    else:
        sweep_dir, created = new_dir(cfg, "sweep")
        if not created and (sweep_dir / sweep.MANIFEST).exists():
            raise DlrunError(f"hydra.sweep.dir {sweep_dir} already holds a sweep; finish it with "
                             f"sweep.resume={sweep_dir} or choose a new hydra.sweep.dir")
    exclude = run_names.constant_keys(overrides, jobs)
    sweep.start(sweep_dir, ["dlrun", "train", *args], overrides, on_error, jobs, gpus, resume=bool(resume), exclude=exclude)
    hydra_overrides = [f"hydra.sweep.dir={quote_override(str(sweep_dir))}"]
    if not any(o.startswith(run_names.EXCLUDE_KEY + "=") for o in overrides):  # the user's own choice wins
        hydra_overrides.append(run_names.exclude_override(exclude))
    return SweepPlan(sweep_dir, hydra_overrides)


def run_sweep(args: list[str], hydra_overrides: list[str], sweep_dir: Path, run_hydra: Callable[[list[str]], None]) -> int:
    """Run the sweep through Hydra, then close the manifest: 0 if every job completed, 130 when
    interrupted, 1 otherwise (with the command that finishes the sweep)."""
    import shlex

    from dlrun import sweep

    interrupted, error = False, None
    try:
        run_hydra([*args, *hydra_overrides])
    except KeyboardInterrupt:
        interrupted = True
    except SystemExit as exit_:  # Hydra reports a sweeper/launcher error itself, then exits
        if exit_.code not in (0, None):
            error = "the sweep stopped early (see the messages above)"
    finally:
        counts = sweep.finish(sweep_dir, interrupted=interrupted, error=error)
        write_sweep_summary(sweep_dir)
        print("\n" + "\n".join(sweep.summary_lines(sweep_dir)))
    if interrupted or not set(counts) <= {"completed"}:
        kept = [a for a in args if not a.startswith("sweep.resume=")]
        print("  finish it with: " + shlex.join(["dlrun", "train", *kept, f"sweep.resume={sweep_dir}"]))
    if interrupted:
        return 130
    return 0 if not error and set(counts) <= {"completed"} else 1


def write_sweep_summary(sweep_dir: Path) -> None:
    """TensorBoard HParams columns for the whole sweep (see RunLogger.write_sweep_hparams)."""
    from dlrun import sweep
    from dlrun.results import read_results
    from dlrun.run_logger import write_sweep_hparams
    from dlrun.train import key_metrics

    runs_hparams, metrics = [], []
    for job in sweep.sorted_jobs(sweep.read_manifest(sweep_dir) or {}):
        try:
            results = read_results(sweep_dir / job["dir"])
        except (OSError, ValueError):
            continue
        if isinstance(results.get("hparams"), dict):
            runs_hparams.append(results["hparams"])
        if results.get("status") == "completed":
            metrics += [m for m in key_metrics(results) if m not in metrics]
    if not runs_hparams or not metrics:
        return
    try:
        write_sweep_hparams(sweep_dir, runs_hparams, metrics)
    except Exception as err:  # TensorBoard columns are a convenience: never fail a sweep for them
        print(f"warning: could not write the sweep's TensorBoard HParams summary: {one_line(err)}", file=sys.stderr)
