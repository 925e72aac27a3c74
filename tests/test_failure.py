"""The failure policy (dlrun.failure): one line for bad input and Ctrl-C, a traceback in error.log
for a bug — in a single run, a sweep job, pre-flight and `dlrun eval` alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dlrun.cli import main
from dlrun.errors import DlrunError, TrainingInterrupted
from dlrun.failure import Failure, guarded


class BuggyModel:
    """A model whose constructor has a bug (not a config mistake)."""

    def __init__(self, **kwargs: Any) -> None:
        raise RuntimeError("deliberate bug in __init__")


def _raise(err: BaseException) -> Any:
    raise err


def test_bad_input_is_one_line_and_the_exit_code_of_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded: list[Failure] = []
    with pytest.raises(SystemExit) as exit_:
        guarded(lambda: _raise(DlrunError("model: bad value", exit_code=2)), tmp_path, recorded.append)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: model: bad value\n"
    assert [(f.status, f.message, f.log) for f in recorded] == [("failed", "model: bad value", None)]
    assert not (tmp_path / "error.log").exists()


def test_a_bug_keeps_its_traceback_in_error_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded: list[Failure] = []
    with pytest.raises(SystemExit) as exit_:
        guarded(lambda: _raise(KeyError("oops")), tmp_path, recorded.append)
    assert exit_.value.code == 1
    log = tmp_path / "error.log"
    assert capsys.readouterr().err == f"error: internal error KeyError: 'oops' (traceback in {log})\n"
    assert "Traceback" in log.read_text() and "KeyError: 'oops'" in log.read_text()
    assert recorded[0].status == "failed" and recorded[0].message == "KeyError: 'oops'"


def test_a_sweep_job_goes_on_after_a_failure_and_stops_on_ctrl_c(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recorded: list[Failure] = []
    assert guarded(lambda: _raise(ValueError("bad")), tmp_path, recorded.append, job=3) is None
    assert capsys.readouterr().err == f"error: job 3 failed: ValueError: bad (traceback in {tmp_path / 'error.log'}); the sweep goes on\n"
    assert guarded(lambda: _raise(DlrunError("no data")), tmp_path, recorded.append, job=4, on_error="stop") is None
    assert capsys.readouterr().err == "error: job 4 failed: no data; sweep.on_error=stop\n"
    with pytest.raises(KeyboardInterrupt):
        guarded(lambda: _raise(TrainingInterrupted(2, 17, "ck.pt")), tmp_path, recorded.append, job=5)
    assert [f.status for f in recorded] == ["failed", "failed", "interrupted"]
    assert guarded(lambda: 7, tmp_path, recorded.append, job=6) == 7 and len(recorded) == 3


def test_ctrl_c_in_a_single_run_prints_the_resume_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        guarded(lambda: _raise(TrainingInterrupted(2, 17, "ck.pt")), tmp_path, lambda f: None,
                resume_hint=lambda ckpt: f"dlrun train ckpt_path={ckpt}")
    assert exit_.value.code == 130
    err = capsys.readouterr().err.splitlines()
    assert err == ["error: interrupted at epoch 2, step 17; checkpoint ck.pt", "resume with: dlrun train ckpt_path=ck.pt"]


def test_a_bug_in_a_constructor_is_not_bad_config_in_preflight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "model._target_=test_failure.BuggyModel", f"hydra.run.dir={tmp_path / 'out' / 'run'}"])
    err = capsys.readouterr().err.strip().splitlines()
    log = tmp_path / "out" / "run" / "error.log"
    assert code == 1 and len(err) == 1
    assert err[0] == ("error: internal error while building model: RuntimeError: deliberate bug in __init__ "
                      f"(traceback in {log})")
    assert "deliberate bug in __init__" in log.read_text() and "Traceback" in log.read_text()


def test_a_bug_in_a_constructor_is_not_bad_config_in_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval"
    code = main(["eval", "model=identity", "model._target_=test_failure.BuggyModel", f"out_dir={out}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [f"error: internal error RuntimeError: deliberate bug in __init__ (traceback in {out / 'error.log'})"]
    assert "Traceback" in (out / "error.log").read_text()
    assert '"status": "failed"' in (out / "results.json").read_text()


def test_which_constructor_exceptions_are_bad_config() -> None:
    from dlrun.build import rejected

    assert str(rejected("optimizer", ValueError("Invalid learning rate: -1"), "torch.optim.SGD")) == "optimizer: Invalid learning rate: -1"
    assert str(rejected("optimizer", TypeError("'<=' not supported"), "torch.optim.Adam")) == "optimizer: '<=' not supported"
    assert isinstance(rejected("model", ValueError("hidden must be >= 1"), "dlrun.models.mlp.MLP"), DlrunError)
    bug = TypeError("unsupported operand")
    assert rejected("model", bug, "dlrun.models.mlp.MLP") is bug and bug.dlrun_group == "model"  # type: ignore[attr-defined]
    crash = RuntimeError("shape mismatch")
    assert rejected("optimizer", crash, "torch.optim.SGD") is crash
