"""Sweep bookkeeping as a Hydra callback (registered in train.yaml under hydra.callbacks): the
manifest is written when the multirun starts, each job is marked running (or skipped, or found
completed by an earlier attempt on sweep.resume) when it starts, and its outcome is copied from its
results.json into the manifest when it ends. Single runs pass through untouched."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dlrun import run_names, sweep
from dlrun.errors import DlrunError
from dlrun.results import ATTEMPT_PREFIX, Results


@dataclass
class JobPlan:
    """What on_job_start decided for the job about to run; the task function reads it."""

    num: int
    on_error: str
    previous: Results | None = None  # completed by an earlier attempt: not run again
    skipped: bool = False  # an earlier job failed with sweep.on_error=stop
    ckpt_path: str | None = None  # resume an earlier attempt from its checkpoint
    job: Job | None = None  # the job's entry in the manifest
    requeue_error: str | None = None  # stopped on Slurm but not requeued: why (the job failed)


_current: JobPlan | None = None


def current_job() -> JobPlan | None:
    """The plan of the sweep job running in this process, or None in a single run."""
    return _current


def requeued_on_slurm(message: str) -> bool:
    """A sweep job on Slurm stopped by its time limit or a preemption (SIGTERM / submitit's signal)
    after writing last.pt: requeue it (this process then ends) or, when it may not be requeued any
    more, mark it failed with the reason. False outside Slurm or for Ctrl-C (the sweep stops)."""
    import signal
    import sys

    from dlrun import slurm
    from dlrun.interrupt import received

    plan = _current
    if plan is None or plan.job is None or not slurm.in_slurm_job() or received() in (None, signal.SIGINT):
        return False
    reason = slurm.requeue(plan.job)
    if reason is not None:
        plan.requeue_error = f"{message}; not requeued: {reason} (finish the sweep with sweep.resume)"
        print(f"error: job {plan.num} {plan.requeue_error}", file=sys.stderr)
    return True


def _is_multirun(config: DictConfig) -> bool:
    from hydra.types import RunMode

    return config.hydra.mode == RunMode.MULTIRUN


class SweepCallback(Callback):
    """Keeps sweep.json in step with the jobs (see dlrun.sweep for the manifest itself)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Write (or reopen, on sweep.resume) the manifest before any job starts."""
        from dlrun import gpu_slots, sweep_grid

        overrides = list(config.hydra.overrides.task)
        jobs = sweep_grid.planned_jobs(config, overrides)
        sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        sweep_dir.mkdir(parents=True, exist_ok=True)  # a preset may turn a plain `dlrun train` into a multirun
        sweep.start(sweep_dir, ["dlrun", "train", "-m", *overrides], overrides,
                    str(config.sweep.on_error), jobs, gpu_slots.resolve_gpus(config.sweep.gpus), resume=bool(config.sweep.resume),
                    exclude=run_names.constant_keys(overrides, jobs))

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Decide how the job runs: skip it, take an earlier attempt's result, or run it (resuming
        an earlier attempt's checkpoint); mark it running and place it on a GPU."""
        global _current
        from dlrun import distributed, gpu_slots, slurm

        _current = None
        if not _is_multirun(config):
            return
        job = sweep_job(config.get("sweep"))
        assert job is not None
        plan = JobPlan(job.num, job.on_error, job=job)
        _current = plan
        distributed.init_from_slurm()  # tasks_per_node=N: N tasks of one DDP run; callbacks run in each
        if not distributed.is_main():  # rank 0 alone keeps the manifest and the run dir
            decided = distributed.broadcast_object(None)
            plan.skipped = decided is None
            plan.ckpt_path = decided["ckpt_path"] if decided else None
            return
        job.resume = job.resume or slurm.restart_count() > 0  # requeued by Slurm: continue from last.pt
        try:
            plan.ckpt_path = self._decide(config, job, plan)
        except DlrunError as err:  # the manifest was changed by someone else: leave it, run nothing
            print(f"error: job {job.num} not run: {err}", file=sys.stderr)
            plan.skipped = True
        distributed.broadcast_object(None if plan.skipped or plan.previous is not None else {"ckpt_path": plan.ckpt_path})
        if plan.skipped or plan.previous is not None:
            return
        if slurm.in_slurm_job():
            job.note(slurm_job_id=slurm.job_id())
        gpu = gpu_slots.place_job(job.sweep_dir, job.num) if int(config.trainer.get("devices", 1)) == 1 else None
        if gpu is not None:
            job.note(gpu=gpu)

    @staticmethod
    def _decide(config: DictConfig, job: Job, plan: JobPlan) -> str | None:
        """Rank 0: take an earlier attempt's result, skip the job, or mark it running; returns the
        checkpoint it resumes from, if any."""
        from dlrun.failure import record

        previous = job.previous_results()
        if job.resume and previous is not None and previous.completed:
            job.end("completed", metrics=previous.key_metrics())
            print(f"job {job.num}: completed before, skipped (sweep.resume); run dir {job.run_dir}")
            plan.previous = previous
            return None
        job.archive_previous_attempt()
        if job.begin() == "skipped":
            record(job.run_dir, config, None, "skipped", "not run: an earlier job failed and sweep.on_error=stop")
            print(f"job {job.num}: skipped (an earlier job failed and sweep.on_error=stop)")
            plan.skipped = True
            return None
        if job.resume and not config.get("ckpt_path"):
            ckpt = job.last_checkpoint()
            if ckpt is not None:
                print(f"job {job.num}: resuming from {ckpt}")
                return str(ckpt)
        return None

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        """Copy the job's outcome (its results.json) into the manifest."""
        from dlrun import distributed

        plan = _current
        if plan is None or plan.previous is not None or plan.skipped or not distributed.is_main():
            return
        job = sweep_job(config.get("sweep"))
        assert job is not None
        if plan.requeue_error is not None:  # stopped on Slurm, not requeued (e.g. too many time limits)
            job.end("failed", error=plan.requeue_error)
            return
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


# -- a job's entry in the manifest -------------------------------------------------------------
@dataclass
class Job:
    """A job of a multirun: its number, dir and place in the sweep's manifest."""

    sweep_dir: Path
    num: int
    run_dir: Path
    overrides: list[str]
    on_error: str = "continue"
    resume: bool = False
    log_name: str = ""
    grid: bool = False  # Hydra's basic sweeper: every job's entry is written when the sweep starts

    def begin(self) -> str | None:
        """Mark the job running; returns 'skipped' instead when an earlier failure stopped the sweep."""

        def change(data: dict[str, Any]) -> str | None:
            entry = sweep.job_entry(data, self.num, self.overrides, self.grid)
            if data.get("stop_requested"):
                entry.update(status="skipped", error="not run: an earlier job failed and sweep.on_error=stop")
                return "skipped"
            entry.update(status="running", started=sweep.now_iso(), pid=os.getpid(), host=socket.gethostname(),
                         attempts=int(entry.get("attempts", 0)) + 1, dir=os.path.relpath(self.run_dir, self.sweep_dir))
            entry.pop("error", None)
            return None

        result: str | None = sweep.update_manifest(self.sweep_dir, change)
        return result

    def end(self, status: str, error: str | None = None, metrics: dict[str, float] | None = None,
            resumed_from: str | None = None) -> None:
        """Record how the job ended; a failure with on_error=stop stops the jobs not yet started."""

        def change(data: dict[str, Any]) -> None:
            entry = sweep.job_entry(data, self.num, self.overrides, self.grid)
            entry.update(status=status, ended=sweep.now_iso())
            if error:
                entry["error"] = error
            if metrics:
                entry["metrics"] = metrics
            if resumed_from:
                entry["resumed_from"] = resumed_from
            if status != "completed" and self.on_error == "stop":
                data["stop_requested"] = True

        sweep.update_manifest(self.sweep_dir, change)

    def note(self, **fields: Any) -> None:
        """Add fields to this job's manifest entry (e.g. the GPU it runs on)."""

        def change(data: dict[str, Any]) -> None:
            sweep.job_entry(data, self.num, self.overrides, self.grid).update(fields)

        sweep.update_manifest(self.sweep_dir, change)

    # -- a dir that held an earlier attempt (sweep.resume) ---------------------------------------
    def previous_results(self) -> Results | None:
        """The results.json an earlier attempt left in this job's dir, if any."""
        try:
            return Results.read(self.run_dir)
        except (OSError, ValueError):
            return None

    def archive_previous_attempt(self) -> Path | None:
        """Move an earlier attempt's files (results, events, checkpoints, error.log, figures) into
        a new `attempt-<k>/`, so this attempt writes fresh files and appends to none; Hydra's own
        files (.hydra/, the job log) stay. Returns the attempt dir, or None if there was nothing."""
        keep = {".hydra", self.log_name, sweep.LOCK_FILE}
        old = [p for p in self.run_dir.iterdir() if p.name not in keep and not p.name.startswith(ATTEMPT_PREFIX)]
        if not old:
            return None
        k = len(list(self.run_dir.glob(ATTEMPT_PREFIX + "*"))) + 1
        while True:
            target = self.run_dir / f"{ATTEMPT_PREFIX}{k}"
            try:
                target.mkdir()
                break
            except FileExistsError:
                k += 1
        for path in old:
            shutil.move(str(path), str(target / path.name))
        return target

    def last_checkpoint(self) -> Path | None:
        """checkpoints/last.pt of the latest earlier attempt that has one."""
        attempts = sorted(self.run_dir.glob(ATTEMPT_PREFIX + "*"), key=lambda p: _attempt_number(p.name), reverse=True)
        for attempt in attempts:
            ckpt = attempt / "checkpoints" / "last.pt"
            if ckpt.is_file():
                return ckpt
        return None


def _attempt_number(name: str) -> int:
    try:
        return int(name[len(ATTEMPT_PREFIX):])
    except ValueError:
        return 0


def sweep_job(sweep_cfg: Any) -> Job | None:
    """The running Hydra job as a sweep Job, or None outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from dlrun.sweep_grid import uses_basic_sweeper

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    on_error = str(sweep_cfg.get("on_error", "continue")) if sweep_cfg is not None else "continue"
    resume = bool(sweep_cfg.get("resume")) if sweep_cfg is not None else False
    return Job(
        sweep_dir=Path(str(hydra_cfg.sweep.dir)).absolute(),
        num=int(hydra_cfg.job.num),
        run_dir=Path(hydra_cfg.runtime.output_dir),
        overrides=list(hydra_cfg.overrides.task),
        on_error=on_error,
        resume=resume,
        log_name=f"{hydra_cfg.job.name}.log",
        grid=uses_basic_sweeper(hydra_cfg),
    )
