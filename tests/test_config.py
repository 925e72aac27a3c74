"""Every option of every config group composes and builds; `dlrun --help` is instant."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import compose_config
from dlrun.errors import DlrunError
from dlrun.paths import config_groups

OPTIONS = [(g, o) for g, opts in config_groups().items() for o in opts]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_builds(group: str, option: str) -> None:
    from dlrun.build import check_buildable

    cfg = compose_config([f"{group}={option}"])
    if (group, option) == ("model", "identity"):  # no parameters: `dlrun train` refuses it up front
        with pytest.raises(DlrunError, match="has no parameters, so there is nothing to train"):
            check_buildable(cfg)
        return
    if (group, option) == ("loss", "distillation"):  # needs a teacher (built with one in test_distillation.py)
        with pytest.raises(DlrunError, match="loss.teacher_ckpt must name a checkpoint of the teacher"):
            check_buildable(cfg)
        return
    check_buildable(cfg)


def test_help_lists_groups_without_importing_torch() -> None:
    code = (
        "import sys; from dlrun.cli import main; rc = main(['--help']);"
        "assert rc == 0; assert 'torch' not in sys.modules and 'hydra' not in sys.modules, 'heavy import'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for group, options in config_groups().items():
        assert f"{group}:" in proc.stdout
        assert options[0] in proc.stdout
    assert "train" in proc.stdout and "eval" in proc.stdout


def test_models_fill_sizes_from_the_dataset() -> None:
    from dlrun.build import build_data, build_model

    cfg = compose_config(["model=mlp", "model.hidden=[5]", "dataset.num_classes=4"])
    data = build_data(cfg)
    model = build_model(cfg, data)
    assert model.net[1].in_features == 2 and model.net[-1].out_features == 4
