"""`dlrun train`: checks the overrides, then hands them to Hydra, which runs `run` per job."""

from __future__ import annotations

import secrets
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlrun.errors import DlrunError, TrainingInterrupted, one_line
from dlrun.paths import config_dir


def register_resolvers() -> None:
    """`${dlrun_uid:}`: a random suffix, fixed for the process, that keeps run dirs unique."""
    if not OmegaConf.has_resolver("dlrun_uid"):
        uid = secrets.token_hex(3)
        OmegaConf.register_new_resolver("dlrun_uid", lambda: uid)


def main(args: list[str]) -> int:
    """Entry of `dlrun train [-m] [overrides]`."""
    from dlrun.preflight import check_output_dir, check_overrides

    register_resolvers()
    if any(a in ("-h", "--help") for a in args):
        from dlrun.cli import help_text

        print(help_text())
        return 0
    overrides = [a for a in args if not a.startswith("-")]
    multirun = any(a in ("-m", "--multirun") for a in args)
    check_overrides(overrides, multirun)
    check_output_dir(overrides, multirun)
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
    return 0


def run(cfg: DictConfig) -> float | None:
    """One Hydra job: train, and turn any failure into a one-line error plus results.json."""
    from hydra.core.hydra_config import HydraConfig

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    started = time.time()
    try:
        return train(cfg, run_dir)
    except TrainingInterrupted as err:
        _record_failure(run_dir, cfg, started, "interrupted", one_line(err))
        print(f"error: {one_line(err)}", file=sys.stderr)
        if err.checkpoint:
            print(f"resume with: {resume_command(err.checkpoint)}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    except DlrunError as err:
        _record_failure(run_dir, cfg, started, "failed", one_line(err))
        print(f"error: {one_line(err)}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    except KeyboardInterrupt:
        _record_failure(run_dir, cfg, started, "interrupted", "interrupted by the user")
        print(f"error: interrupted; run dir: {run_dir}", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as err:  # a bug, not bad input: keep the traceback in the run dir
        log = run_dir / "error.log"
        log.write_text(traceback.format_exc())
        _record_failure(run_dir, cfg, started, "failed", f"{type(err).__name__}: {one_line(err)}")
        print(f"error: internal error {type(err).__name__}: {one_line(err)} (traceback in {log})", file=sys.stderr)
        raise SystemExit(1) from None


def train(cfg: DictConfig, run_dir: Path) -> float | None:
    """Build everything from `cfg`, fit, test, write artifacts and results.json, print a summary."""
    from dlrun import build
    from dlrun.checkpoint import load_checkpoint
    from dlrun.results import RESULTS_FILE, git_commit, write_json_atomic
    from dlrun.run_logger import RunLogger
    from dlrun.seeding import seed_everything

    started = time.time()
    config = build.resolved(cfg)
    resume = load_checkpoint(cfg.ckpt_path) if cfg.ckpt_path else None
    seed_everything(int(cfg.seed), bool(cfg.trainer.deterministic))
    logger = RunLogger(run_dir)
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
    print(f"dlrun: {cfg.name}  params {num_params:,}  device {trainer.device}  run dir {run_dir}")
    try:
        result = trainer.fit(task, model, data, optimizer, schedule, regularizer, resume=resume, config=config, seed=int(cfg.seed))
        task.write_artifacts(model, data, run_dir, logger)
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
            "overrides": _overrides(),
            "tags": list(cfg.tags),
            "resumed_from": cfg.ckpt_path,
            "git_commit": git_commit(),
            "config": config,
        }
        write_json_atomic(run_dir / RESULTS_FILE, results)
        logger.hparams(_hparams(cfg), {**result.best_metrics, **result.test_metrics})
    finally:
        logger.close()
    _print_summary(results, run_dir)
    metric = cfg.get("optimized_metric")
    if metric:
        return _lookup_metric(results, metric)
    return None


def _lookup_metric(results: dict[str, Any], metric: str) -> float:
    for section in ("test", "best", "final"):
        if metric in results[section]:
            return float(results[section][metric])
    raise DlrunError(f"optimized_metric: no metric '{metric}' in the run's results")


def resume_command(checkpoint: str) -> str:
    """The `dlrun train` command line that continues this run from `checkpoint`."""
    import shlex

    kept = [o for o in _overrides() if not o.startswith(("ckpt_path=", "hydra."))]
    return shlex.join(["dlrun", "train", *kept, f"ckpt_path={checkpoint}"])


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task)


def _hparams(cfg: DictConfig) -> dict[str, Any]:
    """Group choices and the overridden values: what distinguishes this run from its siblings."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    params: dict[str, Any] = {f"{k}": v for k, v in hydra_cfg.runtime.choices.items() if not k.startswith("hydra") and v}
    for override in hydra_cfg.overrides.task:
        key, _, value = override.lstrip("+~").partition("=")
        params[key] = value
    params["seed"] = int(cfg.seed)
    return params


def _record_failure(run_dir: Path, cfg: DictConfig, started: float, status: str, message: str) -> None:
    from dlrun.results import RESULTS_FILE, write_json_atomic

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / RESULTS_FILE, {
            "status": status, "error": message, "run_dir": str(run_dir),
            "wall_time_s": round(time.time() - started, 3), "overrides": _overrides(),
            "seed": cfg.get("seed"),
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
