"""A single run goes through Hydra's `run_job` with the config pre-flight composed (composed_run.run_composed):
what it records and calls must be what `hydra.main` records and calls."""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import FAST, compose_config, train_in_process

RECORDER = '''
from hydra.experimental.callback import Callback
from pathlib import Path

class Recorder(Callback):
    def __init__(self, out):
        self.out = Path(out)
    def _note(self, hook, config):
        with open(self.out, "a") as f:
            f.write(f"{hook} {config.hydra.mode} {config.hydra.runtime.get('output_dir')}\\n")
    def on_run_start(self, config, **kwargs):
        self._note("on_run_start", config)
    def on_job_start(self, config, **kwargs):
        self._note("on_job_start", config)
    def on_job_end(self, config, job_return, **kwargs):
        self._note(f"on_job_end:{job_return.status.name}", config)
    def on_run_end(self, config, job_return, **kwargs):
        self._note(f"on_run_end:{job_return.status.name}", config)
'''


def test_single_run_writes_the_hydra_files_hydra_main_writes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train_in_process([*FAST, "optimizer.lr=0.02"], run) == 0
    hydra = yaml.safe_load((run / ".hydra" / "hydra.yaml").read_text())["hydra"]
    assert hydra["mode"] == "RUN" and hydra["job"]["name"] == "launch"  # what hydra.main gives dlrun.launch's jobs
    # the test's own hydra.run.dir, the one dlrun pins after claiming it, the mode hydra.main adds
    assert hydra["overrides"]["hydra"] == [f"hydra.run.dir={run}", f"hydra.run.dir={run}", "hydra.mode=RUN"]
    assert hydra["overrides"]["task"] == [*FAST, "optimizer.lr=0.02"]
    assert hydra["job"]["override_dirname"] == "optimizer.lr=0.02,trainer.device=cpu,trainer.max_epochs=2,trainer.progress_bar=false"
    assert hydra["runtime"]["output_dir"] == str(run) and hydra["run"]["dir"] == str(run)
    assert hydra["runtime"]["choices"]["model"] == "mlp"
    assert yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()) == [*FAST, "optimizer.lr=0.02"]
    recorded = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    from omegaconf import OmegaConf

    expected = OmegaConf.to_container(compose_config([*FAST, "optimizer.lr=0.02"]), resolve=False)
    assert recorded == expected


def test_single_run_calls_the_configured_hydra_callbacks_in_hydra_order(tmp_path: Path) -> None:
    (tmp_path / "cbrec.py").write_text(RECORDER)
    log = tmp_path / "hooks.txt"
    run = tmp_path / "run"
    code = train_in_process([*FAST, "+hydra.callbacks.rec._target_=cbrec.Recorder", f"+hydra.callbacks.rec.out={log}"], run)
    assert code == 0
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["on_run_start", "on_job_start", "on_job_end:COMPLETED", "on_run_end:COMPLETED"]
    assert all(line.split()[1] == "RunMode.RUN" for line in lines)
    assert lines[0].split()[2] == "None" and lines[1].split()[2] == str(run)  # as under hydra.main: the job sets its output dir


def test_a_callback_that_cannot_be_built_is_one_line_before_any_run_dir(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "run"
    code = train_in_process([*FAST, "+hydra.callbacks.bad._target_=nosuchmod.Recorder"], run)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: hydra.callbacks.bad: Error locating target 'nosuchmod.Recorder'")
    assert not any(run.iterdir())  # the output-dir check made it (hydra.run.dir is fixed here); nothing ran in it
