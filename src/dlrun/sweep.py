"""Multiruns that lose nothing: the sweep manifest (sweep.json), each job's life in it, and resume.

The launching process writes sweep.json before any job starts (one entry per job of a grid), each
job updates its own entry when it starts and ends (under a file lock, so parallel jobs from the
joblib or submitit launchers never overwrite each other), and the launching process closes it at
the end. A job that fails is recorded (results.json + error.log in its dir, `failed` here) and the
sweep goes on (`sweep.on_error=continue`) or skips the jobs not yet started (`stop`).

`sweep.resume=<sweep dir>` reruns the same command into the same dir: completed jobs are skipped,
the others run again under their old number; a previous attempt's files move to `attempt-<k>/`
and the new attempt resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlrun.errors import DlrunError
from dlrun.results import RESULTS_FILE, write_json_atomic

MANIFEST = "sweep.json"
LOCK_FILE = ".sweep.lock"
FORMAT = "dlrun-sweep"
ON_ERROR = ("continue", "stop")
ATTEMPT_PREFIX = "attempt-"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
FINISHED = ("completed",)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def override_key(override: str) -> str:
    """`+a.b=1` -> `a.b` (the config key an override sets)."""
    return override.lstrip("+~").split("=", 1)[0]


RUN_CONTROL = ("sweep", "ckpt_path", "hydra")  # keys that steer a run but never change what it computes


def is_run_control(key: str) -> bool:
    """`sweep.*` (resume, on_error, gpus), `ckpt_path` and Hydra's own settings."""
    return any(key == k or key.startswith((k + ".", k + "/")) for k in RUN_CONTROL)


def job_identity(overrides: list[str]) -> list[str]:
    """The overrides that define what a job computes (run-control keys left out)."""
    return [o for o in overrides if not is_run_control(override_key(o))]


# -- the manifest file ------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(sweep_dir: Path) -> Iterator[None]:
    """An exclusive lock on the sweep dir (flock; a no-op where fcntl does not exist)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(sweep_dir / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_manifest(sweep_dir: Path) -> dict[str, Any] | None:
    """sweep.json of `sweep_dir`, or None if there is none (or it is unreadable)."""
    import json

    try:
        data = json.loads((Path(sweep_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def update_manifest(sweep_dir: Path, change: Callable[[dict[str, Any]], Any]) -> Any:
    """Read-modify-write sweep.json under the sweep lock; returns what `change` returns."""
    sweep_dir = Path(sweep_dir)
    with _locked(sweep_dir):
        data = read_manifest(sweep_dir) or {"format": FORMAT, "version": 1, "sweep_dir": str(sweep_dir), "jobs": {}}
        result = change(data)
        write_json_atomic(sweep_dir / MANIFEST, data)
    return result


def _job_entry(num: int, overrides: list[str], exclude: list[str] | None = None) -> dict[str, Any]:
    from dlrun.run_names import job_dir_name

    return {"num": num, "dir": job_dir_name(num, overrides, exclude or []), "overrides": job_identity(overrides),
            "status": "pending"}


def sorted_jobs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [manifest["jobs"][k] for k in sorted(manifest.get("jobs", {}), key=int)]


# -- the launching process ----------------------------------------------------------------------
def grid_jobs(overrides: list[str], config_params: dict[str, Any] | None = None) -> list[list[str]]:
    """The override lists of the jobs Hydra's basic sweeper runs, in its order (= job numbers)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{k}={v}" for k, v in (config_params or {}).items()]
    parsed = OverridesParser.create().parse_overrides([*params, *overrides])
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def check_search_space(cfg: Any) -> None:
    """Every key a sweeper samples (hydra.sweeper.params) must exist in the config, or every trial
    would fail on it; `+key` adds a new one."""
    from omegaconf import OmegaConf

    params = cfg.hydra.sweeper.get("params") or {}
    missing = object()
    for key in params:
        key = str(key)
        if key.startswith("+") or key.startswith("hydra"):
            continue
        if OmegaConf.select(cfg, key.lstrip("~"), default=missing) is missing:
            raise DlrunError(f"hydra.sweeper.params: '{key}' is not a key of this config (a missing experiment=...? "
                             f"add new keys as +{key})")


def check_resumable(sweep_dir: Path, overrides: list[str], jobs: list[list[str]] | None) -> dict[str, Any]:
    """The manifest of the sweep to resume; raises DlrunError if it is not a dlrun sweep, is still
    running, or this command would number its jobs differently."""
    manifest = read_manifest(sweep_dir)
    if manifest is None:
        raise DlrunError(f"sweep.resume: {sweep_dir} is not a dlrun sweep dir (no readable {MANIFEST})")
    if jobs is None:
        raise DlrunError("sweep.resume works with grid sweeps (the basic sweeper); an Optuna search resumes "
                         "through its own storage (hydra.sweeper.storage)")
    if manifest.get("status") == "running" and _alive(manifest.get("host"), manifest.get("pid")):
        raise DlrunError(f"sweep.resume: the sweep in {sweep_dir} is still running (pid {manifest.get('pid')})")
    before, now = manifest.get("overrides"), job_identity(overrides)
    if before is not None and before != now:
        raise DlrunError(f"sweep.resume: this command's overrides ({' '.join(now) or 'none'}) differ from the sweep's "
                         f"({' '.join(before) or 'none'}); rerun it with the original overrides")
    recorded = {int(k): v.get("overrides") for k, v in manifest.get("jobs", {}).items()}
    for num, job in enumerate(jobs):
        if num in recorded and recorded[num] != job_identity(job):
            raise DlrunError(f"sweep.resume: job {num} was '{' '.join(recorded[num])}' but would now be "
                             f"'{' '.join(job_identity(job))}'; rerun with the original overrides")
    return manifest


def start(sweep_dir: Path, command: list[str], overrides: list[str], on_error: str,
          jobs: list[list[str]] | None, gpus: list[str] | None, resume: bool, exclude: list[str] | None = None) -> None:
    """Write (or reopen, on resume) the manifest before any job starts; `exclude`: the keys left
    out of job dir names (run_names.constant_keys)."""

    def change(data: dict[str, Any]) -> None:
        data.update({"status": "running", "on_error": on_error, "pid": os.getpid(), "host": socket.gethostname(),
                     "gpus": gpus, "gpu_leases": {}, "stop_requested": False})
        if resume:
            data.setdefault("resumes", []).append({"at": now_iso(), "command": command})
        else:
            data.update({"command": command, "overrides": job_identity(overrides), "started": now_iso()})
        for num, job in enumerate(jobs or []):
            data["jobs"].setdefault(str(num), _job_entry(num, job, exclude))

    update_manifest(sweep_dir, change)


def finish(sweep_dir: Path, interrupted: bool = False, error: str | None = None) -> dict[str, int]:
    """Close the manifest: jobs that never reported an end are marked, the sweep gets its final
    status; returns the count of jobs per status."""

    def change(data: dict[str, Any]) -> dict[str, int]:
        for job in data.get("jobs", {}).values():
            if job["status"] == "running":
                job["status"] = "interrupted" if interrupted else "failed"
                job.setdefault("error", "the job ended without recording a result (killed?)")
        counts: dict[str, int] = {}
        for job in data.get("jobs", {}).values():
            counts[job["status"]] = counts.get(job["status"], 0) + 1
        done = counts.get("completed", 0) == len(data.get("jobs", {}))
        data["status"] = "interrupted" if interrupted else "completed" if done and not error else "failed"
        if error:
            data["error"] = error
        data["ended"] = now_iso()
        data["gpu_leases"] = {}
        return counts

    result: dict[str, int] = update_manifest(sweep_dir, change)
    return result


def summary_lines(sweep_dir: Path) -> list[str]:
    """A short report of the sweep's jobs for the terminal."""
    manifest = read_manifest(sweep_dir) or {}
    jobs = sorted_jobs(manifest)
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job["status"]] = counts.get(job["status"], 0) + 1
    lines = [f"sweep {manifest.get('status', '?')}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
             + f" of {len(jobs)} jobs"]
    for job in jobs:
        if job["status"] not in FINISHED:
            reason = f": {job['error']}" if job.get("error") else ""
            lines.append(f"  job {job['num']} ({' '.join(job['overrides']) or 'defaults'}) {job['status']}{reason}")
    lines.append(f"  sweep dir: {sweep_dir}")
    lines.append(f"  compare: dlrun compare {sweep_dir}")
    return lines


def _alive(host: str | None, pid: int | None) -> bool:
    """Whether process `pid` on `host` still runs (only checkable on this host)."""
    if not pid or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- one job ----------------------------------------------------------------------------------------
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

    def begin(self) -> str | None:
        """Mark the job running; returns 'skipped' instead when an earlier failure stopped the sweep."""

        def change(data: dict[str, Any]) -> str | None:
            entry = data["jobs"].setdefault(str(self.num), _job_entry(self.num, self.overrides))
            if data.get("stop_requested"):
                entry.update(status="skipped", error="not run: an earlier job failed and sweep.on_error=stop")
                return "skipped"
            entry.update(status="running", started=now_iso(), pid=os.getpid(), host=socket.gethostname(),
                         attempts=int(entry.get("attempts", 0)) + 1, dir=os.path.relpath(self.run_dir, self.sweep_dir))
            entry.pop("error", None)
            return None

        result: str | None = update_manifest(self.sweep_dir, change)
        return result

    def end(self, status: str, error: str | None = None, metrics: dict[str, float] | None = None,
            resumed_from: str | None = None) -> None:
        """Record how the job ended; a failure with on_error=stop stops the jobs not yet started."""

        def change(data: dict[str, Any]) -> None:
            entry = data["jobs"].setdefault(str(self.num), _job_entry(self.num, self.overrides))
            entry.update(status=status, ended=now_iso())
            if error:
                entry["error"] = error
            if metrics:
                entry["metrics"] = metrics
            if resumed_from:
                entry["resumed_from"] = resumed_from
            if status != "completed" and self.on_error == "stop":
                data["stop_requested"] = True

        update_manifest(self.sweep_dir, change)

    def note(self, **fields: Any) -> None:
        """Add fields to this job's manifest entry (e.g. the GPU it runs on)."""

        def change(data: dict[str, Any]) -> None:
            data["jobs"].setdefault(str(self.num), _job_entry(self.num, self.overrides)).update(fields)

        update_manifest(self.sweep_dir, change)

    # -- a dir that held an earlier attempt (sweep.resume) ---------------------------------------
    def previous_results(self) -> dict[str, Any] | None:
        import json

        try:
            data = json.loads((self.run_dir / RESULTS_FILE).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def archive_previous_attempt(self) -> Path | None:
        """Move an earlier attempt's files (results, events, checkpoints, error.log, figures) into
        a new `attempt-<k>/`, so this attempt writes fresh files and appends to none; Hydra's own
        files (.hydra/, the job log) stay. Returns the attempt dir, or None if there was nothing."""
        keep = {".hydra", self.log_name, LOCK_FILE}
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


def current_job(sweep_cfg: Any) -> Job | None:
    """The running Hydra job as a sweep Job, or None outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

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
    )
