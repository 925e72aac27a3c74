"""trainer.compile (dlrun.devices): the mode names, the one-line fallback, and compiled runs that
checkpoint and resume exactly like eager ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import FAST, read_results, train_in_process, same_final_weights
from dlrun import devices
from dlrun.checkpoint import load_checkpoint


@pytest.mark.parametrize("setting, mode", [(False, None), ("false", None), (True, "default"), ("true", "default"),
                                           ("max-autotune", "max-autotune"), ("reduce-overhead", "reduce-overhead")])
def test_compile_setting_to_mode(setting: bool | str, mode: str | None) -> None:
    assert devices.compile_mode(setting) == mode


def test_unknown_compile_mode_is_a_one_line_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="trainer.compile: unknown value 'fast'"):
        devices.compile_mode("fast")
    assert train_in_process([*FAST, "trainer.compile=fast"], tmp_path / "run") == 2


def test_platform_that_cannot_compile_trains_eagerly_with_one_warning(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)  # no C++ compiler for the CPU backend
    monkeypatch.delenv("CXX", raising=False)
    model = nn.Linear(2, 3)
    forward = model.forward
    assert devices.compile_model(model, "default", torch.device("cpu")) is model
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: trainer.compile=default: the CPU backend needs a C++ compiler (g++ or clang++), none found; training without compiling"]
    assert model.forward == forward and list(model.state_dict()) == ["weight", "bias"]


@pytest.mark.skipif(devices.cannot_compile(torch.device("cpu")) is not None, reason="this machine cannot torch.compile")
def test_compiled_run_checkpoints_clean_keys_and_resumes_exactly(tmp_path: Path) -> None:
    common = [*FAST, "trainer.compile=true", "model.dropout=0.3", "optimizer=sgd", "optimizer.momentum=0.9",
              "trainer.early_stopping.restore_best=false", "dataset.samples_per_component=100"]
    assert train_in_process([*common, "trainer.max_epochs=2"], tmp_path / "straight") == 0
    assert train_in_process([*common, "trainer.max_epochs=1"], tmp_path / "first") == 0
    last = tmp_path / "first" / "checkpoints" / "last.pt"
    assert train_in_process([*common, "trainer.max_epochs=2", f"ckpt_path={last}"], tmp_path / "resumed") == 0
    assert same_final_weights(tmp_path / "straight", tmp_path / "resumed")
    assert read_results(tmp_path / "resumed")["test"] == read_results(tmp_path / "straight")["test"]
    eager = tmp_path / "eager"
    assert train_in_process([o for o in common if o != "trainer.compile=true"], eager) == 0
    keys = list(load_checkpoint(eager / "checkpoints" / "last.pt")["model"])
    assert keys and all(k.startswith("net.") for k in keys)  # the MLP's own names
    for name in ("last.pt", "best.pt"):  # the compiled model's state dict has the eager model's keys (no _orig_mod.)
        assert list(load_checkpoint(tmp_path / "straight" / "checkpoints" / name)["model"]) == keys
