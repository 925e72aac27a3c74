"""One training run: build everything from the config, fit, test, record. What runs it (the command
line, Hydra, sweeps, torchrun, the failure policy) is in launch.py; this is only the run itself."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlrun.results import Results


def train(cfg: DictConfig, run_dir: Path) -> Results:
    """Build dataset, model, task, optimizer, schedule and trainer from `cfg`; fit and test; write
    artifacts and results.json into `run_dir`; print a summary. Returns the results."""
    from dlrun import build, distributed, run_info, sweep
    from dlrun.checkpoint import load_checkpoint
    from dlrun.results import git_commit
    from dlrun.run_logger import RunLogger
    from dlrun.seeding import seed_everything
    from dlrun.split_checks import check_training_batches

    main_rank = distributed.is_main()
    started = time.time()
    config = build.resolved(cfg)
    resume = load_checkpoint(cfg.ckpt_path) if cfg.ckpt_path else None
    changes: dict[str, list[Any]] = {}
    if resume is not None:
        from dlrun import resume as resuming

        resuming.check_state(resume, str(cfg.ckpt_path))
        allowed = [str(k) for k in (OmegaConf.select(cfg, "resume.allow_changes") or [])]
        changes = resuming.check_changes(resume.get("config") or {}, config, int(resume["epoch"]), allowed, str(cfg.ckpt_path))
    seed_everything(int(cfg.seed))
    in_sweep = run_info.in_sweep()
    figures = sweep.figures_choice(OmegaConf.select(cfg, "sweep.figures", default=True)) if in_sweep else "all"
    logger = RunLogger(run_dir, tensorboard=main_rank, figures=figures)
    trainer = build.build_trainer(cfg, run_dir, logger)
    data = build.build_data(cfg)
    if resume is not None and hasattr(data, "load_state_dict"):
        data.load_state_dict(resume.get("data", {}))
    data.setup(trainer.device)
    model = build.build_model(cfg, data).to(trainer.device)
    check_training_batches(model, data, trainer.limit_train)  # a one-sample batch that batch norm cannot train on
    task = build.build_task(cfg)
    regularizer = build.build_regularizer(cfg)
    optimizer = build.build_optimizer(cfg, model)
    schedule = build.build_schedule_for(cfg, optimizer, trainer.steps_per_epoch(data))
    if resume is not None:
        resuming.check_weights(model, resume["model"], str(cfg.ckpt_path))
        resume = resuming.adjust_state(resume, changes, optimizer, schedule)
    num_params = sum(p.numel() for p in model.parameters())
    if main_rank:
        world = f"  processes {distributed.world_size()}" if distributed.world_size() > 1 else ""
        print(f"dlrun: {cfg.name}  params {num_params:,}  device {trainer.device}{world}  run dir {run_dir}")
    try:
        fit = trainer.fit(task, distributed.wrap_model(model, trainer.device), data, optimizer, schedule, regularizer,
                          resume=resume, config=config, seed=int(cfg.seed))
        retrained, early_stopping = None, None
        if trainer.early_stopping_algorithm != "7.1":  # Alg 7.2 / 7.3: a second phase on train + val
            from dlrun.retrain import second_phase

            retrained, model, early_stopping = second_phase(cfg, fit, trainer, task, model, data, regularizer, run_dir)
        results = Results(
            status="completed", name=cfg.name, run_dir=str(run_dir),
            monitor=cfg.trainer.monitor, mode=cfg.trainer.mode, best_epoch=fit.best_epoch,
            best=fit.best_metrics, final=fit.final_metrics, test=(retrained or fit).test_metrics,
            epochs_run=fit.epochs_run, global_step=fit.global_step, stopped_early=fit.stopped_early,
            wall_time_s=round(time.time() - started, 3), num_params=num_params, seed=int(cfg.seed),
            deterministic=bool(cfg.trainer.deterministic), world_size=distributed.world_size(),
            overrides=run_info.overrides(), hparams=run_info.hparams(cfg), tags=list(cfg.tags),
            resumed_from=cfg.ckpt_path, resume_changes=changes or None, git_commit=git_commit() if main_rank else None, config=config,
        )
        if early_stopping is not None:
            results["early_stopping"] = early_stopping
        if main_rank:
            task.write_artifacts(model, data, run_dir, logger)
            results.write(run_dir)
            logger.hparams(results["hparams"], results.key_metrics(), experiment=not in_sweep)
    finally:
        logger.close(wait_for_figures=not in_sweep)  # a sweep's next job runs while they are drawn
    if main_rank:
        print_summary(results, run_dir)
    return results


def print_summary(results: dict[str, Any], run_dir: Path) -> None:
    """The end-of-run lines: time, best epoch, best and test metrics, where the run is."""

    def fmt(metrics: dict[str, float]) -> str:
        return "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()) or "-"

    stop = " (early stop)" if results["stopped_early"] else ""
    print(f"\ndone in {results['wall_time_s']:.1f}s, {results['epochs_run']} epochs{stop}; best epoch {results['best_epoch']} by {results['monitor']}")
    print(f"  best : {fmt(results['best'])}")
    print(f"  test : {fmt(results['test'])}")
    print(f"  run dir: {run_dir}")
    print("  view: tensorboard --logdir outputs")
