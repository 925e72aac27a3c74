"""Multiruns that lose nothing: the sweep manifest (sweep.json), each job's life in it, and resume.

The launching process writes sweep.json before any job starts (one entry per job of a grid), each
job updates its own entry when it starts and ends (under a file lock, so parallel jobs from the
joblib or submitit launchers never overwrite each other), and the launching process closes it at
the end. A job that fails is recorded (results.json + error.log in its dir, `failed` here) and the
sweep goes on (`sweep.on_error=continue`) or skips the jobs not yet started (`stop`).

`sweep.resume=<sweep dir>` reruns the same command into the same dir: completed jobs are skipped,
the others run again under their old number; a previous attempt's files move to `attempt-<k>/`
and the new attempt resumes from its last checkpoint. This module is the manifest and the launching
process's side; a job's own side (Job, and the Hydra callback that drives it) is dlrun.sweep_callback.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from dlrun.errors import DlrunError
from dlrun.overrides import job_identity
from dlrun.results import Results, write_json_atomic

MANIFEST = "sweep.json"
LOCK_FILE = ".sweep.lock"
FORMAT = "dlrun-sweep"
ON_ERROR = ("continue", "stop")
FINISHED = ("completed",)
FIGURES = {True: "all", False: "none", "true": "all", "false": "none", "no_duplicates": "no_duplicates"}  # sweep.figures -> RunLogger's


def figures_choice(value: Any) -> str:
    """What a sweep job draws (RunLogger's `figures`) for the sweep.figures value `value`."""
    choice = FIGURES.get(value) if isinstance(value, (bool, str)) else None
    if choice is None:
        raise DlrunError(f"sweep.figures: unknown value '{value}' (valid: no_duplicates, true, false)")
    return choice


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


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


def manifest_problem(sweep_dir: Path) -> str | None:
    """What is wrong with sweep.json of `sweep_dir` ('missing', 'unreadable ...', ...), or None."""
    path = Path(sweep_dir) / MANIFEST
    if not path.exists():
        return "missing"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return "unreadable (truncated, or not JSON)"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return "not a dlrun sweep manifest"
    jobs = data.get("jobs")
    if not isinstance(jobs, dict) or not all(isinstance(j, dict) and isinstance(j.get("status"), str)
                                             and isinstance(j.get("dir"), str) for j in jobs.values()):
        return "malformed (its 'jobs' is not a map of job entries)"
    return None


def read_manifest(sweep_dir: Path) -> dict[str, Any] | None:
    """sweep.json of `sweep_dir`, or None if there is none (or it is unreadable or malformed)."""
    if manifest_problem(sweep_dir) is not None:
        return None
    data: dict[str, Any] = json.loads((Path(sweep_dir) / MANIFEST).read_text())
    return data


def update_manifest(sweep_dir: Path, change: Callable[[dict[str, Any]], Any], create: bool = False) -> Any:
    """Read-modify-write sweep.json under the sweep lock; returns what `change` returns. Only the
    sweep's start (`create`) may write a missing manifest: one changed, truncated or removed by
    someone else mid-sweep is a DlrunError, never silently rebuilt without the jobs it lost."""
    sweep_dir = Path(sweep_dir)
    with _locked(sweep_dir):
        problem = manifest_problem(sweep_dir)
        if problem is not None and not (create and problem == "missing"):
            raise DlrunError(f"{sweep_dir / MANIFEST} is {problem}: it was changed by someone else during the sweep "
                             f"and is left as found")
        data = read_manifest(sweep_dir) or {"format": FORMAT, "version": 1, "sweep_dir": str(sweep_dir), "jobs": {}}
        result = change(data)
        write_json_atomic(sweep_dir / MANIFEST, data)
    return result


def job_entry(data: dict[str, Any], num: int, overrides: list[str], grid: bool) -> dict[str, Any]:
    """Job `num`'s entry; a grid sweep's entries are all written at its start, so a missing one
    means the manifest was changed by someone else (other sweepers add entries as jobs start)."""
    if str(num) not in data["jobs"] and grid:
        raise DlrunError(f"{data.get('sweep_dir')}/{MANIFEST} has no entry for job {num}: it was changed by someone "
                         f"else during the sweep and is left as found")
    entry: dict[str, Any] = data["jobs"].setdefault(str(num), _job_entry(num, overrides))
    return entry


def _job_entry(num: int, overrides: list[str], exclude: list[str] | None = None) -> dict[str, Any]:
    from dlrun.run_names import job_dir_name

    return {"num": num, "dir": job_dir_name(num, overrides, exclude or []), "overrides": job_identity(overrides),
            "status": "pending"}


def sorted_jobs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [manifest["jobs"][k] for k in sorted(manifest.get("jobs", {}), key=int)]


# -- the launching process ----------------------------------------------------------------------
def claim_for_resume(sweep_dir: Path, overrides: list[str], jobs: list[list[str]] | None) -> None:
    """Check the sweep to resume and mark it running by this process, both under the sweep lock, so
    two resumes of one sweep can never both start (the second finds it running)."""
    if not Path(sweep_dir).is_dir():
        raise DlrunError(f"sweep.resume: {sweep_dir} is not a dir")

    def change(data: dict[str, Any]) -> None:
        check_resumable(sweep_dir, overrides, jobs, data)
        data.update(status="running", pid=os.getpid(), host=socket.gethostname())

    with _locked(sweep_dir):
        problem = manifest_problem(sweep_dir)
        if problem == "missing":
            check_resumable(sweep_dir, overrides, jobs, None)
            return  # rebuilt from the grid and the job dirs when the sweep starts
        if problem is not None:
            path = Path(sweep_dir) / MANIFEST
            aside = shlex.join(["mv", str(path), f"{path}.broken"])
            raise DlrunError(f"sweep.resume: {path} is {problem}; move it aside ({aside}) and rerun "
                             f"this command: the manifest is rebuilt from the grid and the job dirs (completed jobs are skipped)")
        data = read_manifest(sweep_dir)
        assert data is not None
        change(data)
        write_json_atomic(Path(sweep_dir) / MANIFEST, data)


def check_resumable(sweep_dir: Path, overrides: list[str], jobs: list[list[str]] | None,
                    manifest: dict[str, Any] | None) -> None:
    """Raise DlrunError if `manifest` (None: sweep.json is missing) is not a sweep this command
    can resume: not a dlrun sweep, still running, or numbering its jobs differently."""
    if manifest is None and not any(p.is_dir() and (p / ".hydra").is_dir() for p in Path(sweep_dir).iterdir()):
        raise DlrunError(f"sweep.resume: {sweep_dir} is not a dlrun sweep dir (no {MANIFEST}, no job dirs)")
    if jobs is None:
        raise DlrunError("sweep.resume works with grid sweeps (the basic sweeper); an Optuna search resumes "
                         "through its own storage (hydra.sweeper.storage)")
    if manifest is None:
        return
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


def start(sweep_dir: Path, command: list[str], overrides: list[str], on_error: str,
          jobs: list[list[str]] | None, gpus: list[str] | None, resume: bool, exclude: list[str] | None = None) -> None:
    """Write (or reopen, on resume) the manifest before any job starts; `exclude`: the keys left
    out of job dir names (run_names.constant_keys)."""

    def change(data: dict[str, Any]) -> None:
        data.update({"status": "running", "on_error": on_error, "pid": os.getpid(), "host": socket.gethostname(),
                     "gpus": gpus, "gpu_leases": {}, "stop_requested": False})
        if resume:
            data.setdefault("resumes", []).append({"at": now_iso(), "command": command})
        if not resume or "overrides" not in data:  # a new sweep, or a manifest rebuilt on resume
            data.update({"command": command, "overrides": job_identity(overrides), "started": now_iso()})
        for num, job in enumerate(jobs or []):
            data["jobs"].setdefault(str(num), _job_entry(num, job, exclude))

    update_manifest(sweep_dir, change, create=True)


def finish(sweep_dir: Path, interrupted: bool = False, error: str | None = None, expected: int | None = None) -> dict[str, int]:
    """Close the manifest: jobs that never reported an end are marked, the sweep gets its final
    status; returns the count of jobs per status. A grid manifest that lost any of its `expected`
    jobs was changed by someone else: DlrunError, the file left as found."""

    def change(data: dict[str, Any]) -> dict[str, int]:
        lost = [n for n in range(expected or 0) if str(n) not in data["jobs"]]
        if lost:
            raise DlrunError(f"{Path(sweep_dir) / MANIFEST} lost the entries of jobs {', '.join(map(str, lost))}: it was "
                             f"changed by someone else during the sweep and is left as found")
        for job in data.get("jobs", {}).values():
            if job["status"] == "running":
                job["status"] = "interrupted" if interrupted else "failed"
                recorded = _recorded_outcome(Path(sweep_dir) / str(job["dir"]))
                if recorded.get("status") == job["status"]:  # Ctrl-C: the job wrote why it stopped
                    job.update({k: recorded[k] for k in ("error", "resumed_from") if recorded.get(k)})
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


def _recorded_outcome(run_dir: Path) -> Results:
    try:
        return Results.read(run_dir)
    except (OSError, ValueError):
        return Results()


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


JOB_STATES = ("pending", "running", "requeued", "completed", "failed", "interrupted", "skipped")


def sweep_states(paths: Iterable[str | Path]) -> list[str]:
    """One line per sweep dir among `paths` (one holding sweep.json): how many of its jobs are
    pending, running, requeued (e.g. by Slurm after a time limit), completed, ... while it runs."""
    lines = []
    for raw in paths:
        try:
            manifest = json.loads((Path(raw) / MANIFEST).read_text())
            jobs = [j for j in manifest["jobs"].values() if isinstance(j, dict)]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        counts: dict[str, int] = {}
        for job in jobs:
            counts[str(job.get("status"))] = counts.get(str(job.get("status")), 0) + 1
        requeues = sum(int(j.get("requeues", 0) or 0) for j in jobs)
        order = [s for s in JOB_STATES if s in counts] + sorted(s for s in counts if s not in JOB_STATES)
        parts = [f"{counts[s]} {s}" for s in order]
        lines.append(f"sweep {raw}: {', '.join(parts) or 'no jobs'} of {len(jobs)} jobs"
                     + (f" ({requeues} requeues so far)" if requeues else ""))
    return lines
