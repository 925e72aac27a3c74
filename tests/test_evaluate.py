"""`dlrun eval ckpt=PATH`: tests a checkpoint with the config stored in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import read_results
from dlrun.cli import main


def test_eval_reproduces_the_runs_test_metrics(train_run, tmp_path: Path) -> None:
    code, run = train_run("trainer.max_epochs=3")
    assert code == 0
    out = tmp_path / "eval"
    assert main(["eval", f"ckpt={run / 'checkpoints' / 'best.pt'}", f"out_dir={out}"]) == 0
    assert read_results(out)["test"] == pytest.approx(read_results(run)["test"])
    assert (out / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.reliability
def test_eval_overrides_and_errors(train_run, tmp_path: Path, capsys: pytest.CaptureFixture[str], reliability_log) -> None:
    code, run = train_run()
    ckpt = run / "checkpoints" / "last.pt"
    assert main(["eval", f"ckpt={ckpt}", "split=val", "trainer.device=cpu", f"out_dir={tmp_path / 'v'}"]) == 0
    assert set(read_results(tmp_path / "v")["test"]) == {"val/loss", "val/acc", "val/f1"}
    assert main(["eval"]) == 2
    assert "missing ckpt=PATH" in capsys.readouterr().err
    assert main(["eval", f"ckpt={ckpt}", "trainer.nope=1"]) == 2
    assert "unknown key 'trainer.nope'" in capsys.readouterr().err
    assert main(["eval", f"ckpt={ckpt}", "model.hidden=[3]"]) == 2
    assert "do not fit the model config" in capsys.readouterr().err
    reliability_log("checkpoint from an incompatible model config (dlrun eval)", 1, "one-line error, exit 2")


@pytest.mark.reliability
def test_eval_refuses_bad_splits_and_incomplete_or_non_finite_checkpoints(
        train_run, tmp_path: Path, capsys: pytest.CaptureFixture[str], reliability_log) -> None:
    import torch

    code, run = train_run("trainer.max_epochs=1")
    ckpt = run / "checkpoints" / "last.pt"
    out = tmp_path / "refused"
    assert main(["eval", f"ckpt={ckpt}", "split=nosuch", f"out_dir={out}"]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown split 'nosuch' (valid: train, val, test)"
    reliability_log("dlrun eval with an unknown split", 1, "one-line error, exit 2")
    state = torch.load(ckpt, weights_only=True)
    cases = {
        "noconfig.pt": ({k: v for k, v in state.items() if k != "config"}, "holds no run config (was it written by dlrun train?)"),
        "nomodel.pt": ({k: v for k, v in state.items() if k != "model"}, "holds no model weights"),
    }
    first = next(iter(state["model"]))
    poisoned = {**state, "model": {**state["model"], first: torch.full_like(state["model"][first], float("nan"))}}
    cases["nan.pt"] = (poisoned, f"holds non-finite weights (NaN or inf in {first}); evaluate an earlier checkpoint")
    for name, (payload, message) in cases.items():
        torch.save(payload, tmp_path / name)
        assert main(["eval", f"ckpt={tmp_path / name}", f"out_dir={out}"]) == 2
        assert capsys.readouterr().err.strip() == f"error: {tmp_path / name} {message}"
    assert not out.exists()  # refused before any output is written
    reliability_log("dlrun eval of a checkpoint without config or model, or with NaN weights", 3, "one-line error, exit 2")
