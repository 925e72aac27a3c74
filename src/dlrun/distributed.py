"""Data-parallel training with PyTorch's own DDP, one process per device, launched by `torchrun`
(or by `trainer.devices=N`, which starts torchrun itself), or inside a Slurm job from SLURM_* alone.
It runs slightly past 300 lines because the three ways of starting the same process group share one file.

Every helper is a no-op in a single process, so the ordinary path pays nothing. Rank 0 owns the
run dir: it alone logs, prints, writes checkpoints, results.json and figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dlrun.errors import DlrunError, RecordedFailure, TrainingInterrupted

SPAWNED_RUN_DIR = "DLRUN_SPAWNED_RUN_DIR"  # the run dir trainer.devices=N claimed and hands to its torchrun workers

_world = {"size": 1, "rank": 0, "local_rank": 0}


def launched_by_torchrun() -> bool:
    """Whether this process is one of several started by torchrun (its env names a world > 1)."""
    return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env() -> None:
    """Join the process group torchrun describes in the environment (gloo for CPU tensors, NCCL
    for CUDA ones); each process then uses GPU LOCAL_RANK as its `cuda` device."""
    if not launched_by_torchrun():
        return
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            backend = "cpu:gloo,cuda:nccl"
        else:
            backend = "gloo"
        try:
            dist.init_process_group(backend=backend)
        except (RuntimeError, ValueError) as err:
            raise DlrunError(f"cannot join the torchrun process group: {str(err).splitlines()[0]}") from err
    _world.update(size=dist.get_world_size(), rank=dist.get_rank(), local_rank=local_rank)


def launched_by_slurm() -> bool:
    """Whether this process is one of several tasks of a Slurm job step (`srun`, or submitit with
    tasks_per_node > 1), not started by torchrun."""
    return ("TORCHELASTIC_RUN_ID" not in os.environ and "SLURM_PROCID" in os.environ
            and int(os.environ.get("SLURM_NTASKS", "1")) > 1 and os.environ.get("SLURM_STEP_ID") is not None)


def slurm_world(env: dict[str, str] | None = None) -> dict[str, str]:
    """The torch.distributed environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)
    of a Slurm task: ranks from SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID, the rendezvous on the
    first host of SLURM_JOB_NODELIST at a port derived from the job id (same on every node)."""
    env = dict(os.environ if env is None else env)
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or "localhost"
    job_id = int(env.get("SLURM_JOB_ID", "0"))
    return {
        "RANK": env["SLURM_PROCID"],
        "WORLD_SIZE": env.get("SLURM_NTASKS", "1"),
        "LOCAL_RANK": env.get("SLURM_LOCALID", "0"),
        "MASTER_ADDR": env.get("MASTER_ADDR") or first_host(nodelist),
        "MASTER_PORT": env.get("MASTER_PORT") or str(20000 + job_id % 20000),
    }


def first_host(nodelist: str) -> str:
    """The first host name of a Slurm node list (`node[3-5,9],gpu1` -> `node3`); `scontrol show
    hostnames` expands what the simple forms do not cover."""
    head = nodelist.split(",")[0]
    if "[" not in head:
        return head
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.split():
            return out.stdout.split()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    prefix, _, rest = nodelist.partition("[")
    first = rest.split(",")[0].split("-")[0].rstrip("]")
    return prefix + first


def init_from_slurm() -> None:
    """Join the process group of the tasks of this Slurm job step (tasks_per_node=N, several nodes)
    without torchrun: Slurm's environment is turned into torchrun's, then joined as usual."""
    if not launched_by_slurm() or _world["size"] > 1:
        return
    os.environ.update(slurm_world())  # from here on the process looks torchrun-launched to dlrun
    init_from_env()


def cleanup() -> None:
    """Leave the process group (end of a distributed run)."""
    if _world["size"] > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
        _world.update(size=1, rank=0, local_rank=0)


def world_size() -> int:
    return _world["size"]


def rank() -> int:
    return _world["rank"]


def is_main() -> bool:
    """Rank 0 (or the only process): the one that logs and writes files."""
    return _world["rank"] == 0


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (picklable objects only)."""
    if _world["size"] == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_across_ranks(sums: dict[str, torch.Tensor], count: int) -> tuple[dict[str, torch.Tensor], int]:
    """Per-rank metric sums and sample counts added over all ranks (one all-reduce)."""
    if _world["size"] == 1 or not sums:
        return sums, count
    import torch.distributed as dist

    keys = sorted(sums)
    packed = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64) for k in keys]
                         + [torch.tensor(float(count), dtype=torch.float64, device=sums[keys[0]].device)])
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    total = {k: packed[i] for i, k in enumerate(keys)}
    return total, int(packed[-1].item())


def max_across_ranks(value: torch.Tensor) -> torch.Tensor:
    """The largest value of a scalar tensor over all ranks (e.g. the first step with a NaN loss)."""
    if _world["size"] == 1:
        return value
    import torch.distributed as dist

    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return value


def any_rank(flag: bool) -> bool:
    """Whether `flag` is true on some rank (e.g. a Ctrl-C seen by one process first)."""
    if _world["size"] == 1:
        return flag
    return bool(max_across_ranks(torch.tensor(int(flag))).item())


def shard(batches: Any) -> Any:
    """The training batches of this rank: its slice of the epoch's shuffled order."""
    if _world["size"] == 1:
        return batches
    from dlrun.data.base import Batches

    if not isinstance(batches, Batches):
        raise DlrunError(f"this dataset's batches ({type(batches).__name__}) cannot be split across processes; "
                         "DDP needs a shard(rank, world_size) method (dlrun.data.base.Batches; EpochSeeded provides it)")
    batches.shard(_world["rank"], _world["size"])
    return batches


class DataParallel(DistributedDataParallel):
    """PyTorch DDP whose parameter names and state_dict are the plain model's (so checkpoints,
    regularizer patterns and `dlrun eval` work unchanged), and whose forward without gradients
    (evaluation) runs the local model without DDP's collectives."""

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            return self.module(*inputs, **kwargs)
        return super().forward(*inputs, **kwargs)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Any:
        return self.module.named_parameters(prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate)

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Any:
        return self.module.named_buffers(prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate)


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """The model under DDP when several processes train it; the model itself otherwise."""
    if _world["size"] == 1:
        return model
    if not any(p.requires_grad for p in model.parameters()):
        return model  # nothing to synchronise (e.g. a fixed feature extractor)
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DataParallel(model, device_ids=device_ids)


def check_world(trainer_cfg: Any) -> None:
    """Under torchrun, trainer.devices must match the process count and the device be per rank."""
    if world_size() == 1:
        return
    devices = int(trainer_cfg.get("devices", 1))
    if devices not in (1, world_size()):
        raise DlrunError(f"trainer.devices={devices} but torchrun started {world_size()} processes")
    if str(trainer_cfg.get("device", "auto")).startswith("cuda:"):
        raise DlrunError("under DDP each process uses GPU LOCAL_RANK: set trainer.device=auto or cuda, not cuda:N")


def run_on_devices(cfg: Any, run_dir: Path, train: Any) -> Any:
    """trainer.devices: `train(cfg, run_dir)` here, or (devices=N > 1 outside torchrun) the same
    run in N processes through torchrun; under torchrun the world is checked against the config."""
    devices = int(cfg.trainer.get("devices", 1))
    if devices > 1 and not launched_by_torchrun():
        return train_spawned(cfg, run_dir, devices)
    check_world(cfg.trainer)
    return train(cfg, run_dir)


def train_spawned(cfg: Any, run_dir: Path, devices: int) -> Any:
    """trainer.devices=N: the same run in N processes started by torchrun, all in this run dir
    (rank 0 writes it); returns rank 0's Results."""
    from dlrun import run_info, slurm
    from dlrun.results import Results
    from dlrun.rundir import quote_override
    from dlrun.overrides import override_key

    task_overrides = [o for o in run_info.overrides() if override_key(o) != "ckpt_path"]
    if cfg.get("ckpt_path"):
        task_overrides.append(f"ckpt_path={quote_override(str(cfg.ckpt_path))}")
    args = ["train", *task_overrides, f"hydra.run.dir={quote_override(str(run_dir))}",
            "hydra.output_subdir=null", "hydra/job_logging=disabled"]
    env = {SPAWNED_RUN_DIR: str(run_dir), **({"DLRUN_SWEEP_JOB": "1"} if run_info.in_sweep() else {})}
    code = launch(devices, args, env=env)
    try:
        results = Results.read(run_dir)
    except (OSError, ValueError):
        results = Results()
    if code == 0 and results.completed:
        return results
    if results.get("status") == "interrupted" and slurm.in_slurm_job():  # to be requeued like one process
        raise _spawned_interruption(results)
    if results.get("status") in ("failed", "interrupted"):
        raise RecordedFailure(str(results.get("error")), exit_code=code or 1)
    raise DlrunError(f"distributed training failed (torchrun exit code {code}); see the messages above", exit_code=code or 1)


def _spawned_interruption(results: Any) -> TrainingInterrupted:
    """The workers' 'interrupted at epoch E, step S; checkpoint P' as this process's own
    interruption (so a sweep job is requeued or stopped exactly as in one process)."""
    import re

    found = re.match(r"interrupted at epoch (\d+), step (\d+)(?:; checkpoint (.+))?$", str(results.get("error", "")))
    if found is None:
        return TrainingInterrupted(0, 0, None)
    return TrainingInterrupted(int(found[1]), int(found[2]), found[3])


def _ignore_preempt_signal() -> None:
    """In torchrun's process: Slurm's time-limit signal (USR2) would kill the agent at once; the
    workers handle it themselves (they finish the step and write last.pt)."""
    from dlrun.interrupt import preempt_signal

    sig = preempt_signal()
    if sig is not None:
        import signal

        signal.signal(sig, signal.SIG_IGN)


def launch(nproc: int, dlrun_args: list[str], env: dict[str, str] | None = None) -> int:
    """Run `dlrun <dlrun_args>` in `nproc` processes on this machine through torchrun; returns its
    exit code. The dlrun package in use is put first on PYTHONPATH, so the workers run this code."""
    import dlrun

    env = {**os.environ, **(env or {})}
    src = str(Path(dlrun.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "dlrun", *dlrun_args]
    proc = subprocess.Popen(cmd, env=env, preexec_fn=_ignore_preempt_signal)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the workers too: let them record it and stop
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
        raise
