"""A checkpoint's stored config may name only code the config tree defines (or dlrun's own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlrun.errors import DlrunError
from dlrun.paths import config_dir
from dlrun.trusted_targets import check_stored_targets, defined_targets, stored_targets


def test_defined_targets_read_from_yaml_text(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "tiny.yaml").write_text("_target_: mymodels.Tiny\nhidden: 3\nsub:\n  _target_: 'torch.nn.ReLU'\n")
    assert defined_targets([tmp_path]) == {"mymodels.Tiny", "torch.nn.ReLU"}
    assert "torch.optim.Adam" in defined_targets([config_dir()])


def test_stored_targets_walks_dicts_and_lists() -> None:
    config = {"model": {"_target_": "a.B", "layers": [{"_target_": "c.D"}]}, "seed": 1}
    assert list(stored_targets(config)) == [("model", "a.B"), ("model.layers[0]", "c.D")]


def test_user_target_refused_unless_trusted(tmp_path: Path) -> None:
    config = {"model": {"_target_": "mymodels.Tiny"}, "optimizer": {"_target_": "torch.optim.Adam"}}
    with pytest.raises(DlrunError, match=r"ckpt\.pt names code that no config of this dlrun defines: model\._target_=mymodels\.Tiny; .*trust_checkpoint=true"):
        check_stored_targets(config, "ckpt.pt", [config_dir()])
    check_stored_targets(config, "ckpt.pt", [config_dir()], trust=True)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "tiny.yaml").write_text("_target_: mymodels.Tiny\n")
    check_stored_targets(config, "ckpt.pt", [config_dir(), tmp_path])  # the user's config dir defines it


@pytest.mark.fault("a checkpoint whose config names arbitrary code (builtins.open)", "refused with one line; nothing runs")
def test_eval_refuses_a_checkpoint_that_names_builtins_open(train_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.checkpoint import load_checkpoint, save_checkpoint
    from dlrun.cli import main

    code, run = train_run("trainer.max_epochs=1")
    assert code == 0
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    config = {**state["config"], "dataset": {"_target_": "builtins.open", "file": str(victim), "mode": "w"}}
    save_checkpoint({k: v for k, v in {**state, "config": config}.items() if k not in ("format", "version", "sha256")}, tmp_path / "evil.pt")
    out = tmp_path / "eval_out"
    assert main(["eval", f"ckpt={tmp_path / 'evil.pt'}", f"out_dir={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "dataset._target_=builtins.open" in err and len(err.splitlines()) == 1
    assert victim.read_text() == "keep me"
    assert not out.exists()
