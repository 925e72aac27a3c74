"""Sweeps through Hydra's launcher and sweeper plugins: joblib (parallel local jobs, GPU
round-robin), submitit (local processes; the Slurm example config), Optuna (hparams_search)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import job_dir, read_results, run_cli

ONE_EPOCH = ["trainer.max_epochs=1", "trainer.progress_bar=false", "trainer.device=cpu"]


def only_sweep_dir(root: Path) -> Path:
    dirs = [d for d in (root / "outputs" / "multirun").iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def manifest(sweep_dir: Path) -> dict[str, Any]:
    return json.loads((sweep_dir / "sweep.json").read_text())


@pytest.mark.slow
def test_joblib_runs_jobs_in_parallel_processes_one_gpu_each(tmp_path: Path) -> None:
    proc = run_cli(["train", "-m", *ONE_EPOCH, "seed=1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                    "sweep.gpus=[0,1]"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep_dir = only_sweep_dir(tmp_path)
    data = manifest(sweep_dir)
    jobs = [data["jobs"][n] for n in ("0", "1")]
    assert [j["status"] for j in jobs] == ["completed", "completed"]
    assert all(j["pid"] != data["pid"] for j in jobs)  # run by joblib's workers, not the launcher
    assert {j["gpu"] for j in jobs} <= {"0", "1"}
    if jobs[0]["pid"] != jobs[1]["pid"]:  # two live workers never share a GPU
        assert {j["gpu"] for j in jobs} == {"0", "1"}
    assert [read_results(job_dir(sweep_dir, n))["seed"] for n in ("0", "1")] == [1, 2]


@pytest.mark.slow
def test_submitit_local_runs_a_two_job_sweep(tmp_path: Path) -> None:
    proc = run_cli(["train", "-m", *ONE_EPOCH, "seed=1,2", "hydra/launcher=submitit_local",
                    "hydra.launcher.timeout_min=10"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep_dir = only_sweep_dir(tmp_path)
    data = manifest(sweep_dir)
    assert [data["jobs"][n]["status"] for n in ("0", "1")] == ["completed", "completed"]
    assert all(data["jobs"][n]["pid"] != data["pid"] for n in ("0", "1"))  # separate submitit processes
    assert (sweep_dir / ".submitit").is_dir()
    assert [read_results(job_dir(sweep_dir, n))["status"] for n in ("0", "1")] == ["completed", "completed"]


@pytest.mark.slow
def test_optuna_search_receives_each_trials_optimized_metric(tmp_path: Path) -> None:
    proc = run_cli(["train", "hparams_search=gmm2d_optuna", "hydra.sweeper.n_trials=3", *ONE_EPOCH], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep_dir = only_sweep_dir(tmp_path)  # hparams_search implies -m
    trials = [read_results(job_dir(sweep_dir, n)) for n in ("0", "1", "2")]
    assert [t["status"] for t in trials] == ["completed"] * 3
    for trial in trials:
        assert 1e-3 <= trial["hparams"]["optimizer.lr"] <= 3e-1
        assert trial["hparams"]["optimizer.weight_decay"] in (0.0, 1e-4, 1e-3)
    import yaml

    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(t["best"]["val/acc"] for t in trials), abs=1e-12)
    winner = max(trials, key=lambda t: t["best"]["val/acc"])
    assert best["best_params"]["optimizer.lr"] == pytest.approx(winner["hparams"]["optimizer.lr"])


def test_search_over_a_key_the_config_lacks_fails_before_any_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    code = main(["train", "hparams_search=lab2_cifar_optuna", *ONE_EPOCH])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == ("error: hydra.sweeper.params: 'optimizer.momentum' is not a key of this config "
                   "(a missing experiment=...? add new keys as +optimizer.momentum)")


def test_lab2_cifar_search_space_names_keys_of_the_lab_config() -> None:
    """experiment=lab2_cifar selects SGD and ExponentialLR; every searched key exists there."""
    from omegaconf import OmegaConf

    from conftest import compose_config
    from dlrun.preflight import compose

    cfg = compose(["hparams_search=lab2_cifar_optuna", "optimizer=sgd", "scheduler=exponential"], return_hydra_config=True)
    assert cfg.optimized_metric == "val/acc" and cfg.hydra.sweeper.direction == "maximize"
    for key in cfg.hydra.sweeper.params:
        assert OmegaConf.select(compose_config(["optimizer=sgd", "scheduler=exponential"]), key) is not None, key


def test_slurm_example_config_selects_the_submitit_slurm_launcher() -> None:
    from dlrun.preflight import compose

    launcher = compose(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True).hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node, launcher.timeout_min) == ("gpu", 1, 1, 240)
