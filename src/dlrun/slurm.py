"""Slurm through Hydra's submitit launcher: the request checked against the partition before anything
is submitted, and a job stopped by its time limit or a preemption requeued to resume from last.pt."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from dlrun.errors import DlrunError, one_line

SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
SUBMITIT_DIR = ".submitit"


def uses_slurm(cfg: DictConfig) -> bool:
    """Whether the composed config (with its `hydra` node) sends jobs to Slurm."""
    launcher = cfg.hydra.get("launcher") if "hydra" in cfg else None
    return launcher is not None and launcher.get("_target_") == SLURM_LAUNCHER


def in_slurm_job() -> bool:
    """Whether this process is a job that submitit started on Slurm (it can be requeued)."""
    return os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and "SLURM_JOB_ID" in os.environ


def restart_count() -> int:
    """How many times Slurm has requeued this job (0 for its first start)."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    except ValueError:
        return 0


def job_id() -> str:
    """This job's Slurm id as squeue and scancel show it (`<array id>_<index>` for a sweep's job)."""
    array, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{index}" if array and index else os.environ.get("SLURM_JOB_ID", "")


def task_rank() -> int:
    """This task's rank among the tasks of the job (tasks_per_node × nodes); 0 outside Slurm."""
    return int(os.environ.get("SLURM_PROCID", "0") or 0) if in_slurm_job() else 0


# -- before submitting --------------------------------------------------------------------------------
def _query(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DlrunError(f"hydra/launcher=slurm: `{' '.join(cmd)}` failed: {one_line(err)}") from err
    if out.returncode != 0:
        raise DlrunError(f"hydra/launcher=slurm: `{' '.join(cmd)}` failed: {one_line(out.stderr) or out.returncode}")
    return out.stdout


def gpu_count(gres: str) -> int:
    """GPUs in a sinfo GRES field (`gpu:4`, `gpu:a100:2(S:0-1),shard:8` -> 4, 2; `(null)` -> 0)."""
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def partition_nodes(partition: str | None) -> list[dict[str, Any]]:
    """Every node of `partition` (the default one if None) with its CPUs, memory (MB) and GPUs,
    from one `sinfo` call."""
    cmd = ["sinfo", "-h", "-N", "-o", "%N|%c|%m|%G|%P"] + (["-p", partition] if partition else [])
    nodes = []
    for line in _query(cmd).splitlines():
        fields = line.strip().split("|")
        if len(fields) != 5:
            continue
        name, cpus, mem, gres, part = fields
        if (part.rstrip("*") != partition) if partition else not part.endswith("*"):
            continue  # the partition asked for, else the default one (sinfo marks it with *)
        nodes.append({"name": name, "cpus": int(cpus.rstrip("+") or 0), "mem_mb": int(mem.rstrip("+") or 0),
                      "gpus": gpu_count(gres)})
    return nodes


def requested_gpus(device: str, devices: int, partition_has_gpus: bool) -> int:
    """GPUs per node for trainer.device: none for CPU runs, trainer.devices for CUDA; `auto` asks
    for GPUs only where the partition has some."""
    if device == "cpu":
        return 0
    if device == "auto":
        return devices if partition_has_gpus else 0
    return devices


def check_request(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """Before a Slurm sweep is submitted: Slurm must be installed, and one node of the partition must
    hold what each job asks for (or the job would pend forever); returns Hydra overrides that fit
    the GPU request to trainer.device."""
    if not uses_slurm(cfg):
        return []
    if shutil.which("sbatch") is None:
        raise DlrunError("hydra/launcher=slurm: no Slurm found (no sbatch on PATH); run the sweep on this machine "
                         "instead: drop hydra/launcher=slurm (or use hydra/launcher=joblib for parallel jobs)")
    launcher = cfg.hydra.launcher
    partition = launcher.get("partition")
    nodes = partition_nodes(str(partition) if partition else None)
    where = f"partition '{partition}'" if partition else "the default partition"
    if not nodes:
        raise DlrunError(f"hydra/launcher=slurm: {where} has no nodes (see sinfo); set hydra.launcher.partition")
    extra: list[str] = []
    if any(o.split("=", 1)[0].lstrip("+") == "hydra.launcher.gpus_per_node" for o in overrides):
        gpus = int(launcher.get("gpus_per_node") or 0)
    else:
        gpus = requested_gpus(str(cfg.trainer.device), int(cfg.trainer.get("devices", 1)), any(n["gpus"] for n in nodes))
        extra.append(f"hydra.launcher.gpus_per_node={gpus or 'null'}")
    if not accounting_enabled():
        watch_jobs_with_squeue()
    cpus = int(launcher.get("cpus_per_task") or 1) * int(launcher.get("tasks_per_node") or 1)
    mem_mb = int(float(launcher.get("mem_gb") or 0) * 1024)
    if any(n["cpus"] >= cpus and n["mem_mb"] >= mem_mb and n["gpus"] >= gpus for n in nodes):
        return extra
    most = max(nodes, key=lambda n: (n["gpus"] >= gpus, n["cpus"], n["mem_mb"]))
    raise DlrunError(
        f"hydra/launcher=slurm: each job asks for {cpus} CPUs (cpus_per_task × tasks_per_node), "
        f"{mem_mb // 1024} GB and {gpus} GPUs per node, but the largest node of {where} ({most['name']}) has "
        f"{most['cpus']} CPUs, {most['mem_mb'] // 1024} GB and {most['gpus']} GPUs; lower hydra.launcher.cpus_per_task, "
        "mem_gb or trainer.devices (GPUs follow trainer.device: cpu asks for none)")


def queued_jobs(sweep_dir: Path) -> list[str]:
    """Slurm job ids of this sweep that are still pending or running (from submitit's folder and
    one `squeue` call); [] without Slurm."""
    folder = Path(sweep_dir) / SUBMITIT_DIR
    if shutil.which("squeue") is None or not folder.is_dir():
        return []
    ids = {p.name.split("_")[0] for p in folder.iterdir() if p.name.split("_")[0].isdigit()}
    if not ids:
        return []
    try:
        out = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(sorted(ids))], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted({line.split()[0] for line in out.stdout.splitlines() if line.strip()})


def check_not_queued(sweep_dir: Path) -> None:
    """sweep.resume must not submit jobs that Slurm still holds (they would run twice)."""
    queued = queued_jobs(sweep_dir)
    if queued:
        raise DlrunError(f"sweep.resume: Slurm still holds jobs of this sweep ({', '.join(queued)}); "
                         "wait for them (squeue) or cancel them (scancel) first")


# -- waiting for jobs --------------------------------------------------------------------------------
def accounting_enabled() -> bool:
    """Whether the cluster keeps job accounting (sacct works): `scontrol show config` names an
    AccountingStorageType other than accounting_storage/none."""
    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return True  # unknown: leave submitit's sacct watcher in place
    for line in out.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "AccountingStorageType":
            return value.strip() not in ("accounting_storage/none", "(null)", "")
    return True


def watch_jobs_with_squeue() -> None:
    """On a cluster without accounting, let submitit learn job states from squeue (see
    slurm_watcher.py); once per process."""
    from submitit.slurm.slurm import SlurmJob

    from dlrun.slurm_watcher import SqueueWatcher

    if not isinstance(SlurmJob.watcher, SqueueWatcher):
        SlurmJob.watcher = SqueueWatcher(delay_s=60)


# -- inside a job -------------------------------------------------------------------------------------
def requeue(job: Any) -> str | None:
    """After a time-limit or preemption signal stopped training (last.pt written): record the
    requeue in the manifest and let submitit requeue the job (which ends this process). Returns why
    it was not requeued (e.g. max_num_timeout reached), or None on the non-zero ranks."""
    from submitit.core.utils import UncompletedJobError

    from dlrun import interrupt

    sig = interrupt.preempt_signal()
    handler = signal.getsignal(sig) if sig is not None else None
    if not callable(handler) or not hasattr(handler, "__self__") or not hasattr(handler.__self__, "env"):
        return "not a submitit job on Slurm"
    if task_rank() != 0:
        return None  # the rank-0 task requeues the whole job
    env = handler.__self__.env
    requeue_job = env._requeue

    def requeue_now(countdown: int) -> None:
        requeue_job(countdown)
        _record_requeue(job)
        print(f"job {job.num}: requeued (Slurm job {env.job_id}); it resumes from its last.pt", file=sys.stderr, flush=True)

    env._requeue = requeue_now
    try:
        handler(sig, None)  # checkpoint the submission, requeue, exit
    except UncompletedJobError as err:
        return one_line(err)
    except subprocess.CalledProcessError as err:
        return f"scontrol requeue failed: {one_line(err)}"
    return "not requeued"


def _record_requeue(job: Any) -> None:
    from dlrun.sweep import update_manifest

    def change(data: dict[str, Any]) -> None:
        entry = data["jobs"].setdefault(str(job.num), {"num": job.num, "dir": str(job.num), "overrides": []})
        entry.update(status="requeued", requeues=int(entry.get("requeues", 0)) + 1,
                     slurm_job_id=job_id())

    update_manifest(job.sweep_dir, change)
