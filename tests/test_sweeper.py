"""dlrun's default sweeper (hydra_plugins.dlrun_plugins.sweeper): the jobs, their order and numbers are
Hydra's basic sweeper's; it only leaves out the basic sweeper's composition of every job up front."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SWEEP = ["-m", "optimizer=sgd,adam", "seed=1,2", "optimizer.lr=0.01,0.02", "trainer.max_epochs=1", "trainer.progress_bar=false",
         "trainer.device=cpu", "sweep.figures=false"]


def manifest_jobs(sweep_dir: Path) -> list[tuple[int, list[str], str]]:
    jobs = json.loads((sweep_dir / "sweep.json").read_text())["jobs"]
    return [(int(num), job["overrides"], job["dir"]) for num, job in sorted(jobs.items(), key=lambda kv: int(kv[0]))]


def run_dirs(sweep_dir: Path) -> dict[str, list[str]]:
    """Each job dir with the overrides Hydra recorded in it."""
    import yaml

    return {p.parent.parent.name: yaml.safe_load(p.read_text()) for p in sweep_dir.glob("*/.hydra/overrides.yaml")}


def test_the_jobs_are_hydras_basic_sweepers_in_its_order(tmp_path: Path) -> None:
    from dlrun.cli import main

    assert main(["train", *SWEEP, "hydra.sweeper.max_batch_size=3", f"hydra.sweep.dir={tmp_path / 'ours'}"]) == 0
    assert main(["train", *SWEEP, "hydra/sweeper=basic", f"hydra.sweep.dir={tmp_path / 'basic'}"]) == 0
    ours, basic = manifest_jobs(tmp_path / "ours"), manifest_jobs(tmp_path / "basic")
    assert len(ours) == 8 and ours == basic  # batches of 3 keep the numbers going (0-2, 3-5, 6-7)
    assert run_dirs(tmp_path / "ours") == run_dirs(tmp_path / "basic") and len(run_dirs(tmp_path / "ours")) == 8
    assert ours[0][1][:3] == ["optimizer=sgd", "seed=1", "optimizer.lr=0.01"] and ours[1][1][2] == "optimizer.lr=0.02"
    assert (tmp_path / "ours" / "multirun.yaml").is_file()


def test_a_key_given_twice_is_one_entry_as_in_hydras_sweeper() -> None:
    from dlrun.sweep_grid import combinations

    assert combinations(["seed=1,2", "a=x", "seed=3"]) == [["seed=3", "a=x"]]


def test_an_interval_is_not_a_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    code = main(["train", "-m", "optimizer.lr=interval(0.01,0.1)", "trainer.max_epochs=1", f"hydra.sweep.dir={tmp_path / 's'}"])
    err = capsys.readouterr().err
    assert code != 0 and "interval" in err.lower() and "Traceback" not in err
