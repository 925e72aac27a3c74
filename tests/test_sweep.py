"""Multiruns: a grid x seeds sweep and its comparison, failed jobs, on_error=stop, resume, and
run/sweep dirs that never collide."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST, job_dir, read_results
from dlrun import sweep
from dlrun.errors import DlrunError
from dlrun.run_logger import tb_tag

ONE_EPOCH = ["trainer.max_epochs=1", "trainer.progress_bar=false", "trainer.device=cpu"]
STEPS_PER_EPOCH = 17  # gmm2d default: 1080 training samples in batches of 64


class FlakyTask:
    """A classification task that raises RuntimeError (a bug, so a traceback; KeyboardInterrupt with
    `interrupt`) once more than `fail_after_steps` training steps ran, while the file `while_exists`
    exists (always if None).
    Select with task._target_=test_sweep.FlakyTask +task.fail_after_steps=N."""

    def __new__(cls, loss: Any, fail_after_steps: int | None = None, while_exists: str | None = None,
                interrupt: bool = False, **options: Any) -> Any:
        from dlrun.tasks.classification import ClassificationTask

        class _Task(ClassificationTask):
            steps = 0

            def training_step(self, model, batch):  # type: ignore[no-untyped-def]
                _Task.steps += 1
                if fail_after_steps is not None and _Task.steps > fail_after_steps and (
                    while_exists is None or Path(while_exists).exists()
                ):
                    if interrupt:
                        raise KeyboardInterrupt  # like a second Ctrl-C
                    raise RuntimeError("deliberate failure for the test")
                return super().training_step(model, batch)

        return _Task(loss, **options)  # options: the other keys of configs/task/classification.yaml


def dlrun(*args: str) -> int:
    """`dlrun <args>` in this process; returns the exit code."""
    from dlrun.cli import main

    try:
        return main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def only_sweep_dir(root: Path) -> Path:
    dirs = [d for d in (root / "outputs" / "multirun").iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def manifest(sweep_dir: Path) -> dict[str, Any]:
    return json.loads((sweep_dir / "sweep.json").read_text())


def tensorboard_hparams(logdir: Path) -> tuple[dict[str, Any], dict[str, tuple[dict[str, Any], dict[str, float]]]]:
    """What TensorBoard's HParams tab shows for `logdir`: its column definitions and, per session
    (run), the hyperparameters and metric values by column title (a metric's display name, else its
    tag: `zz_test/acc` is titled `test/acc`), read through TensorBoard's own plugin."""
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import hparams_plugin
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Response

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    context = base_plugin.TBContext(logdir=str(logdir), multiplexer=mux,
                                    data_provider=data_provider.MultiplexerDataProvider(mux, str(logdir)))
    apps = hparams_plugin.HParamsPlugin(context).get_plugin_apps()

    def call(route: str, body: dict[str, Any]) -> Any:
        env = EnvironBuilder(method="POST", path=route, data=json.dumps(body), content_type="application/json",
                             headers={"X-XSRF-Protected": "1"}).get_environ()
        return json.loads(Response.from_app(apps[route], env).get_data())

    experiment = call("/experiment", {"experimentName": ""})
    groups = call("/session_groups", {"experimentName": "", "startIndex": 0, "sliceSize": 100, "colParams": [],
                                      "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]})
    titles = {m["name"]["tag"]: m.get("displayName") or m["name"]["tag"] for m in experiment["metricInfos"]}
    sessions = {g["name"]: (g["hparams"], {titles[m["name"]["tag"]]: m["value"] for m in g["metricValues"]})
                for g in groups["sessionGroups"]}
    return experiment, sessions


def test_grid_x_seeds_sweep_then_compare_matches_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = dlrun("train", "-m", *ONE_EPOCH, "optimizer=sgd,adam", "optimizer.lr=0.05,0.2", "seed=1,2")
    assert code == 0
    sweep_dir = only_sweep_dir(tmp_path)
    jobs = manifest(sweep_dir)["jobs"]
    assert sorted(jobs, key=int) == [str(n) for n in range(8)]
    assert {j["status"] for j in jobs.values()} == {"completed"}
    assert jobs["0"]["overrides"][-3:] == ["optimizer=sgd", "optimizer.lr=0.05", "seed=1"]  # grid order = job numbers
    assert jobs["7"]["overrides"][-3:] == ["optimizer=adam", "optimizer.lr=0.2", "seed=2"]
    runs = {n: read_results(job_dir(sweep_dir, n)) for n in jobs}
    assert all(r["status"] == "completed" for r in runs.values())

    capsys.readouterr()
    assert dlrun("compare", str(sweep_dir), "--metrics", "test/acc,val/loss", "--sort", "test/acc") == 0
    printed = capsys.readouterr().out
    assert "8 runs, 4 configurations" in printed
    with (sweep_dir / "compare.csv").open() as f:
        import csv

        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert set(rows[0]) >= {"optimizer", "optimizer.lr", "runs", "test/acc_mean", "test/acc_std", "test/acc_n"}
    for row in rows:
        mine = [r for r in runs.values() if r["hparams"]["optimizer"] == row["optimizer"]
                and r["config"]["optimizer"]["lr"] == float(row["optimizer.lr"])]
        assert sorted(r["seed"] for r in mine) == [1, 2]
        acc = [r["test"]["test/acc"] for r in mine]
        loss = [r["best"]["val/loss"] for r in mine]
        assert float(row["test/acc_mean"]) == pytest.approx(sum(acc) / 2, abs=1e-12)
        assert float(row["test/acc_std"]) == pytest.approx(abs(acc[0] - acc[1]) / 2 ** 0.5, abs=1e-12)  # sample std, n=2
        assert float(row["val/loss_mean"]) == pytest.approx(sum(loss) / 2, abs=1e-12)
        assert row["runs"] == "2" and row["test/acc_n"] == "2"
    means = [float(r["test/acc_mean"]) for r in rows]
    assert means == sorted(means, reverse=True)  # accuracy: best (highest) first
    assert "| optimizer | optimizer.lr | runs |" in (sweep_dir / "compare.md").read_text()

    # TensorBoard's HParams tab on the multirun dir: one session per job with its real final metrics
    experiment, sessions = tensorboard_hparams(sweep_dir)
    columns = {h["name"]: h for h in experiment["hparamInfos"]}
    assert sorted(columns["optimizer"]["domainDiscrete"]) == ["adam", "sgd"]
    assert {"optimizer.lr", "seed", "model"} <= set(columns)
    reported = [*runs["0"]["best"], *runs["0"]["test"]]  # validation and test metrics
    assert {"val/loss", "val/acc", "test/loss", "test/acc"} <= set(reported)
    assert sorted(m["name"]["tag"] for m in experiment["metricInfos"]) == sorted(map(tb_tag, reported))  # the logged tags
    assert sorted(m.get("displayName") or m["name"]["tag"] for m in experiment["metricInfos"]) == sorted(reported)
    assert sorted(sessions) == sorted(j["dir"] for j in jobs.values())  # one session per job, named by its dir
    for name, (hparams, metrics) in sessions.items():
        results = runs[next(n for n, j in jobs.items() if j["dir"] == name)]
        assert hparams["optimizer"] == results["hparams"]["optimizer"] and hparams["seed"] == results["seed"]
        assert hparams["optimizer.lr"] == pytest.approx(results["config"]["optimizer"]["lr"])
        assert metrics["test/acc"] == pytest.approx(results["test"]["test/acc"], rel=1e-6)
        assert metrics["val/loss"] == pytest.approx(results["best"]["val/loss"], rel=1e-6)  # one epoch: best = last


def test_failed_job_is_recorded_others_complete_and_exit_is_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = dlrun("train", "-m", *ONE_EPOCH, "task._target_=test_sweep.FlakyTask", "+task.fail_after_steps=null,3,null")
    assert code == 1
    sweep_dir = only_sweep_dir(tmp_path)
    jobs = manifest(sweep_dir)["jobs"]
    assert [jobs[n]["status"] for n in ("0", "1", "2")] == ["completed", "failed", "completed"]
    assert jobs["1"]["error"] == "RuntimeError: deliberate failure for the test"
    failed = read_results(job_dir(sweep_dir, 1))
    assert failed["status"] == "failed" and "deliberate failure" in failed["error"]
    assert "Traceback" in (job_dir(sweep_dir, 1) / "error.log").read_text()
    assert read_results(job_dir(sweep_dir, 2))["status"] == "completed"  # ran after the failure
    assert manifest(sweep_dir)["status"] == "failed"
    err = capsys.readouterr().err
    assert "job 1 failed: RuntimeError: deliberate failure" in err


def test_on_error_stop_skips_the_jobs_not_yet_started(tmp_path: Path) -> None:
    code = dlrun("train", "-m", *ONE_EPOCH, "task._target_=test_sweep.FlakyTask",
                 "+task.fail_after_steps=3,null,null", "sweep.on_error=stop")
    assert code == 1
    sweep_dir = only_sweep_dir(tmp_path)
    jobs = manifest(sweep_dir)["jobs"]
    assert [jobs[n]["status"] for n in ("0", "1", "2")] == ["failed", "skipped", "skipped"]
    assert read_results(job_dir(sweep_dir, 2))["status"] == "skipped"
    assert not list((job_dir(sweep_dir, 2)).glob("events.out.tfevents.*"))  # never trained


def test_resume_skips_completed_jobs_and_resumes_failed_ones_from_their_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "still-failing"
    marker.touch()
    command = ["train", "-m", *FAST, "task._target_=test_sweep.FlakyTask",
               f"+task.fail_after_steps=null,{STEPS_PER_EPOCH + 3}", f"+task.while_exists={marker}"]
    assert dlrun(*command) == 1
    sweep_dir = only_sweep_dir(tmp_path)
    assert manifest(sweep_dir)["jobs"]["1"]["status"] == "failed"
    assert (job_dir(sweep_dir, 1) / "checkpoints" / "last.pt").is_file()  # epoch 1 finished before the failure
    done_before = (job_dir(sweep_dir, 0) / "results.json").read_bytes()
    events_before = sorted(p.name for p in (job_dir(sweep_dir, 0)).glob("events.out.tfevents.*"))

    marker.unlink()
    assert dlrun(*command, f"sweep.resume={sweep_dir}") == 0
    assert only_sweep_dir(tmp_path) == sweep_dir  # the same dir, no new sweep
    jobs = manifest(sweep_dir)["jobs"]
    assert [jobs[n]["status"] for n in ("0", "1")] == ["completed", "completed"]
    assert jobs["1"]["attempts"] == 2 and jobs["0"]["attempts"] == 1
    # the completed job was not run again
    assert (job_dir(sweep_dir, 0) / "results.json").read_bytes() == done_before
    assert sorted(p.name for p in (job_dir(sweep_dir, 0)).glob("events.out.tfevents.*")) == events_before
    # the failed job kept its number, its first attempt was archived, and it resumed from epoch 1
    resumed = read_results(job_dir(sweep_dir, 1))
    archived = job_dir(sweep_dir, 1) / "attempt-1"
    assert read_results(archived)["status"] == "failed" and (archived / "error.log").is_file()
    assert resumed["resumed_from"] == str(archived / "checkpoints" / "last.pt")
    assert resumed["epochs_run"] == 2
    # job 0 is the same config without the fault: an exact resume reproduces its numbers
    reference = read_results(job_dir(sweep_dir, 0))
    assert resumed["test"]["test/acc"] == pytest.approx(reference["test"]["test/acc"], abs=1e-9)
    assert resumed["test"]["test/loss"] == pytest.approx(reference["test"]["test/loss"], rel=1e-5)


def test_ctrl_c_stops_the_sweep_and_resume_finishes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "interrupt"
    marker.touch()
    command = ["train", "-m", *ONE_EPOCH, "task._target_=test_sweep.FlakyTask", "+task.interrupt=true",
               f"+task.while_exists={marker}", "+task.fail_after_steps=null,3,null"]
    assert dlrun(*command) == 130
    sweep_dir = only_sweep_dir(tmp_path)
    data = manifest(sweep_dir)
    assert data["status"] == "interrupted"
    assert [data["jobs"][n]["status"] for n in ("0", "1", "2")] == ["completed", "interrupted", "pending"]
    assert not (job_dir(sweep_dir, 2)).exists()  # the sweep stopped: job 2 never started
    assert f"finish it with: dlrun train -m {' '.join(command[2:])} sweep.resume={sweep_dir}" in capsys.readouterr().out

    marker.unlink()
    assert dlrun(*command, f"sweep.resume={sweep_dir}") == 0
    jobs = manifest(sweep_dir)["jobs"]
    assert [jobs[n]["status"] for n in ("0", "1", "2")] == ["completed"] * 3
    assert [jobs[n].get("attempts") for n in ("0", "1", "2")] == [1, 2, 1]
    assert read_results(job_dir(sweep_dir, 1) / "attempt-1")["status"] == "interrupted"


def test_resume_refuses_a_different_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dlrun("train", "-m", *ONE_EPOCH, "seed=1,2") == 0
    sweep_dir = only_sweep_dir(tmp_path)
    capsys.readouterr()
    assert dlrun("train", "-m", *ONE_EPOCH, "seed=1,3", f"sweep.resume={sweep_dir}") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: sweep.resume: this command's overrides") and len(err.strip().splitlines()) == 1
    assert dlrun("train", "-m", *ONE_EPOCH, "seed=1,2", f"sweep.resume={tmp_path}") == 2
    assert "is not a dlrun sweep dir" in capsys.readouterr().err


def test_bad_on_error_value_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dlrun("train", "-m", *ONE_EPOCH, "seed=1,2", "sweep.on_error=ignore") == 2
    assert capsys.readouterr().err.strip() == "error: sweep.on_error: unknown value 'ignore' (valid: continue, stop)"
    assert not list((tmp_path / "outputs").rglob("sweep.json"))  # no sweep started


def test_bad_figures_value_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dlrun("train", "-m", *ONE_EPOCH, "seed=1,2", "sweep.figures=some") == 2
    assert capsys.readouterr().err.strip() == "error: sweep.figures: unknown value 'some' (valid: no_duplicates, true, false)"
    assert not list((tmp_path / "outputs").rglob("sweep.json"))


@pytest.mark.parametrize(("value", "choice"), [(True, "all"), ("true", "all"), (False, "none"), ("no_duplicates", "no_duplicates"), (1, None), ("yes", None)])
def test_figures_choice(value: object, choice: str | None) -> None:
    """YAML's true/false (or quoted) and the default's name map to RunLogger's choices; a number or another word does not."""
    if choice is None:
        with pytest.raises(DlrunError, match="sweep.figures: unknown value"):
            sweep.figures_choice(value)
    else:
        assert sweep.figures_choice(value) == choice


@pytest.mark.slow
def test_two_sweeps_started_in_the_same_second_get_distinct_dirs(tmp_path: Path) -> None:
    import os

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    cmd = [sys.executable, "-m", "dlrun", "train", "-m", *ONE_EPOCH, "seed=1"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    dirs = sorted(d for d in (tmp_path / "outputs" / "multirun").iterdir())
    assert len(dirs) == 2
    for d in dirs:
        assert manifest(d)["jobs"]["0"]["status"] == "completed"
        assert read_results(job_dir(d, 0))["run_dir"] == str(job_dir(d, 0))
        assert len(list(job_dir(d, 0).glob("events.out.tfevents.*"))) == 1  # nobody else wrote here


def test_same_second_clash_draws_a_new_suffix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two launchers that resolve the same name: the second one's exclusive mkdir fails, so it
    draws another suffix instead of sharing the dir."""
    from dlrun import rundir

    monkeypatch.setattr(rundir, "_uid", ["abc123"])
    names = iter(["abc123", "def456"])
    monkeypatch.setattr(rundir.secrets, "token_hex", lambda n: next(names))
    (tmp_path / "sweeps" / "2026-01-01_00-00-00_abc123").mkdir(parents=True)
    resolve = lambda: f"{tmp_path}/sweeps/2026-01-01_00-00-00_{rundir._uid[0]}"  # noqa: E731
    path, created = rundir.create_exclusive(resolve, redraw=True)
    assert created and path.name == "2026-01-01_00-00-00_def456"


def test_explicit_run_dir_with_a_finished_run_is_refused(train_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, run = train_run("trainer.max_epochs=1")
    assert code == 0
    before = (run / "results.json").read_bytes()
    capsys.readouterr()
    code, again = train_run("trainer.max_epochs=1")
    assert code == 2 and again == run
    assert capsys.readouterr().err.strip() == f"error: run dir {run} already holds a run (results.json); choose a new hydra.run.dir"
    assert (run / "results.json").read_bytes() == before


def test_hparams_record_config_values_not_override_spelling(train_run) -> None:
    code, run = train_run("optimizer.lr=1e-2", "sweep.on_error=stop", "seed=7")
    assert code == 0
    hparams = read_results(run)["hparams"]
    assert hparams["optimizer.lr"] == 0.01 and hparams["seed"] == 7 and hparams["model"] == "mlp"
    assert not any(k.startswith("sweep") for k in hparams)  # run control is not a hyperparameter


def test_hparams_entry_reads_the_logged_tags_no_parallel_copies(tmp_path: Path) -> None:
    """The HParams metrics are the run's own tags (issue 18: no `hparams/*` family of single-point
    copies): TensorBoard shows a tag's last value, so the per-epoch curve val/loss (0.6, 0.5, 0.7)
    shows 0.7, the last epoch; test/acc, not a curve, is logged once at the last epoch's step."""
    from dlrun.run_logger import RunLogger

    logger = RunLogger(tmp_path / "run")
    for epoch, value in enumerate([0.6, 0.5, 0.7], start=1):
        logger.scalars({"val/loss": value}, epoch)
    logger.hparams({"optimizer.lr": 0.1, "model": "mlp", "seed": 1}, {"val/loss": 0.5, "test/acc": 0.9})
    logger.close()
    experiment, sessions = tensorboard_hparams(tmp_path)
    assert [m["name"]["tag"] for m in experiment["metricInfos"]] == ["val/loss", "zz_test/acc"]  # test/acc's tag
    ((hparams, metrics),) = sessions.values()
    assert hparams == {"optimizer.lr": 0.1, "model": "mlp", "seed": 1.0}
    assert metrics == {"val/loss": pytest.approx(0.7), "test/acc": pytest.approx(0.9)}


def test_grid_combinations_through_hydras_public_override_parser() -> None:
    from dlrun.sweep_grid import combinations, grid_jobs

    assert combinations(["a=1,2", "b=x,y", "c=3"]) == [
        ["a=1", "b=x", "c=3"], ["a=1", "b=y", "c=3"], ["a=2", "b=x", "c=3"], ["a=2", "b=y", "c=3"]]
    assert combinations(["+d=[1,2]", "e=range(0,3)"]) == [["+d=[1,2]", "e=0"], ["+d=[1,2]", "e=1"], ["+d=[1,2]", "e=2"]]
    assert grid_jobs(["seed=1,2"], {"optimizer.lr": "0.1,0.2"}) == [
        ["optimizer.lr=0.1", "seed=1"], ["optimizer.lr=0.1", "seed=2"], ["optimizer.lr=0.2", "seed=1"], ["optimizer.lr=0.2", "seed=2"]]
    with pytest.raises(ValueError, match="sweep is not a grid"):
        combinations(["x=interval(0,1)"])


def test_planned_jobs_are_the_basic_sweepers_grid_and_unknown_for_a_sampling_sweeper() -> None:
    """The basic sweeper is recognised by its config group choice (hydra.runtime.choices), not by a
    class path inside Hydra's private modules."""
    from dlrun.preflight import compose
    from dlrun.sweep_grid import planned_jobs

    grid = compose(["experiment=lab2_mnist_l2_sweep", "seed=1"], return_hydra_config=True)  # one job composed, as launch does
    assert planned_jobs(grid, ["seed=1,2"]) == [[f"regularizer.weight={w}", f"seed={s}"] for w in ("0.001", "0.01", "0.1") for s in (1, 2)]
    optuna = compose(["hparams_search=gmm2d_optuna"], return_hydra_config=True)
    assert planned_jobs(optuna, []) is None
