"""Shared fixtures: compose the real configs, shrink them, and run dlrun in-process or as a CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Small, fast settings that every end-to-end test starts from.
FAST = ["trainer.max_epochs=2", "trainer.progress_bar=false", "trainer.device=cpu"]


def compose_config(overrides: list[str]) -> Any:
    """The composed `train` config for `overrides` (real config tree, no run)."""
    from dlrun.preflight import compose

    return compose(overrides)


def run_cli(args: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`dlrun <args>` in a subprocess (python -m dlrun, so the checkout under test is used)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    src = str(Path(__file__).resolve().parents[1] / "src")
    full_env["PYTHONPATH"] = os.pathsep.join([src, full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "dlrun", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)


def train_in_process(overrides: list[str], run_dir: Path) -> int:
    """`dlrun train <overrides>` in this process with its run dir at `run_dir`; returns the exit code."""
    from dlrun.cli import main

    try:
        return main(["train", *overrides, f"hydra.run.dir={run_dir}"])
    except SystemExit as exit_:
        return int(exit_.code or 0)


def read_results(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "results.json").read_text())


def job_dir(sweep_dir: Path, num: int | str) -> Path:
    """A sweep job's run dir as its manifest records it (`<num>_<the overrides that vary>`)."""
    data = json.loads((Path(sweep_dir) / "sweep.json").read_text())
    return Path(sweep_dir) / data["jobs"][str(num)]["dir"]


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own temp dir, so stray outputs/ never land in the checkout."""
    monkeypatch.chdir(tmp_path)


def _log_reliability(fault: str, cases: int, outcome: str) -> None:
    target = os.environ.get("DLRUN_RELIABILITY_LOG")
    if target:
        with open(target, "a") as f:
            f.write(json.dumps({"fault": fault, "cases": cases, "outcome": outcome}) + "\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """A passing test marked @pytest.mark.fault(fault, outcome) counts as one case of that fault."""
    outcome = yield
    marker = item.get_closest_marker("fault")
    if marker is not None and call.when == "call" and outcome.get_result().passed:
        _log_reliability(marker.args[0], 1, marker.args[1])


@pytest.fixture
def reliability_log():
    """Record (fault, cases, what the user sees) for docs/reliability.md; written only when
    $DLRUN_RELIABILITY_LOG names a file (scripts/reliability_report.py sets it)."""

    return _log_reliability


@pytest.fixture
def train_run(tmp_path: Path):
    """Call with overrides; trains in-process into tmp_path/run and returns (exit code, run dir)."""

    def _train(*overrides: str, name: str = "run") -> tuple[int, Path]:
        run_dir = tmp_path / name
        return train_in_process([*FAST, *overrides], run_dir), run_dir

    return _train


class FaultyTask:
    """A classification task that breaks on purpose after some training batches: its loss turns
    NaN (`nan_after_steps`) or it raises KeyboardInterrupt like a Ctrl-C (`interrupt_after_steps`).
    Select it with task._target_=conftest.FaultyTask +task.nan_after_steps=N."""

    def __new__(cls, loss: Any, nan_after_steps: int | None = None, interrupt_after_steps: int | None = None, **options: Any) -> Any:
        import torch

        from dlrun.tasks.classification import ClassificationTask

        class _Task(ClassificationTask):
            calls = 0

            def training_step(self, model, batch):  # type: ignore[no-untyped-def]
                loss, stats = super().training_step(model, batch)
                _Task.calls += 1
                if interrupt_after_steps is not None and _Task.calls > interrupt_after_steps:
                    raise KeyboardInterrupt
                if nan_after_steps is not None and _Task.calls > nan_after_steps:
                    loss = loss * torch.tensor(float("nan"))
                return loss, stats

        return _Task(loss, **options)  # options: the other keys of configs/task/classification.yaml


def interrupted_and_resumed(common: list[str], interrupt: list[str], root: Path) -> tuple[dict[str, Any], Path, Path]:
    """Train `common` straight through, again with `interrupt` added (a task that raises Ctrl-C: exit
    130), then resume the cut run from its last.pt. Returns (the cut run's last.pt state, the straight
    run dir, the resumed run dir) for the caller's exact-resume assertions."""
    from dlrun.checkpoint import load_checkpoint

    assert train_in_process(common, root / "straight") == 0
    assert train_in_process([*common, *interrupt], root / "cut") == 130
    last = root / "cut" / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    assert train_in_process([*common, "resume.allow_changes=[task]", f"ckpt_path={last}"], root / "resumed") == 0  # the cut run's task raised
    return state, root / "straight", root / "resumed"


def same_final_weights(first: Path, second: Path) -> bool:
    """Whether two run dirs' last.pt hold bit-identical model weights."""
    import torch

    from dlrun.checkpoint import load_checkpoint

    a, b = (load_checkpoint(d / "checkpoints" / "last.pt")["model"] for d in (first, second))
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
