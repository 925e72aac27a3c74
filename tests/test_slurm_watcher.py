"""The squeue watcher that replaces submitit's sacct watcher on clusters without accounting: it must
read squeue's states as sacct's, and report a job squeue no longer lists as finished (else the sweep
would wait for it forever)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("submitit")

from dlrun.slurm_watcher import UNLISTED, SqueueWatcher  # noqa: E402

SQUEUE_OUTPUT = "7_0|COMPLETED|vm\n7_1|RUNNING|vm\n7_[2-3%16]|PENDING|\n9|TIMEOUT|vm\n"


def _watcher(*jobs: str) -> SqueueWatcher:
    watcher = SqueueWatcher(delay_s=60)
    for job in jobs:
        watcher.register_job(job)
    return watcher


def test_squeue_states_are_read_like_saccts_and_unlisted_jobs_have_ended() -> None:
    watcher = _watcher("7_0", "7_1", "7_2", "7_3", "8", "9")
    states = watcher.read_info(SQUEUE_OUTPUT)
    assert {job: states[job]["State"] for job in ("7_0", "7_1", "7_2", "7_3", "8", "9")} == {
        "7_0": "COMPLETED", "7_1": "RUNNING", "7_2": "PENDING", "7_3": "PENDING", "8": UNLISTED, "9": "TIMEOUT"}


def _fake_squeue(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `squeue` first on PATH that prints SQUEUE_OUTPUT and appends its arguments to a log."""
    log = folder / "calls"
    squeue = folder / "squeue"
    squeue.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\ncat <<'END'\n{SQUEUE_OUTPUT}END\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    return log


def test_finished_unlisted_and_timed_out_jobs_are_done_running_and_pending_ones_are_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _fake_squeue(tmp_path, monkeypatch)
    watcher = _watcher("7_0", "7_1", "7_2", "8", "9")
    done = {job: watcher.is_done(job, mode="force") for job in ("7_0", "7_1", "7_2", "8", "9")}
    assert done == {"7_0": True, "7_1": False, "7_2": False, "8": True, "9": True}
    assert "-t all" in log.read_text().splitlines()[0]  # ended jobs are listed too


def test_squeue_is_no_longer_asked_once_every_job_has_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _fake_squeue(tmp_path, monkeypatch)
    watcher = _watcher("7_0", "8")
    assert watcher.is_done("7_0", mode="force") and watcher.is_done("8", mode="force")
    calls = len(log.read_text().splitlines())
    assert watcher.is_done("8", mode="force")
    assert len(log.read_text().splitlines()) == calls
