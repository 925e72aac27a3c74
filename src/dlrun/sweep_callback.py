"""Sweep bookkeeping as a Hydra callback (registered in train.yaml under hydra.callbacks): the
manifest is written when the multirun starts, each job is marked running (or skipped, or found
completed by an earlier attempt on sweep.resume) when it starts, and its outcome is copied from its
results.json into the manifest when it ends. Single runs pass through untouched."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from dlrun.results import Results


@dataclass
class JobPlan:
    """What on_job_start decided for the job about to run; the task function reads it."""

    num: int
    on_error: str
    previous: Results | None = None  # completed by an earlier attempt: not run again
    skipped: bool = False  # an earlier job failed with sweep.on_error=stop
    ckpt_path: str | None = None  # resume an earlier attempt from its checkpoint


_current: JobPlan | None = None


def current_job() -> JobPlan | None:
    """The plan of the sweep job running in this process, or None in a single run."""
    return _current


def _is_multirun(config: DictConfig) -> bool:
    from hydra.types import RunMode

    return config.hydra.mode == RunMode.MULTIRUN


class SweepCallback(Callback):
    """Keeps sweep.json in step with the jobs (see dlrun.sweep for the manifest itself)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Write (or reopen, on sweep.resume) the manifest before any job starts."""
        from dlrun import gpu_slots, sweep

        overrides = list(config.hydra.overrides.task)
        jobs = None
        if config.hydra.sweeper.get("_target_") == sweep.BASIC_SWEEPER:
            params = config.hydra.sweeper.get("params")
            params = OmegaConf.to_container(params, resolve=False) if isinstance(params, DictConfig) else None
            jobs = sweep.grid_jobs(overrides, params if isinstance(params, dict) else None)
        sweep.start(Path(str(config.hydra.sweep.dir)).absolute(), ["dlrun", "train", "-m", *overrides], overrides,
                    str(config.sweep.on_error), jobs, gpu_slots.resolve_gpus(config.sweep.gpus), resume=bool(config.sweep.resume))

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Decide how the job runs: skip it, take an earlier attempt's result, or run it (resuming
        an earlier attempt's checkpoint); mark it running and place it on a GPU."""
        global _current
        from dlrun import gpu_slots, sweep
        from dlrun.failure import record

        _current = None
        if not _is_multirun(config):
            return
        job = sweep.current_job(config.get("sweep"))
        assert job is not None
        plan = JobPlan(job.num, job.on_error)
        _current = plan
        previous = job.previous_results()
        if job.resume and previous is not None and previous.completed:
            job.end("completed", metrics=previous.key_metrics())
            print(f"job {job.num}: completed before, skipped (sweep.resume); run dir {job.run_dir}")
            plan.previous = previous
            return
        job.archive_previous_attempt()
        if job.begin() == "skipped":
            record(job.run_dir, config, None, "skipped", "not run: an earlier job failed and sweep.on_error=stop")
            print(f"job {job.num}: skipped (an earlier job failed and sweep.on_error=stop)")
            plan.skipped = True
            return
        if job.resume and not config.get("ckpt_path"):
            ckpt = job.last_checkpoint()
            if ckpt is not None:
                plan.ckpt_path = str(ckpt)
                print(f"job {job.num}: resuming from {ckpt}")
        gpu = gpu_slots.place_job(job.sweep_dir, job.num) if int(config.trainer.get("devices", 1)) == 1 else None
        if gpu is not None:
            job.note(gpu=gpu)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        """Copy the job's outcome (its results.json) into the manifest."""
        from dlrun import sweep

        plan = _current
        if plan is None or plan.previous is not None or plan.skipped:
            return
        job = sweep.current_job(config.get("sweep"))
        assert job is not None
        try:
            results = Results.read(job.run_dir)
        except (OSError, ValueError):
            error = getattr(job_return, "_return_value", None)
            job.end("failed", error=f"the job recorded no results ({error!r})", resumed_from=plan.ckpt_path)
            return
        if results.completed:
            job.end("completed", metrics=results.key_metrics(), resumed_from=results.get("resumed_from"))
        else:
            job.end(str(results.get("status") or "failed"), error=results.get("error"), resumed_from=results.get("resumed_from"))
