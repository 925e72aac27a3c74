"""Bad input gives one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import FAST, run_cli, train_in_process
from dlrun.cli import main


def error_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["model=nonexistent"], "unknown option 'nonexistent' for model (valid: "),  # the list grows with every model
        (["optimizer=adamx"], "unknown option 'adamx' for optimizer (valid: adagrad, adam, adamw, rmsprop, sgd)"),
        (["trainer.max_epoch=3"], "unknown key 'trainer.max_epoch'"),
        (["optimizer.lr=-0.1"], "optimizer: Invalid learning rate: -0.1"),
        (["optimizer.lr=0"], "optimizer: lr must be > 0"),
        (["trainer.early_stopping.patience=-1"], "trainer: patience must be >= 0 or null, got -1"),
        (["model.activation=swish"], "model: unknown activation 'swish' (valid: relu, leaky_relu, elu, tanh, sigmoid, softplus, gelu)"),
        (["trainer.max_epochs=0"], "trainer: max_epochs must be an integer >= 1, got 0"),
        (["optimizer.lr=1e-3,1e-2"], "sweeps need -m"),
    ],
)
def test_bad_config_is_one_line_error(capsys: pytest.CaptureFixture[str], args: list[str], expected: str) -> None:
    code, line = error_line(capsys, ["train", *args])
    assert code != 0
    assert line.startswith("error: ")
    assert expected in line


def test_unknown_key_lists_valid_keys(capsys: pytest.CaptureFixture[str]) -> None:
    _, line = error_line(capsys, ["train", "model.hiden=[8]"])
    assert "valid keys here:" in line and "hidden" in line and "activation" in line


def test_bad_sweep_value_names_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    code, line = error_line(capsys, ["train", "-m", "optimizer.lr=0.1,-1"])
    assert code != 0 and "job optimizer.lr=-1" in line and "Invalid learning rate" in line


def test_missing_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = train_in_process([*FAST, f"ckpt_path={tmp_path / 'nope.pt'}"], tmp_path / "run")
    assert code != 0
    assert f"checkpoint not found: {tmp_path / 'nope.pt'}" in capsys.readouterr().err


@pytest.mark.reliability
def test_file_that_is_not_a_dlrun_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path, reliability_log) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    assert train_in_process([*FAST, f"ckpt_path={foreign}"], tmp_path / "a") != 0
    assert "is not a dlrun checkpoint" in capsys.readouterr().err
    assert train_in_process([*FAST, f"ckpt_path={garbage}"], tmp_path / "b") != 0
    assert "cannot read checkpoint" in capsys.readouterr().err
    truncated = tmp_path / "truncated.pt"
    torch.save({"format": "dlrun-checkpoint", "version": 1, "model": {"w": torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:-300])
    assert train_in_process([*FAST, f"ckpt_path={truncated}"], tmp_path / "c") != 0
    assert "cannot read checkpoint" in capsys.readouterr().err
    reliability_log("checkpoint that is not dlrun's (foreign torch file, garbage bytes, truncated)", 3,
                    "one-line error naming the file, exit 2")


@pytest.mark.reliability
def test_checkpoint_carrying_code_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, reliability_log) -> None:
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"
    torch.save({"format": "dlrun-checkpoint", "payload": _Evil(str(marker))}, evil)
    assert train_in_process([*FAST, f"ckpt_path={evil}"], tmp_path / "run") != 0
    assert "refusing to load" in capsys.readouterr().err
    assert not marker.exists()
    reliability_log("checkpoint carrying a pickled code payload (os.system)", 1,
                    "refused by torch.load(weights_only=True): one-line error, the code never runs")


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, (f"touch {self.path}",))


@pytest.mark.reliability
def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path, reliability_log) -> None:
    from dlrun.checkpoint import load_checkpoint

    run = tmp_path / "run"
    # gmm2d default: 1080 training samples / batch 64 = 17 steps per epoch; NaN from step 26 on.
    code = train_in_process([*FAST, "trainer.max_epochs=3", "task._target_=conftest.FaultyTask", "+task.nan_after_steps=25"], run)
    assert code == 3
    assert "loss became NaN or infinite at epoch 2, step 26" in capsys.readouterr().err
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["model"].values())
    reliability_log("NaN/inf loss during training", 1,
                    "stops naming the epoch and step, exit 3; the last good checkpoint stays intact")


@pytest.mark.slow
def test_cli_error_has_no_traceback(tmp_path: Path) -> None:
    proc = run_cli(["train", "model=nonexistent"], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.reliability
@pytest.mark.parametrize(("override", "expected"), [
    pytest.param("~model", "error: the config group 'model' is required: choose one with model=<option> (valid: ",
                 marks=pytest.mark.fault("a required config group removed (~model, ~dataset)", "one-line error listing the options")),
    pytest.param("~dataset", "error: the config group 'dataset' is required: choose one with dataset=<option> (valid: ",
                 marks=pytest.mark.fault("a required config group removed (~model, ~dataset)", "one-line error listing the options")),
    pytest.param("name=${nope}", "error: cannot resolve name: Interpolation key 'nope' not found",
                 marks=pytest.mark.fault("an unresolvable interpolation", "one-line error naming the key")),
    pytest.param("name=${oc.env:DLRUN_TEST_UNSET_VARIABLE}", "error: cannot resolve name: KeyError raised while resolving "
                 "interpolation: \"Environment variable 'DLRUN_TEST_UNSET_VARIABLE' not found\"",
                 marks=pytest.mark.fault("an unresolvable interpolation", "one-line error naming the key")),
    pytest.param("seed=${seed}", "error: cannot resolve seed: Recursive interpolation detected",
                 marks=pytest.mark.fault("an unresolvable interpolation", "one-line error naming the key")),
])
def test_missing_groups_and_unresolvable_values_are_one_line_errors(tmp_path: Path, override: str, expected: str) -> None:
    proc = run_cli(["train", *FAST, override], cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith(expected)
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("results.json"))


@pytest.mark.reliability
@pytest.mark.fault("sweep.resume without -m", "one-line error naming -m, nothing run")
def test_sweep_resume_without_multirun_is_a_one_line_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, line = error_line(capsys, ["train", *FAST, f"sweep.resume={tmp_path}"])
    assert code == 2
    assert line == ("error: sweep.resume finishes a multirun: repeat the sweep's command with -m "
                    "(dlrun train -m ... sweep.resume=DIR)")
    assert not (tmp_path / "outputs").exists()
