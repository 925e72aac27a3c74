"""GPU round-robin for parallel sweep jobs: which GPU a new job process takes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dlrun import gpu_slots
from dlrun.errors import DlrunError

GPUS = ["0", "1", "2"]


@pytest.mark.parametrize(("leases", "job", "expected"), [
    ({}, 0, "0"),                                     # all free: the job number's turn
    ({}, 4, "1"),
    ({"h:1": "0"}, 0, "1"),                           # 0 taken: the next free one
    ({"h:1": "0", "h:2": "1"}, 0, "2"),
    ({"h:1": "0", "h:2": "1", "h:3": "2"}, 5, "2"),   # all busy once: round-robin again
    ({"h:1": "1", "h:2": "1", "h:3": "0"}, 1, "2"),   # the least used wins over the turn
    ({"h:1": "7"}, 0, "0"),                           # a lease on a GPU not in the list is ignored
])
def test_choose_least_used_gpu_in_job_order(leases: dict[str, str], job: int, expected: str) -> None:
    assert gpu_slots.choose(GPUS, leases, job) == expected


def test_resolve_gpus_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gpu_slots.resolve_gpus(None) is None and gpu_slots.resolve_gpus("none") is None
    assert gpu_slots.resolve_gpus([0, 1]) == ["0", "1"] and gpu_slots.resolve_gpus(3) == ["3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert gpu_slots.resolve_gpus("auto") == ["3", "5"]   # only what this process may use
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4")
    assert gpu_slots.resolve_gpus("auto") is None          # one GPU: nothing to spread
    with pytest.raises(DlrunError, match="sweep.gpus"):
        gpu_slots.resolve_gpus(["a", None])


def _sweep(tmp_path: Path, pid: int) -> Path:
    import socket

    from dlrun import sweep

    sweep.update_manifest(tmp_path, lambda d: d.update(gpus=["0", "1"], pid=pid, host=socket.gethostname(), gpu_leases={}),
                          create=True)
    return tmp_path


def test_job_process_takes_a_gpu_and_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlrun.sweep import read_manifest

    monkeypatch.setattr(gpu_slots, "_held", None)
    monkeypatch.setattr(gpu_slots, "_cuda_started", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    sweep_dir = _sweep(tmp_path, pid=os.getpid() + 100_000)  # launched by another process
    assert gpu_slots.place_job(sweep_dir, job_num=1) == "1"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert gpu_slots.place_job(sweep_dir, job_num=2) == "1"  # the same process keeps its GPU
    leases = read_manifest(sweep_dir)["gpu_leases"]
    assert list(leases.values()) == ["1"] and list(leases)[0].endswith(f":{os.getpid()}")


def test_jobs_inside_the_launching_process_are_not_placed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_slots, "_held", None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_slots.place_job(_sweep(tmp_path, pid=os.getpid()), job_num=1) is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
