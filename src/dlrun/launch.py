"""`dlrun train`: check the overrides, claim a new run (or sweep) dir exclusively (so two runs never
share one), hand the command to Hydra, which runs `job` per job (a single run through
dlrun.composed_run), and close a sweep when Hydra returns. A sweep (`-m`) goes on past failed jobs
(its bookkeeping is dlrun.sweep_callback) and exits non-zero at the end if any job did not complete.
(About 340 lines: the path from the command to Hydra and back, single run and sweep, reads in one
file; `run_hydra` must stay here, since hydra.main names a job after its task function's module.)"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from dlrun.errors import DlrunError, one_line
from dlrun.interrupt import TerminateAsInterrupt
from dlrun.rundir import register_resolvers

register_resolvers()  # job processes of parallel launchers import this module too


def main(args: list[str]) -> int:
    """Entry of `dlrun train [-m] [overrides]`."""
    from dlrun.command_line import freeze_start_up, split_flags, wants_info
    from dlrun.overrides import expand_list_choice

    args = expand_list_choice(args)  # regularizer=[a,b] -> one named entry per option, before Hydra sees it
    flags, overrides = split_flags(args)
    if wants_info(flags):  # Hydra prints the config, info or completion and runs nothing: no run dir
        run_hydra(args)
        return 0
    if os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) == "0":  # the rank that draws figures
        from dlrun.plots import background

        background.start()  # before torch is imported: matplotlib loads while the run starts
    from dlrun import command_line
    from dlrun.allocator import keep_freed_memory

    if command_line.whole_process:
        keep_freed_memory()  # glibc keeps freed batch memory for the next batch (see dlrun.allocator)
    from dlrun import distributed

    freeze_start_up()  # torch's modules
    from dlrun.overrides import override_key
    from dlrun.preflight import check_output_dir, check_overrides
    multirun = any(f in ("-m", "--multirun") for f in flags)
    if not multirun and any(override_key(o) == "hparams_search" for o in overrides):
        args, multirun = ["-m", *args], True  # a search is always a multirun
    if not multirun and any(override_key(o) == "sweep.resume" for o in overrides):
        raise DlrunError("sweep.resume finishes a multirun: repeat the sweep's command with -m "
                         "(dlrun train -m ... sweep.resume=DIR)")
    if multirun and distributed.launched_by_torchrun():
        raise DlrunError("torchrun starts one training run, not a sweep; for a sweep of multi-GPU runs use "
                         "dlrun train -m ... trainer.devices=N")
    composed = check_overrides(overrides, multirun=multirun)  # the first job's config, composed once
    check_output_dir(overrides, multirun, composed)
    freeze_start_up()  # Hydra, the configs, torch._dynamo (the pre-flight's optimizer)
    with TerminateAsInterrupt():  # SIGTERM outside the training loop acts like Ctrl-C
        if multirun:
            return run_sweep(args, *plan_sweep(overrides, composed))
        distributed.init_from_env()
        distributed.init_from_slurm()  # srun -n N dlrun train ...: the tasks form one DDP run
        if distributed.is_main() and any(override_key(o) == "ckpt_path" for o in overrides):
            from dlrun.resume import preflight

            preflight(composed_with_hydra(overrides))  # a refused resume claims no run dir
        from dlrun.composed_run import ConfiguredCallbacks, run_composed

        direct = distributed.is_main() and composed.hydra.mode in (None, RunMode.RUN)
        callbacks = ConfiguredCallbacks(composed) if direct else None  # a bad entry fails before a run dir is claimed
        try:
            pinned = claim_run_dir(overrides, composed)
            if callbacks is not None:
                run_composed(composed, pinned, callbacks, job)  # the config pre-flight composed: no second compose by Hydra
            else:  # torchrun's other ranks (their logging is a config group), a config that asks for MULTIRUN
                run_hydra([*args, *pinned])
        finally:
            distributed.cleanup()
    return 0


def run_hydra(args: list[str]) -> None:
    """Hydra's main with `args` as its command line. Hydra's only public entry that runs a multirun
    (sweepers, launchers, callbacks) is `hydra.main`, which reads `sys.argv`; so `sys.argv` is set
    here, and only here, for the call (`compose` builds configs but launches nothing)."""
    import hydra

    from dlrun.paths import config_dir, searchpath_overrides

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
    def hydra_entry(cfg: DictConfig) -> float | None:
        return job(cfg)

    from dlrun.command_line import split_flags

    flags, overrides = split_flags(args)
    completing = any(f.split("=", 1)[0] in ("-sc", "--shell-completion") for f in flags)
    argv = sys.argv
    # completion registers itself for argv[0] ("dlrun"); runs get the user's config dirs; flags go
    # first, since Hydra's parser takes the overrides as one run of positional arguments
    sys.argv = ["dlrun", *args] if completing else ["dlrun-train", *flags, *searchpath_overrides(), *overrides]
    try:
        hydra_entry()
    finally:
        sys.argv = argv


def job(cfg: DictConfig) -> float | None:
    """One Hydra job (a single run or a sweep job): train under the failure policy; returns the
    optimized metric for a sweeper (NaN for a failed job) or None."""
    from hydra.core.hydra_config import HydraConfig

    from dlrun import distributed, run_info, slurm, sweep_callback
    from dlrun.failure import guarded, record
    from dlrun.interrupt import DeferredStop
    from dlrun.train import train

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    plan = sweep_callback.current_job()
    metric = cfg.get("optimized_metric")
    failed_value = float("nan") if metric else None
    if plan is not None and plan.skipped:
        return failed_value
    if plan is not None and plan.ckpt_path:
        cfg.ckpt_path = plan.ckpt_path
    results = plan.previous if plan is not None else None
    if results is None:
        started = time.time()

        def work() -> Any:
            # in a Slurm job a stop signal during set-up stops training after its first step (last.pt)
            with DeferredStop() if slurm.in_slurm_job() else contextlib.nullcontext():
                return distributed.run_on_devices(cfg, run_dir, train)

        results = guarded(
            work, run_dir,
            lambda failure: record(run_dir, cfg, started, failure.status, failure.message), job=plan.num if plan is not None else None, on_error=plan.on_error if plan is not None else "continue",
            tag="" if distributed.is_main() else f"[rank {distributed.rank()}] ", resume_hint=run_info.resume_command,
            requeued=sweep_callback.requeued_on_slurm)
    if results is None or not metric:
        return failed_value if results is None else None
    if plan is None:  # the run is done and recorded; an unknown metric name is the command's mistake
        try:
            return results.require_metric(metric)
        except DlrunError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(err.exit_code) from None
    try:
        return results.require_metric(metric)
    except DlrunError as err:
        print(f"error: {err}", file=sys.stderr)
        return failed_value


def composed_with_hydra(overrides: list[str], cfg: DictConfig | None = None) -> DictConfig:
    """The config of `overrides` with its `hydra` node (`cfg` if pre-flight composed it already),
    ready to resolve dir templates."""
    from hydra.core.hydra_config import HydraConfig

    from dlrun.preflight import compose

    cfg = cfg if cfg is not None else compose(overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def new_dir(cfg: DictConfig, kind: str) -> tuple[Path, bool]:
    """Resolve hydra.<kind>.dir and create it exclusively; a clash on a template with a random
    suffix draws a new suffix. Returns (path, created)."""
    from dlrun.rundir import create_exclusive, has_unique_suffix

    template = str(OmegaConf.to_container(cfg.hydra[kind], resolve=False)["dir"])
    return create_exclusive(lambda: str(OmegaConf.select(cfg, f"hydra.{kind}.dir")), redraw=has_unique_suffix(template))


def claim_run_dir(overrides: list[str], composed: DictConfig | None = None) -> list[str]:
    """Hydra overrides that pin this run's dir to a new one. Under torchrun rank 0 creates it and
    tells the other ranks, which write nothing there through Hydra."""
    from dlrun import distributed
    from dlrun.results import RESULTS_FILE
    from dlrun.rundir import check_fresh, quote_override

    path, error = None, None
    if distributed.is_main():
        try:
            path, created = new_dir(composed_with_hydra(overrides, composed), "run")
            if not created and (path / RESULTS_FILE).exists():
                raise DlrunError(f"run dir {path} already holds a run (results.json); choose a new hydra.run.dir")
            if not created and str(path) != os.environ.get(distributed.SPAWNED_RUN_DIR):  # torchrun workers of a claimed dir
                check_fresh(path, "hydra.run.dir")  # a killed run, a sweep: anything a run or sweep leaves
        except DlrunError as err:
            error = str(err)
    path, error = distributed.broadcast_object((str(path) if path else None, error))
    if error:
        raise DlrunError(error)
    extra = [f"hydra.run.dir={quote_override(str(path))}"]
    if not distributed.is_main():
        extra += ["hydra.output_subdir=null", "hydra/job_logging=disabled"]
    return extra


def plan_sweep(overrides: list[str], composed: DictConfig | None = None) -> tuple[Path, list[str], int | None]:
    """Check the sweep settings, claim a new sweep dir (or check the one named by sweep.resume);
    returns it, the Hydra overrides that pin it and name its job dirs, and the grid's job count (None
    for other sweepers). The manifest is written by the sweep callback."""
    from dlrun import gpu_slots, run_names, slurm, sweep, sweep_grid
    from dlrun.preflight import expand
    from dlrun.rundir import check_fresh, quote_override

    cfg = composed_with_hydra(expand(overrides, multirun=True)[0], composed)
    on_error = str(cfg.sweep.on_error)
    if on_error not in sweep.ON_ERROR:
        raise DlrunError(f"sweep.on_error: unknown value '{on_error}' (valid: {', '.join(sweep.ON_ERROR)})")
    sweep.figures_choice(cfg.sweep.figures)
    gpu_slots.resolve_gpus(cfg.sweep.gpus)  # a bad sweep.gpus fails here, before Hydra
    sweep_grid.check_search_space(cfg)
    launcher_overrides = slurm.check_request(cfg, overrides)  # Slurm installed, the request fits a node
    jobs = sweep_grid.planned_jobs(cfg, overrides)
    resume = cfg.sweep.resume
    if resume:
        sweep_dir = Path(str(resume)).expanduser().absolute()
        sweep.claim_for_resume(sweep_dir, overrides, jobs)  # checked and marked running under the sweep lock
        slurm.check_not_queued(sweep_dir)  # jobs Slurm still holds would run twice
    else:
        sweep_dir, created = new_dir(cfg, "sweep")
        if not created:
            check_fresh(sweep_dir, "hydra.sweep.dir")
    hydra_overrides = [f"hydra.sweep.dir={quote_override(str(sweep_dir))}", *launcher_overrides, *dlrun_plugins(cfg, overrides)]
    if not any(o.startswith(run_names.EXCLUDE_KEY + "=") for o in overrides):  # the user's own choice wins
        hydra_overrides.append(run_names.exclude_override(run_names.constant_keys(overrides, jobs)))
    return sweep_dir, hydra_overrides, len(jobs) if jobs is not None else None


def dlrun_plugins(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """dlrun's grid sweeper and launcher (configs/hydra/{sweeper,launcher}/dlrun.yaml: Hydra's basic ones
    without composing a job more than once) wherever the sweep would get Hydra's basic ones: chosen by
    neither the command line nor a preset (a preset's choice of another one stands)."""
    from dlrun.overrides import override_key

    chosen = cfg.hydra.runtime.choices
    return [f"hydra/{kind}=dlrun" for kind in ("sweeper", "launcher")
            if chosen.get(f"hydra/{kind}") == "basic" and not any(override_key(o) == f"hydra/{kind}" for o in overrides)]


def run_sweep(args: list[str], sweep_dir: Path, hydra_overrides: list[str], num_jobs: int | None = None) -> int:
    """Run the sweep through Hydra, then close the manifest: 0 if every job completed, 130 (143)
    when interrupted by Ctrl-C (SIGTERM), 1 otherwise (with the command that finishes the sweep)."""
    import shlex

    from dlrun import sweep
    from dlrun.rundir import quote_override

    interrupted, error = False, None
    try:
        with launcher_errors_raised():
            run_hydra([*args, *hydra_overrides])
    except KeyboardInterrupt:
        interrupted = True
    except SystemExit as exit_:  # Hydra reports a sweeper/launcher error itself, then exits
        if exit_.code not in (0, None):
            error = "the sweep stopped early (see the messages above)"
    except Exception as err:  # a sweeper or launcher failed (e.g. a Slurm job killed outright)
        error = f"the sweep stopped: {describe_launcher_error(err)}"
        print(f"error: {error}", file=sys.stderr)
    finally:
        from dlrun.run_logger import finish_deferred

        finish_deferred()  # the last jobs' figures, drawn while the sweep went on
        counts = sweep.finish(sweep_dir, interrupted=interrupted, error=error, expected=num_jobs)
        write_sweep_summary(sweep_dir)
        print("\n" + "\n".join(sweep.summary_lines(sweep_dir)))
    if interrupted or not set(counts) <= {"completed"}:
        kept = [a for a in args if not a.startswith("sweep.resume=")]
        print("  finish it with: " + shlex.join(["dlrun", "train", *kept, f"sweep.resume={quote_override(str(sweep_dir))}"]))
    if interrupted:
        from dlrun.interrupt import exit_code, received

        return exit_code(received())  # 130 for Ctrl-C, 143 for SIGTERM
    return 0 if not error and set(counts) <= {"completed"} else 1


@contextlib.contextmanager
def launcher_errors_raised() -> Iterator[None]:
    """Hydra prints a sweeper's or launcher's exception as a traceback and exits, unless
    HYDRA_FULL_ERROR is set (its documented switch), when it raises it: run_sweep then reports it in
    one line and still closes the manifest. Job errors are unaffected (Hydra returns them per job)."""
    previous = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous


def describe_launcher_error(err: Exception) -> str:
    """One line for a launcher's exception; submitit's 'no result' error names the Slurm job, its
    state and where its log is."""
    import re

    text = str(err)
    found = re.search(r"Job (\S+) \(task: \d+\) with path (\S+)\s+has not produced any output \(state: (\w+)\)", text)
    if found:
        job, result, state = found.groups()
        log = Path(result).with_name(Path(result).name.replace("_result.pkl", "_log.err"))
        return f"Slurm job {job} ended without a result (state: {state}; killed?); its log: {log}"
    return f"{type(err).__name__}: {one_line(err)}"


def write_sweep_summary(sweep_dir: Path) -> None:
    """TensorBoard HParams columns for the whole sweep (see RunLogger.write_sweep_hparams)."""
    from dlrun import sweep
    from dlrun.results import Results
    from dlrun.run_logger import write_sweep_hparams

    runs_hparams, metrics = [], []
    for job in sweep.sorted_jobs(sweep.read_manifest(sweep_dir) or {}):
        try:
            results = Results.read(sweep_dir / job["dir"])
        except (OSError, ValueError):
            continue
        if isinstance(results.get("hparams"), dict):
            runs_hparams.append(results["hparams"])
        if results.get("status") == "completed":
            metrics += [m for m in results.key_metrics() if m not in metrics]
    if not runs_hparams or not metrics:
        return
    try:
        write_sweep_hparams(sweep_dir, runs_hparams, metrics)
    except Exception as err:  # TensorBoard columns are a convenience: never fail a sweep for them
        print(f"warning: could not write the sweep's TensorBoard HParams summary: {one_line(err)}", file=sys.stderr)
