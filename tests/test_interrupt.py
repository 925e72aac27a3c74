"""SIGTERM (kill, timeout, docker stop, Slurm) stops a run like Ctrl-C: the current step finishes,
last.pt is written, results.json says `interrupted`, the resume command is printed, exit 143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import job_dir, read_results

from dlrun.interrupt import DeferredStop, StopRequest, exit_code, received

ROOT = Path(__file__).resolve().parents[1]
# long enough (tens of seconds) that the signal lands in the middle of training
LONG = ["trainer.max_epochs=200", "dataset.samples_per_component=3000", "trainer.progress_bar=false", "trainer.device=cpu"]


def test_sigterm_asks_for_a_stop_and_a_repeated_one_changes_nothing() -> None:
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signum == signal.SIGTERM
        os.kill(os.getpid(), signal.SIGTERM)  # Slurm may signal twice: the step must still finish
        assert stop.requested
    assert received() == signal.SIGTERM and exit_code(received()) == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the previous handler is back


def test_a_second_ctrl_c_quits_at_once() -> None:
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested and exit_code(received()) == 130
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def test_a_signal_before_training_is_kept_for_the_first_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "7")  # in a Slurm job submitit's USR2 also asks for a stop
    with DeferredStop():
        os.kill(os.getpid(), signal.SIGUSR2)  # during set-up: nothing happens yet
        with StopRequest() as stop:
            assert stop.requested and stop.signum == signal.SIGUSR2
    with DeferredStop(), StopRequest() as stop:
        assert not stop.requested


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return subprocess.Popen([sys.executable, "-m", "dlrun", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(path: Path | Callable[[], Path], proc: subprocess.Popen[str], timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not (path() if callable(path) else path).exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() < deadline, f"no {path} after {timeout}s"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.fault("SIGTERM during a single run (kill, timeout, docker stop)",
                   "finishes the step, writes last.pt, results.json interrupted, prints the resume command, exit 143")
def test_sigterm_of_a_single_run_records_interrupted_and_prints_the_resume_command(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _start(["train", *LONG, f"hydra.run.dir={run_dir}"], tmp_path)
    _wait_for(run_dir / "checkpoints" / "last.pt", proc)  # the first epoch is done
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    results = read_results(run_dir)
    assert results["status"] == "interrupted" and "interrupted at epoch" in results["error"]
    assert "SIGTERM: stopping after this step" in stderr
    assert "resume with: dlrun train" in stderr and f"ckpt_path={run_dir}/checkpoints/last.pt" in stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.fault("SIGTERM during a sweep", "the job is marked interrupted in the manifest, the finish command is printed, exit 143")
def test_sigterm_of_a_sweep_marks_the_job_interrupted_and_prints_the_finish_command(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = _start(["train", "-m", *LONG, "seed=1,2", f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    def last_of_job_0() -> Path:  # the job's dir is known once the manifest records it
        try:
            return job_dir(sweep_dir, 0) / "checkpoints" / "last.pt"
        except (OSError, ValueError, KeyError):
            return sweep_dir / "not-started"

    _wait_for(last_of_job_0, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    jobs = json.loads((sweep_dir / "sweep.json").read_text())["jobs"]
    assert (jobs["0"]["status"], jobs["1"]["status"]) == ("interrupted", "pending")
    assert read_results(job_dir(sweep_dir, 0))["status"] == "interrupted"
    assert "finish it with: dlrun train -m" in stdout and f"sweep.resume={sweep_dir}" in stdout
