"""Parallel local jobs on several GPUs: each job process takes one GPU, round-robin, through
CUDA_VISIBLE_DEVICES (set before CUDA starts in that process).

Launchers such as joblib reuse a worker process for several jobs, and CUDA reads
CUDA_VISIBLE_DEVICES once per process, so a process keeps the GPU it took first; the GPUs are
leased per process in the sweep manifest, and a new process takes the least used GPU (the job
number's turn among equals), so n parallel workers on n GPUs get one GPU each.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

from dlrun.errors import DlrunError

_held: str | None = None  # the GPU this process took (kept for its later jobs)


def resolve_gpus(setting: Any) -> list[str] | None:
    """`sweep.gpus` as a list of device ids: `auto` = every visible GPU when there are 2 or more,
    `none`/null = off, or an explicit list such as [0, 1]."""
    if setting is None or (isinstance(setting, str) and setting.lower() in ("none", "null", "off", "")):
        return None
    if isinstance(setting, str) and setting.lower() == "auto":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            ids = [v.strip() for v in visible.split(",") if v.strip()]
        else:
            import torch

            ids = [str(i) for i in range(torch.cuda.device_count())]
        return ids if len(ids) >= 2 else None
    if isinstance(setting, (int, str)):
        setting = [setting]
    try:
        ids = [str(int(g)) if not isinstance(g, str) else g.strip() for g in setting]
    except (TypeError, ValueError) as err:
        raise DlrunError(f"sweep.gpus: expected auto, none or a list of GPU ids, got {setting!r}") from err
    if not ids:
        raise DlrunError("sweep.gpus: empty list (use none to switch GPU placement off)")
    return ids


def choose(gpus: list[str], leases: dict[str, str], job_num: int) -> str:
    """The GPU for a new process: the least leased one; among equals, the job number's turn."""
    load = {g: 0 for g in gpus}
    for gpu in leases.values():
        if gpu in load:
            load[gpu] += 1
    fewest = min(load.values())
    n = len(gpus)
    for offset in range(n):
        gpu = gpus[(job_num + offset) % n]
        if load[gpu] == fewest:
            return gpu
    return gpus[job_num % n]  # pragma: no cover - unreachable


def _cuda_started() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


def place_job(sweep_dir: Path, job_num: int) -> str | None:
    """Give this job process a GPU from the sweep's list (sets CUDA_VISIBLE_DEVICES); returns it,
    or None when placement does not apply: no list, jobs run inside the launching process (one
    at a time), or CUDA already started in this process."""
    global _held
    if _held is not None:
        return _held
    from dlrun.sweep import read_manifest, update_manifest

    manifest = read_manifest(sweep_dir) or {}
    gpus = manifest.get("gpus")
    in_launcher = os.getpid() == manifest.get("pid") and socket.gethostname() == manifest.get("host")
    if not gpus or in_launcher or _cuda_started():
        return None
    me = f"{socket.gethostname()}:{os.getpid()}"

    def change(data: dict[str, Any]) -> str:
        leases = {k: v for k, v in data.get("gpu_leases", {}).items() if _lease_alive(k)}
        gpu = choose(gpus, leases, job_num)
        leases[me] = gpu
        data["gpu_leases"] = leases
        return gpu

    gpu: str = update_manifest(sweep_dir, change)
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    _held = gpu
    return gpu


def _lease_alive(key: str) -> bool:
    host, _, pid = key.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True
