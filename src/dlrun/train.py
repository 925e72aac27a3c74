"""`dlrun train`: checks the overrides, claims a new run (or sweep) dir, then hands the overrides
to Hydra, which runs `run` per job. A sweep (`-m`) records every job in its manifest and goes on
past failed jobs; it exits non-zero at the end if any job did not complete."""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from dlrun.errors import DlrunError, TrainingInterrupted, one_line
from dlrun.paths import config_dir
from dlrun.rundir import register_resolvers

register_resolvers()  # job processes of parallel launchers import this module too


class RecordedFailure(DlrunError):
    """A failure whose results.json and error.log are already written (by torchrun workers)."""


def main(args: list[str]) -> int:
    """Entry of `dlrun train [-m] [overrides]`."""
    from dlrun import distributed, launch
    from dlrun.preflight import check_output_dir, check_overrides
    from dlrun.sweep import override_key

    if any(a in ("-h", "--help") for a in args):
        from dlrun.cli import help_text

        print(help_text())
        return 0
    multirun = any(a in ("-m", "--multirun") for a in args)
    overrides = [a for a in args if not a.startswith("-")]
    if not multirun and any(override_key(o) == "hparams_search" for o in overrides):
        args, multirun = ["-m", *args], True  # a search is always a multirun
    if not multirun and any(override_key(o) == "sweep.resume" for o in overrides):
        raise DlrunError("sweep.resume finishes a multirun: repeat the sweep's command with -m "
                         "(dlrun train -m ... sweep.resume=DIR)")
    if multirun and distributed.launched_by_torchrun():
        raise DlrunError("torchrun starts one training run, not a sweep; for a sweep of multi-GPU runs use "
                         "dlrun train -m ... trainer.devices=N")
    check_overrides(overrides, multirun=multirun)
    check_output_dir(overrides, multirun)
    if multirun:
        plan = launch.plan_sweep(overrides, args)
        return launch.run_sweep(args, plan.hydra_overrides, plan.sweep_dir, _run_hydra)
    distributed.init_from_env()
    try:
        _run_hydra([*args, *launch.claim_run_dir(overrides)])
    finally:
        distributed.cleanup()
    return 0


def _run_hydra(args: list[str]) -> None:
    import hydra

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
    def hydra_entry(cfg: DictConfig) -> float | None:
        return run(cfg)

    argv = sys.argv
    sys.argv = ["dlrun-train", *args]
    try:
        hydra_entry()
    finally:
        sys.argv = argv


# -- one job ----------------------------------------------------------------------------------------
def run(cfg: DictConfig) -> float | None:
    """One Hydra job: train, and turn any failure into a one-line error plus results.json. In a
    multirun the failure is recorded and the sweep goes on."""
    from hydra.core.hydra_config import HydraConfig

    from dlrun import sweep

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    job = sweep.current_job(cfg.get("sweep"))
    if job is None:
        return _run_single(cfg, run_dir)
    return _run_job(cfg, run_dir, job)


def _run_single(cfg: DictConfig, run_dir: Path) -> float | None:
    """A single run: a failure prints one line (a bug: its traceback goes to error.log) and exits."""
    from dlrun import distributed

    started = time.time()
    tag = "" if distributed.is_main() else f"[rank {distributed.rank()}] "
    try:
        results = train(cfg, run_dir)
    except TrainingInterrupted as err:
        _record_failure(run_dir, cfg, started, "interrupted", one_line(err))
        print(f"error: {tag}{one_line(err)}", file=sys.stderr)
        if err.checkpoint and distributed.is_main():
            print(f"resume with: {resume_command(err.checkpoint)}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    except DlrunError as err:
        if not isinstance(err, RecordedFailure):
            _record_failure(run_dir, cfg, started, "failed", one_line(err))
        print(f"error: {tag}{one_line(err)}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    except KeyboardInterrupt:
        _record_failure(run_dir, cfg, started, "interrupted", "interrupted by the user")
        print(f"error: {tag}interrupted; run dir: {run_dir}", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as err:  # a bug, not bad input: keep the traceback in the run dir
        log = _write_traceback(run_dir)
        _record_failure(run_dir, cfg, started, "failed", f"{type(err).__name__}: {one_line(err)}")
        print(f"error: {tag}internal error {type(err).__name__}: {one_line(err)} (traceback in {log})", file=sys.stderr)
        raise SystemExit(1) from None
    metric = cfg.get("optimized_metric")
    return _lookup_metric(results, metric) if metric else None


def _run_job(cfg: DictConfig, run_dir: Path, job: Any) -> float | None:
    """A multirun job: skipped when the sweep stopped or (on resume) when it completed before;
    else trained, resuming an earlier attempt's checkpoint. A failure is recorded in results.json,
    error.log and the manifest, and the job returns NaN (a failed trial for Optuna)."""
    from dlrun import gpu_slots

    started = time.time()
    failed_value = float("nan") if cfg.get("optimized_metric") else None
    previous = job.previous_results()
    if job.resume and previous and previous.get("status") == "completed":
        job.end("completed", metrics=key_metrics(previous))
        print(f"job {job.num}: completed before, skipped (sweep.resume); run dir {run_dir}")
        return _job_value(cfg, previous, failed_value)
    job.archive_previous_attempt()
    if job.begin() == "skipped":
        _record_failure(run_dir, cfg, started, "skipped", "not run: an earlier job failed and sweep.on_error=stop")
        print(f"job {job.num}: skipped (an earlier job failed and sweep.on_error=stop)")
        return failed_value
    if job.resume and not cfg.get("ckpt_path"):
        ckpt = job.last_checkpoint()
        if ckpt is not None:
            cfg.ckpt_path = str(ckpt)
            print(f"job {job.num}: resuming from {ckpt}")
    gpu = gpu_slots.place_job(job.sweep_dir, job.num) if int(cfg.trainer.get("devices", 1)) == 1 else None
    if gpu is not None:
        job.note(gpu=gpu)
    try:
        results = train(cfg, run_dir)
    except (KeyboardInterrupt, TrainingInterrupted) as err:  # Ctrl-C stops the whole sweep
        message = one_line(err) if isinstance(err, TrainingInterrupted) else "interrupted by the user"
        _record_failure(run_dir, cfg, started, "interrupted", message)
        job.end("interrupted", error=message, resumed_from=cfg.get("ckpt_path"))
        print(f"error: job {job.num} {message}", file=sys.stderr)
        raise KeyboardInterrupt from None
    except Exception as err:
        log = run_dir / "error.log"
        if isinstance(err, RecordedFailure):
            message = one_line(err)
        else:
            _write_traceback(run_dir)
            message = one_line(err) if isinstance(err, DlrunError) else f"{type(err).__name__}: {one_line(err)}"
            _record_failure(run_dir, cfg, started, "failed", message)
        job.end("failed", error=message, resumed_from=cfg.get("ckpt_path"))
        print(f"error: job {job.num} failed: {message} (traceback in {log}); the sweep goes on"
              if job.on_error == "continue" else f"error: job {job.num} failed: {message}; sweep.on_error=stop",
              file=sys.stderr)
        return failed_value
    job.end("completed", metrics=key_metrics(results), resumed_from=cfg.get("ckpt_path"))
    return _job_value(cfg, results, failed_value)


def _job_value(cfg: DictConfig, results: dict[str, Any], failed_value: float | None) -> float | None:
    """What a job returns to the sweeper: the optimized metric (NaN if missing) or None."""
    metric = cfg.get("optimized_metric")
    if not metric:
        return None
    try:
        return _lookup_metric(results, metric)
    except DlrunError as err:
        print(f"error: {err}", file=sys.stderr)
        return failed_value


def key_metrics(results: dict[str, Any]) -> dict[str, float]:
    return {**(results.get("best") or {}), **(results.get("test") or {})}


# -- training ---------------------------------------------------------------------------------------
def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Build everything from `cfg`, fit, test, write artifacts and results.json, print a summary;
    returns the results. With trainer.devices=N > 1 it runs N processes through torchrun."""
    from dlrun import build, distributed
    from dlrun.checkpoint import load_checkpoint
    from dlrun.results import RESULTS_FILE, git_commit, write_json_atomic
    from dlrun.run_logger import RunLogger
    from dlrun.seeding import seed_everything

    devices = int(cfg.trainer.get("devices", 1))
    if devices > 1 and not distributed.launched_by_torchrun():
        return _train_spawned(cfg, run_dir, devices)
    if distributed.world_size() > 1:
        if devices not in (1, distributed.world_size()):
            raise DlrunError(f"trainer.devices={devices} but torchrun started {distributed.world_size()} processes")
        if str(cfg.trainer.device).startswith("cuda:"):
            raise DlrunError("under DDP each process uses GPU LOCAL_RANK: set trainer.device=auto or cuda, not cuda:N")
    main_rank = distributed.is_main()
    started = time.time()
    config = build.resolved(cfg)
    resume = load_checkpoint(cfg.ckpt_path) if cfg.ckpt_path else None
    seed_everything(int(cfg.seed), bool(cfg.trainer.deterministic))
    logger = RunLogger(run_dir, tensorboard=main_rank)
    trainer = build.build_trainer(cfg, run_dir, logger)
    data = build.build_data(cfg)
    if resume is not None and hasattr(data, "load_state_dict"):
        data.load_state_dict(resume.get("data", {}))
    data.setup(trainer.device)
    model = build.build_model(cfg, data).to(trainer.device)
    task = build.build_task(cfg)
    regularizer = build.build_regularizer(cfg)
    optimizer = build.build_optimizer(cfg, model)
    schedule = build.build_schedule_for(cfg, optimizer, trainer.steps_per_epoch(data))
    num_params = sum(p.numel() for p in model.parameters())
    if main_rank:
        world = f"  processes {distributed.world_size()}" if distributed.world_size() > 1 else ""
        print(f"dlrun: {cfg.name}  params {num_params:,}  device {trainer.device}{world}  run dir {run_dir}")
    fit_model = distributed.wrap_model(model, trainer.device)
    try:
        result = trainer.fit(task, fit_model, data, optimizer, schedule, regularizer, resume=resume, config=config, seed=int(cfg.seed))
        results: dict[str, Any] = {
            "status": "completed",
            "name": cfg.name,
            "run_dir": str(run_dir),
            "best_epoch": result.best_epoch,
            "monitor": cfg.trainer.monitor,
            "best": result.best_metrics,
            "final": result.final_metrics,
            "test": result.test_metrics,
            "epochs_run": result.epochs_run,
            "global_step": result.global_step,
            "stopped_early": result.stopped_early,
            "wall_time_s": round(time.time() - started, 3),
            "num_params": num_params,
            "seed": int(cfg.seed),
            "deterministic": bool(cfg.trainer.deterministic),
            "world_size": distributed.world_size(),
            "overrides": _overrides(),
            "hparams": _hparams(cfg),
            "tags": list(cfg.tags),
            "resumed_from": cfg.ckpt_path,
            "git_commit": git_commit() if main_rank else None,
            "config": config,
        }
        if main_rank:
            task.write_artifacts(model, data, run_dir, logger)
            write_json_atomic(run_dir / RESULTS_FILE, results)
            logger.hparams(results["hparams"], key_metrics(results), experiment=not _in_sweep())
    finally:
        logger.close()
    if main_rank:
        _print_summary(results, run_dir)
    return results


def _in_sweep() -> bool:
    """Whether this run is a job of a multirun (its torchrun workers inherit DLRUN_SWEEP_JOB)."""
    import os

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.get().mode == RunMode.MULTIRUN or os.environ.get("DLRUN_SWEEP_JOB") == "1"


def _train_spawned(cfg: DictConfig, run_dir: Path, devices: int) -> dict[str, Any]:
    """trainer.devices=N: the same run in N processes started by torchrun, all in this run dir
    (rank 0 writes it); returns rank 0's results."""
    from dlrun import distributed
    from dlrun.results import read_results
    from dlrun.rundir import quote_override
    from dlrun.sweep import override_key

    task_overrides = [o for o in _overrides() if override_key(o) != "ckpt_path"]
    if cfg.get("ckpt_path"):
        task_overrides.append(f"ckpt_path={quote_override(str(cfg.ckpt_path))}")
    args = ["train", *task_overrides, f"hydra.run.dir={quote_override(str(run_dir))}",
            "hydra.output_subdir=null", "hydra/job_logging=disabled"]
    code = distributed.launch(devices, args, env={"DLRUN_SWEEP_JOB": "1"} if _in_sweep() else None)
    try:
        results = read_results(run_dir)
    except (OSError, ValueError):
        results = {}
    if code == 0 and results.get("status") == "completed":
        return results
    if results.get("status") in ("failed", "interrupted"):
        raise RecordedFailure(str(results.get("error")), exit_code=code or 1)
    raise DlrunError(f"distributed training failed (torchrun exit code {code}); see the messages above", exit_code=code or 1)


def _lookup_metric(results: dict[str, Any], metric: str) -> float:
    for section in ("test", "best", "final"):
        if metric in (results.get(section) or {}):
            return float(results[section][metric])
    available = sorted({k for s in ("test", "best", "final") for k in (results.get(s) or {})})
    raise DlrunError(f"optimized_metric: no metric '{metric}' in the run's results (available: {', '.join(available)})")


def resume_command(checkpoint: str) -> str:
    """The `dlrun train` command line that continues this run from `checkpoint`."""
    import shlex

    kept = [o for o in _overrides() if not o.startswith(("ckpt_path=", "hydra."))]
    return shlex.join(["dlrun", "train", *kept, f"ckpt_path={checkpoint}"])


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task)


def _hparams(cfg: DictConfig) -> dict[str, Any]:
    """Group choices and the overridden values (as the config holds them, so 1e-3 and 0.001 are
    one value): what distinguishes this run from its siblings. Run-control keys (sweep.*,
    ckpt_path) are left out: they never change what a run computes."""
    from hydra.core.hydra_config import HydraConfig

    from dlrun.sweep import is_run_control, job_identity, override_key

    hydra_cfg = HydraConfig.get()
    params: dict[str, Any] = {str(k): v for k, v in hydra_cfg.runtime.choices.items() if not is_run_control(str(k)) and v}
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


def _write_traceback(run_dir: Path) -> Path:
    log = run_dir / "error.log"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
    except OSError:
        pass
    return log


def _record_failure(run_dir: Path, cfg: DictConfig, started: float, status: str, message: str) -> None:
    """results.json of a run that did not complete (rank 0 only: it owns the run dir)."""
    from dlrun import distributed
    from dlrun.results import RESULTS_FILE, write_json_atomic

    if not distributed.is_main():
        return
    try:
        hparams = _hparams(cfg)
    except Exception:  # the config itself may be what failed
        hparams = None
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / RESULTS_FILE, {
            "status": status, "error": message, "run_dir": str(run_dir),
            "wall_time_s": round(time.time() - started, 3), "overrides": _overrides(),
            "hparams": hparams, "seed": cfg.get("seed"), "resumed_from": cfg.get("ckpt_path"),
        })
    except OSError:
        pass


def _print_summary(results: dict[str, Any], run_dir: Path) -> None:
    def fmt(metrics: dict[str, float]) -> str:
        return "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()) or "-"

    stop = " (early stop)" if results["stopped_early"] else ""
    print(f"\ndone in {results['wall_time_s']:.1f}s, {results['epochs_run']} epochs{stop}; best epoch {results['best_epoch']} by {results['monitor']}")
    print(f"  best : {fmt(results['best'])}")
    print(f"  test : {fmt(results['test'])}")
    print(f"  run dir: {run_dir}")
    print("  view: tensorboard --logdir outputs")
