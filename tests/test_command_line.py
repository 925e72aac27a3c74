"""Your own configs and code: --config-dir / -cd / hydra.searchpath add folders on top of dlrun's
tree, a _target_ may name a module in the current folder, and Hydra's info flags run nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import run_cli

from dlrun.command_line import split_flags, take_config_dirs
from dlrun.errors import DlrunError
from dlrun.paths import USER_DIRS_ENV, config_groups, searchpath_overrides

TINY = '''import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project folder: conf/model/tiny.yaml naming mymodels.Tiny in ./mymodels.py."""
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "tiny.yaml").write_text("_target_: mymodels.Tiny\nin_features: null\nnum_classes: null\nhidden: 8\n")
    (tmp_path / "mymodels.py").write_text(TINY)
    return tmp_path


def test_split_flags_both_spellings() -> None:
    assert split_flags(["--cfg", "job", "a=1", "-m", "b=2"]) == (["--cfg", "job", "-m"], ["a=1", "b=2"])
    assert split_flags(["--cfg=hydra", "a=1"]) == (["--cfg=hydra"], ["a=1"])
    assert split_flags(["--info", "searchpath", "a=1"]) == (["--info", "searchpath"], ["a=1"])
    assert split_flags(["--info", "a=1"]) == (["--info"], ["a=1"])


def test_config_dirs_in_every_spelling(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = project / "conf"
    for args in (["--config-dir", "conf"], ["--config-dir=conf"], ["-cd", "conf"], ["-cd=conf"], ["hydra.searchpath=[file://conf]"]):
        monkeypatch.setenv(USER_DIRS_ENV, "")  # restored after the test
        assert take_config_dirs([*args, "model=tiny"]) == ["model=tiny"]
        assert os.environ[USER_DIRS_ENV] == str(conf)
        assert "tiny" in config_groups()["model"] and "mlp" in config_groups()["model"]
        assert searchpath_overrides() == [f"hydra.searchpath=['file://{conf}']"]
    monkeypatch.setenv(USER_DIRS_ENV, "")  # restored after the test
    with pytest.raises(DlrunError, match="config dir not found"):
        take_config_dirs(["--config-dir", "nowhere"])
    with pytest.raises(DlrunError, match="--config-name: dlrun's primary config is its train.yaml"):
        take_config_dirs(["--config-name", "mine"])


@pytest.mark.slow
def test_own_model_from_own_config_dir(project: Path) -> None:
    done = run_cli(["train", "--config-dir", "./conf", "model=tiny", "trainer.max_epochs=1", "trainer.progress_bar=false"], cwd=project)
    assert done.returncode == 0, done.stderr
    results = json.loads(next((project / "outputs").rglob("results.json")).read_text())
    assert results["config"]["model"]["_target_"] == "mymodels.Tiny" and results["status"] == "completed"
    assert results["num_params"] == (2 * 8 + 8) + (8 * 3 + 3)  # sizes filled from the dataset: 2 inputs, 3 classes


def test_user_options_in_errors_and_help(project: Path) -> None:
    wrong = run_cli(["train", "-cd", "conf", "model=tyni"], cwd=project)
    assert wrong.returncode == 2 and "tiny" in wrong.stderr.strip().splitlines()[-1]
    shown = run_cli(["train", "--config-dir=conf", "--help"], cwd=project)
    assert "tiny" in shown.stdout and f"with your config dirs: {project / 'conf'}" in shown.stdout


def test_info_flags_print_and_make_no_run_dir(project: Path) -> None:
    job = run_cli(["train", "--cfg", "job", "-cd", "conf", "model=tiny"], cwd=project)
    assert job.returncode == 0 and "_target_: mymodels.Tiny" in job.stdout
    assert "_target_: mymodels.Tiny" in run_cli(["train", "--cfg=job", "hydra.searchpath=[file://conf]", "model=tiny"], cwd=project).stdout
    info = run_cli(["train", "--info", "searchpath", "--config-dir", "conf"], cwd=project)
    assert info.returncode == 0 and f"file://{project / 'conf'}" in info.stdout
    assert not (project / "outputs").exists()


def test_bash_completion_as_hydra_documents(project: Path) -> None:
    install = run_cli(["train", "-sc", "install=bash"], cwd=project)
    assert install.returncode == 0 and install.stdout.strip().endswith("-F hydra_bash_completion dlrun")
    query = run_cli(["-sc", "query=bash"], cwd=project, env={"COMP_LINE": "dlrun train optimizer=ad"})
    assert set(query.stdout.split()) == {"optimizer=adam", "optimizer=adamw", "optimizer=adagrad"}


def test_presets_that_differ_in_values_differ_in_hparams(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import train_in_process

    from dlrun.cli import main

    monkeypatch.setenv(USER_DIRS_ENV, "")
    (project / "conf" / "experiment").mkdir()
    for name, lr in (("fast", 0.1), ("slow", 0.001)):
        (project / "conf" / "experiment" / f"{name}.yaml").write_text(f"# @package _global_\noptimizer:\n  lr: {lr}\n")
        assert train_in_process(["--config-dir", "conf", f"experiment={name}", "trainer.fast_dev_run=true", "trainer.progress_bar=false",
                                 "trainer.device=cpu"], project / "runs" / name) == 0
    fast, slow = (json.loads((project / "runs" / n / "results.json").read_text())["hparams"] for n in ("fast", "slow"))
    assert (fast["optimizer.lr"], slow["optimizer.lr"]) == (0.1, 0.001)
    assert fast["optimizer.betas"] == "[0.9, 0.999]" and fast["dataset.batch_size"] == slow["dataset.batch_size"]
    assert "model.in_features" not in fast  # null: filled from the dataset, not a defining value
    assert main(["compare", str(project / "runs")]) == 0
    assert "optimizer.lr" in capsys.readouterr().out


END_PROCESS_SCRIPT = """
import atexit, sys, time
from pathlib import Path
from dlrun import command_line

out, process, thread = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
class Witness:
    def __del__(self):  # runs in the interpreter's teardown, which end_process leaves out
        out.joinpath("finalized").write_text("yes")
witness = Witness()
atexit.register(lambda: out.joinpath("atexit").write_text("ran"))
def late() -> None:
    time.sleep(0.3)
    out.joinpath("thread").write_text("joined")
if thread == "thread":
    from concurrent.futures import ThreadPoolExecutor
    ThreadPoolExecutor(1).submit(late)  # never shut down: its worker, not a daemon, waits for Python's exit to stop it
sys.stdout.write("no newline, not flushed")
command_line.whole_process = process == "whole"
sys.exit(command_line.end_process(3))
"""


@pytest.mark.parametrize(("process", "thread", "teardown"), [("whole", "", False), ("whole", "thread", True), ("library", "", True)])
def test_end_process_exits_as_python_would_without_the_teardown(tmp_path: Path, process: str, thread: str, teardown: bool) -> None:
    """The console script's process: atexit handlers run, buffered stdout is written, the exit code is
    the command's, and no object is finalized one by one. With a live non-daemon thread, or in a
    library call, the process exits the usual way (the thread joined, the objects finalized)."""
    import subprocess
    import sys

    script = tmp_path / "end.py"
    script.write_text(END_PROCESS_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script), str(tmp_path), process, thread], capture_output=True, text=True,
                          env=env, timeout=60)
    assert (done.returncode, done.stdout) == (3, "no newline, not flushed")
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "finalized").exists() == teardown
    assert (tmp_path / "thread").exists() == bool(thread)
