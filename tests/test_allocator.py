"""dlrun.allocator: with the settings, a batch's freed buffers are reused instead of faulted in again."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BATCHES = r"""
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from dlrun.allocator import keep_freed_memory
    assert keep_freed_memory()
def batch():  # three 6 MiB buffers written and freed, as a training step's activations are
    blocks = [np.ones(6 << 20, np.uint8) for _ in range(3)]
    del blocks
batch(); batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    batch()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def faults_per_batch(mode: str) -> float:
    proc = subprocess.run([sys.executable, "-c", BATCHES, mode], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return float(proc.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_batch_buffers_are_reused_instead_of_faulted_in_again() -> None:
    pages = 3 * (6 << 20) // 4096  # what a batch would fault in if nothing were kept
    assert faults_per_batch("default") > pages / 10  # glibc's adaptive thresholds give much of it back
    assert faults_per_batch("keep") < pages / 100


def test_only_the_console_scripts_process_gets_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings are process-wide: `dlrun train` applies them in the console script's process, and a
    library call (a test, a notebook) leaves its process's allocator alone."""
    import torch  # noqa: F401  (held first, as in any test session: launch.main forks no figure helpers)

    from dlrun import allocator, command_line, launch

    calls: list[bool] = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(True) or True)
    monkeypatch.setattr(command_line, "freeze_start_up", lambda: None)  # no gc.freeze in the test session
    for whole_process, expected in ((False, []), (True, [True])):
        monkeypatch.setattr(command_line, "whole_process", whole_process)
        args = ["trainer.fast_dev_run=true", "trainer.progress_bar=false", f"hydra.run.dir={tmp_path / str(whole_process)}"]
        assert launch.main(args) == 0
        assert calls == expected
