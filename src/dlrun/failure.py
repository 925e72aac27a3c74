"""The failure policy, in one wrapper that single runs, sweep jobs and `dlrun eval` share: bad input
(DlrunError) is one line; Ctrl-C is one line (and stops a sweep); anything else is a bug, so its
traceback goes to `<dir>/error.log` and the one line says so. Each failure is recorded first."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dlrun.errors import DlrunError, RecordedFailure, TrainingInterrupted, one_line

T = TypeVar("T")


@dataclass
class Failure:
    """What went wrong, as results.json records it."""

    status: str  # failed | interrupted
    message: str
    exit_code: int
    log: Path | None = None  # error.log with the traceback, for bugs


def classify(err: BaseException, out_dir: Path) -> Failure:
    """The Failure for `err`; a bug's traceback is written to `out_dir`/error.log (call in `except`)."""
    from dlrun.interrupt import exit_code, received

    if isinstance(err, TrainingInterrupted):  # 130 for Ctrl-C, 143 for SIGTERM
        return Failure("interrupted", one_line(err), exit_code(received()))
    if isinstance(err, KeyboardInterrupt):
        return Failure("interrupted", "interrupted by the user", exit_code(received()))
    if isinstance(err, DlrunError):
        return Failure("failed", one_line(err), err.exit_code)
    return Failure("failed", f"{type(err).__name__}: {one_line(err)}", 1, write_traceback(out_dir))


def guarded(work: Callable[[], T], out_dir: Path, record: Callable[[Failure], None], job: int | None = None,
            on_error: str = "continue", tag: str = "", resume_hint: Callable[[str], str] | None = None,
            requeued: Callable[[str], bool] | None = None) -> T | None:
    """`work()`, with the failure policy applied. A single run (job None) exits with the failure's
    code; a sweep job returns None (the sweep goes on) unless interrupted, which stops the sweep.
    `resume_hint(checkpoint)` is the command that resumes a single run after Ctrl-C; `requeued(message)`
    may take over an interrupted sweep job (True: requeued on Slurm, the sweep goes on)."""
    try:
        return work()
    except (Exception, KeyboardInterrupt) as err:
        failure = classify(err, out_dir)
        if not isinstance(err, RecordedFailure):
            record(failure)
        if failure.log is None and job is not None and failure.status == "failed" and not isinstance(err, RecordedFailure):
            failure.log = write_traceback(out_dir)
        if isinstance(err, RecordedFailure) and job is not None:
            failure.log = Path(out_dir) / "error.log"
        report(failure, out_dir, job, on_error, tag)
        checkpoint = err.checkpoint if isinstance(err, TrainingInterrupted) else None
        last = Path(out_dir) / "checkpoints" / "last.pt"
        if checkpoint is None and isinstance(err, KeyboardInterrupt) and last.is_file():
            checkpoint = str(last)  # e.g. Ctrl-C during the test pass: resuming the finished fit records the test metrics
        if checkpoint and job is None and resume_hint is not None:
            print(f"resume with: {resume_hint(checkpoint)}", file=sys.stderr)
        if job is None:
            raise SystemExit(failure.exit_code) from None
        if failure.status == "interrupted":
            if requeued is not None and requeued(failure.message):
                return None  # a Slurm job stopped by its time limit or a preemption: requeued
            raise KeyboardInterrupt from None
        return None


def report(failure: Failure, out_dir: Path, job: int | None, on_error: str, tag: str) -> None:
    """The one line on stderr (plus how to resume after Ctrl-C in a single run)."""
    if job is not None:
        if failure.status == "interrupted":
            line = f"job {job} {failure.message}"
        elif on_error == "continue":
            line = f"job {job} failed: {failure.message} (traceback in {failure.log}); the sweep goes on"
        else:
            line = f"job {job} failed: {failure.message}; sweep.on_error=stop"
    elif failure.log is not None:
        line = f"{tag}internal error {failure.message} (traceback in {failure.log})"
    elif failure.message == "interrupted by the user":
        line = f"{tag}interrupted; run dir: {out_dir}"
    else:
        line = f"{tag}{failure.message}"
    print(f"error: {line}", file=sys.stderr)


def write_traceback(out_dir: Path) -> Path:
    """The traceback of the exception being handled, in `out_dir`/error.log."""
    log = Path(out_dir) / "error.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
    except OSError:
        pass
    return log


def record(run_dir: Path, cfg: Any, started: float | None, status: str, message: str) -> None:
    """results.json of a run that did not complete (rank 0 only: it owns the run dir)."""
    import time

    from dlrun import distributed, run_info
    from dlrun.results import Results

    if not distributed.is_main():
        return
    try:
        hparams = run_info.hparams(cfg)
    except Exception:  # the config itself may be what failed
        hparams = None
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        Results(status=status, error=message, run_dir=str(run_dir),
                wall_time_s=round(time.time() - started, 3) if started is not None else 0.0,
                overrides=run_info.overrides(), hparams=hparams, seed=cfg.get("seed"),
                resumed_from=cfg.get("ckpt_path")).write(run_dir)
    except OSError:
        pass
