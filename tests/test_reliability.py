"""Faults: kill -9 at random moments (also mid-checkpoint-write), Ctrl-C, unwritable output, a full
disk, and deterministic reruns. Each test records what it tried for docs/reliability.md."""

from __future__ import annotations

import errno
import io
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import FAST, read_results, train_in_process
from dlrun.checkpoint import load_checkpoint

pytestmark = pytest.mark.reliability

# 3 epochs x 17 steps, a checkpoint after every optimizer step: a kill lands between or inside writes.
CRASH = [*FAST, "trainer.max_epochs=6", "model.dropout=0.2", "optimizer=sgd", "optimizer.momentum=0.9",
         "scheduler=exponential", "trainer.early_stopping.restore_best=false", "trainer.checkpoint.every_n_steps=1"]


def _child(overrides: list[str], run_dir: str, slow_write_after: int | None, marker: str,
           kill_at_step: int | None = None, jitter_s: float = 0.0) -> None:
    """Runs in a forked worker: trains; either SIGKILLs itself `jitter_s` after optimizer step
    `kill_at_step` (wherever the loop then is: mid-step, logging or writing a checkpoint), or stalls
    halfway through the n-th checkpoint write so the parent's kill lands inside it."""
    torch.set_num_threads(1)
    if kill_at_step is not None:
        import threading

        from dlrun.trainer import Trainer

        real_step = Trainer._optimizer_step

        def counting_step(self: Trainer, *args: Any, **kwargs: Any) -> Any:
            out = real_step(self, *args, **kwargs)
            if self.global_step == kill_at_step:
                threading.Timer(jitter_s, os.kill, (os.getpid(), signal.SIGKILL)).start()
            return out

        Trainer._optimizer_step = counting_step  # type: ignore[method-assign]
    if slow_write_after is not None:
        import dlrun.checkpoint as ckpt

        real_save, writes = torch.save, [0]

        def stalling_save(obj: Any, f: Any) -> None:
            writes[0] += 1
            if writes[0] <= slow_write_after:
                return real_save(obj, f)
            buffer = io.BytesIO()
            real_save(obj, buffer)
            data = buffer.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            Path(marker).touch()
            time.sleep(60)

        ckpt.torch.save = stalling_save  # type: ignore[assignment]
    train_in_process(overrides, Path(run_dir))


@pytest.fixture(scope="module")
def forkserver() -> Any:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "dlrun.train", "dlrun.trainer", "dlrun.build"])
    return ctx


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def _wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_kill_9_at_random_moments_then_resume_is_exact(tmp_path: Path, forkserver: Any, reliability_log: Any) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert train_in_process(CRASH, tmp_path / "straight") == 0
        expected = _weights(tmp_path / "straight" / "checkpoints" / "last.pt")
        rng = random.Random(1234)
        trials = 10
        mid_write = {0, 4, 8}  # these trials are killed halfway through writing a checkpoint
        for trial in range(trials):
            run = tmp_path / f"crash{trial}"
            marker = tmp_path / f"stalled{trial}"
            slow = rng.randrange(3, 40) if trial in mid_write else None
            kill_at = None if slow is not None else rng.randrange(2, 100)  # of 102 steps; step 1 wrote the first last.pt
            args = (CRASH, str(run), slow, str(marker), kill_at, rng.uniform(0.0, 0.01))
            proc = forkserver.Process(target=_child, args=args)
            proc.start()
            if slow is not None:
                _wait_for(marker)
                os.kill(proc.pid, signal.SIGKILL)
            proc.join(timeout=120)
            assert proc.exitcode == -signal.SIGKILL, f"trial {trial}: the run ended before the kill"
            state = load_checkpoint(run / "checkpoints" / "last.pt")  # always loadable
            if slow is not None:
                partial = list((run / "checkpoints").glob(".*.pt.*.tmp"))
                assert partial, "the kill did not land mid-write"
                assert state["global_step"] > 0  # the previous complete checkpoint survived
            resumed = tmp_path / f"resumed{trial}"
            assert train_in_process([*CRASH, f"ckpt_path={run / 'checkpoints' / 'last.pt'}"], resumed) == 0
            got = _weights(resumed / "checkpoints" / "last.pt")
            assert all(torch.equal(got[k], expected[k]) for k in expected), f"trial {trial} (step {state['global_step']}) diverged"
        reliability_log("kill -9 at a random moment of training", trials - len(mid_write),
                        "last.pt always loads; resuming from it gives bit-identical final weights")
        reliability_log("kill -9 halfway through a checkpoint write", len(mid_write),
                        "the previous last.pt is intact (only a .tmp file is left); resume is bit-identical")
    finally:
        torch.set_num_threads(threads)


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.Popen([sys.executable, "-m", "dlrun", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_ctrl_c_checkpoints_prints_resume_command_and_resume_is_exact(tmp_path: Path, reliability_log: Any) -> None:
    args = ["train", *FAST[1:], "trainer.max_epochs=400", "trainer.early_stopping.restore_best=false",
            "model.dropout=0.2", "hydra.run.dir=run"]
    proc = _start(args, tmp_path)
    _wait_for(tmp_path / "run" / "checkpoints" / "last.pt")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at epoch" in err
    resume_line = [line for line in err.splitlines() if line.startswith("resume with: ")]
    assert resume_line and "ckpt_path=" in resume_line[0] and "trainer.max_epochs=400" in resume_line[0]
    assert "Traceback" not in err
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert read_results(tmp_path / "run")["status"] == "interrupted"
    # finish the run (shortened) from the checkpoint and compare with an uninterrupted run to the same epoch
    epochs = state["epoch"] + 2
    common = [*FAST, f"trainer.max_epochs={epochs}", "trainer.early_stopping.restore_best=false", "model.dropout=0.2"]
    assert train_in_process([*common, f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.pt'}"], tmp_path / "resumed") == 0
    assert train_in_process(common, tmp_path / "straight") == 0
    got, want = _weights(tmp_path / "resumed" / "checkpoints" / "last.pt"), _weights(tmp_path / "straight" / "checkpoints" / "last.pt")
    assert all(torch.allclose(got[k], want[k], atol=1e-6) for k in want)
    reliability_log("Ctrl-C once during training", 1,
                    "finishes the step, writes last.pt, prints the resume command, exit 130; resume matches an uninterrupted run")


@pytest.mark.slow
def test_second_ctrl_c_quits_at_once_without_corrupting(tmp_path: Path, reliability_log: Any) -> None:
    args = ["train", *FAST[1:], "trainer.max_epochs=400", "trainer.checkpoint.every_n_steps=1", "hydra.run.dir=run"]
    proc = _start(args, tmp_path)
    _wait_for(tmp_path / "run" / "checkpoints" / "last.pt")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    reliability_log("Ctrl-C twice", 1, "exits at once with 130; last.pt still loads")


def test_unwritable_output_dir_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str], reliability_log: Any) -> None:
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the output dir should be")
    from dlrun.cli import main

    code = main(["train", *FAST, f"hydra.run.dir={blocker}/run"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: cannot write to the output dir") and str(blocker) in err
    assert err.count("\n") == 0
    reliability_log("output dir unwritable (a file in its place)", 1, "one-line error before training starts, exit 2")


def test_disk_full_at_checkpoint_write_keeps_previous(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch, reliability_log: Any) -> None:
    import dlrun.checkpoint as ckpt

    real_save, writes = torch.save, [0]

    def full_disk_save(obj: Any, f: Any) -> None:
        writes[0] += 1
        if writes[0] > 2:  # epoch 1 wrote best.pt and last.pt; the disk is full from then on
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f)

    monkeypatch.setattr(ckpt.torch, "save", full_disk_save)
    run = tmp_path / "run"
    code = train_in_process([*FAST, "trainer.max_epochs=3"], run)
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err and "checkpoints/" in err
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
    assert not list((run / "checkpoints").glob("*.tmp"))
    assert read_results(run)["status"] == "failed"
    reliability_log("disk full while writing a checkpoint", 1,
                    "one-line error naming the file; the previous checkpoint is intact, no temp file left")


def test_deterministic_runs_are_identical(tmp_path: Path, reliability_log: Any) -> None:
    args = [*FAST, "trainer.deterministic=true", "seed=7", "model.dropout=0.3", "trainer.max_epochs=3"]
    assert train_in_process(args, tmp_path / "a") == 0
    assert train_in_process(args, tmp_path / "b") == 0
    a, b = read_results(tmp_path / "a"), read_results(tmp_path / "b")
    assert a["test"] == b["test"] and a["best"] == b["best"]
    assert a["deterministic"] is True and a["seed"] == 7
    wa, wb = _weights(tmp_path / "a" / "checkpoints" / "last.pt"), _weights(tmp_path / "b" / "checkpoints" / "last.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert train_in_process([*args[:-2], "seed=8", "trainer.max_epochs=3"], tmp_path / "c") == 0
    assert read_results(tmp_path / "c")["test"] != a["test"]  # the seed matters
    reliability_log("two runs with trainer.deterministic=true and the same seed", 2, "identical metrics and weights")
