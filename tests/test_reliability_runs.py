"""Round two of the hostile user: run dirs reused, resumes that change the run, recovery commands
pasted back from an awkward folder, checkpoints that do not fit. Each case feeds docs/reliability.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAST, read_results, run_cli, train_in_process
from dlrun.checkpoint import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.reliability
TESTS = str(Path(__file__).resolve().parent)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch run (Adam, lr 0.01) whose dir and checkpoints the tests reuse read-only."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert train_in_process(FAST, run) == 0
    return run


def _snapshot(run: Path) -> dict[str, float]:
    return {str(p.relative_to(run)): p.stat().st_mtime_ns for p in run.rglob("*")}


@pytest.mark.fault("hydra.run.dir naming a killed run's dir (last.pt, .hydra, events; no results.json)",
                   "refused with one line naming the ckpt_path that resumes it; nothing in the dir is touched")
def test_a_killed_runs_dir_is_not_reused(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    killed = tmp_path / "killed"
    shutil.copytree(trained, killed)
    (killed / "results.json").unlink()  # killed before it recorded anything
    before = _snapshot(killed)
    assert train_in_process(FAST, killed) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: hydra.run.dir {killed} already holds .hydra, checkpoints, events.out.tfevents.")
    assert f"resume it into a new dir with dlrun train ... ckpt_path={killed}/checkpoints/last.pt" in err
    assert _snapshot(killed) == before


@pytest.mark.fault("hydra.run.dir naming a sweep dir", "refused with one line naming sweep.resume; no results.json at the sweep root")
def test_a_sweep_dir_is_not_a_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    sweep_dir = tmp_path / "sweep"
    assert main(["train", "-m", *FAST, "trainer.max_epochs=1", "seed=1,2", f"hydra.sweep.dir={sweep_dir}"]) == 0
    capsys.readouterr()
    assert train_in_process(FAST, sweep_dir) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: hydra.run.dir {sweep_dir} already holds ") and "sweep.json" in err.split(";")[0]
    assert f"; it holds a sweep: finish it with dlrun train -m ... sweep.resume={sweep_dir}; or choose" in err
    assert not (sweep_dir / "results.json").exists()
    assert main(["train", "-m", *FAST, "seed=1,2", f"hydra.sweep.dir={sweep_dir}"]) == 2  # nor a new sweep's
    assert "hydra.sweep.dir" in capsys.readouterr().err


@pytest.mark.fault("dlrun eval out_dir=<a training run's dir>", "refused with one line; the run's results.json untouched")
def test_eval_never_writes_into_a_run_dir(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    before = (trained / "results.json").read_bytes()
    assert main(["eval", f"ckpt={trained / 'checkpoints' / 'best.pt'}", f"out_dir={trained}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: out_dir {trained} already holds ") and "eval writes its results into a dir of its own" in err
    assert (trained / "results.json").read_bytes() == before
    assert main(["eval", f"ckpt={trained / 'checkpoints' / 'best.pt'}", f"out_dir={tmp_path / 'e'}"]) == 0
    assert main(["eval", f"ckpt={trained / 'checkpoints' / 'best.pt'}", f"out_dir={tmp_path / 'e'}"]) == 2  # nor another eval's


@pytest.mark.fault("resume with a changed optimizer.lr, seed, batch size or activation",
                   "refused before any run dir is made, one line listing each changed key with old -> new")
def test_resume_that_changes_the_run_is_refused(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = trained / "checkpoints" / "last.pt"
    code = train_in_process([*FAST, f"ckpt_path={ckpt}", "optimizer.lr=0.1", "seed=7", "dataset.batch_size=32",
                             "model.activation=tanh"], tmp_path / "r")
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: resume would change what {ckpt} computes (dataset.batch_size: 64 -> 32; model.activation: "
                   "'relu' -> 'tanh'; optimizer.lr: 0.01 -> 0.1; seed: 42 -> 7); resume with the checkpoint's values, "
                   "or apply the change with resume.allow_changes=[dataset.batch_size,model.activation,optimizer.lr,seed]")
    assert not list((tmp_path / "r").glob("*"))  # no run files: the pre-flight check only probed the dir


@pytest.mark.fault("resume with trainer.max_epochs below the epochs already trained", "one-line error naming the epochs done")
def test_resume_with_fewer_epochs_than_done_is_refused(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_in_process([*FAST, "trainer.max_epochs=1", f"ckpt_path={trained / 'checkpoints' / 'last.pt'}"], tmp_path / "r") == 2
    assert "has already trained 2 epochs; set trainer.max_epochs to 2 or more" in capsys.readouterr().err


@pytest.mark.fault("resume with resume.allow_changes=[optimizer.lr]",
                   "the new lr is set in the optimizer's param groups and recorded in results.json")
def test_an_allowed_lr_change_is_applied_and_recorded(trained: Path, tmp_path: Path) -> None:
    ckpt = trained / "checkpoints" / "last.pt"
    old = load_checkpoint(ckpt)["optimizer"]["param_groups"][0]["lr"]
    assert old == pytest.approx(0.01)
    run = tmp_path / "r"
    assert train_in_process([*FAST, "trainer.max_epochs=3", "optimizer.lr=0.05", "resume.allow_changes=[optimizer.lr]",
                             f"ckpt_path={ckpt}"], run) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.05)
    results = read_results(run)
    assert results["resume_changes"] == {"optimizer.lr": [0.01, 0.05]}
    assert results["hparams"]["optimizer.lr"] == 0.05 and results["epochs_run"] == 3


@pytest.mark.fault("an Adam checkpoint resumed with optimizer=sgd",
                   "refused with one line naming the optimizer keys; with resume.allow_changes=[optimizer] SGD starts fresh")
def test_a_changed_optimizer_is_refused_or_started_fresh(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = trained / "checkpoints" / "last.pt"
    assert train_in_process([*FAST, "trainer.max_epochs=3", "optimizer=sgd", f"ckpt_path={ckpt}"], tmp_path / "a") == 2
    err = capsys.readouterr().err.strip()
    assert "optimizer._target_: 'torch.optim.Adam' -> 'torch.optim.SGD'" in err and "KeyError" not in err
    assert train_in_process([*FAST, "trainer.max_epochs=3", "optimizer=sgd", "resume.allow_changes=[optimizer]",
                             f"ckpt_path={ckpt}"], tmp_path / "b") == 0
    assert "momentum" in load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["optimizer"]["param_groups"][0]


@pytest.mark.fault("a checkpoint missing a key, or with weights of another shape (resume)",
                   "one-line error naming the missing part or the parameter and both shapes")
def test_incomplete_or_misfitting_checkpoints_name_the_problem(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = load_checkpoint(trained / "checkpoints" / "last.pt")
    partial = tmp_path / "partial.pt"
    save_checkpoint({k: v for k, v in state.items() if k != "optimizer"}, partial)
    assert train_in_process([*FAST, f"ckpt_path={partial}"], tmp_path / "a") == 2
    assert capsys.readouterr().err.strip() == f"error: {partial} lacks optimizer: it cannot resume a run (an incomplete or foreign checkpoint)"
    assert train_in_process([*FAST, "model.hidden=[32,64]", "resume.allow_changes=[model.hidden]",
                             f"ckpt_path={trained / 'checkpoints' / 'last.pt'}"], tmp_path / "b") == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("does not fit this model config: net.1.weight has shape (64, 2) in the checkpoint, (32, 2) in the model"), err


ODD_FOLDER = "Duboko učenje 1 (it's, here)"


class SignallingTask:
    """A classification task that sends itself a real SIGINT (Ctrl-C) after `signal_after_steps`
    training batches of this process: the run finishes the step, writes last.pt and prints the
    resume command (a resumed run starts counting again, so it finishes)."""

    def __new__(cls, loss: object, signal_after_steps: int, **options: object) -> object:
        import signal

        from dlrun.tasks.classification import ClassificationTask

        class _Task(ClassificationTask):
            calls = 0

            def training_step(self, model, batch):  # type: ignore[no-untyped-def]
                _Task.calls += 1
                if _Task.calls == signal_after_steps:
                    os.kill(os.getpid(), signal.SIGINT)
                return super().training_step(model, batch)

        return _Task(loss, **options)


def _paste(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a printed `dlrun ...` command line through the shell, as a user pasting it would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(TESTS).parent / "src"), TESTS])}
    assert command.startswith("dlrun ")
    line = f"{shlex_quote(sys.executable)} -m {command}"
    return subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@pytest.mark.slow
@pytest.mark.fault("the printed resume command, pasted from a folder named \"Duboko učenje 1 (it's, here)\"",
                   "runs as printed: Hydra reads the quoted checkpoint path and the run resumes")
def test_resume_command_pastes_back_from_an_awkward_folder(tmp_path: Path) -> None:
    cwd = tmp_path / ODD_FOLDER
    cwd.mkdir()
    proc = run_cli(["train", *FAST, "task._target_=test_reliability_runs.SignallingTask", "+task.signal_after_steps=20"], cwd=cwd,
                   env={"PYTHONPATH": TESTS})
    assert proc.returncode == 130, proc.stderr
    line = [x for x in proc.stderr.splitlines() if x.startswith("resume with: ")]
    assert line, proc.stderr
    resumed = _paste(line[0].removeprefix("resume with: "), cwd)
    assert resumed.returncode == 0, resumed.stderr
    run_dir = Path(resumed.stdout.strip().splitlines()[-2].removeprefix("  run dir: "))
    results = read_results(run_dir)
    assert results["status"] == "completed" and ODD_FOLDER in results["resumed_from"]


@pytest.mark.slow
@pytest.mark.fault("the printed finish-the-sweep command, pasted from a folder named \"Duboko učenje 1 (it's, here)\"",
                   "runs as printed: the same sweep dir is resumed, completed jobs skipped")
def test_sweep_finish_command_pastes_back_from_an_awkward_folder(tmp_path: Path) -> None:
    cwd = tmp_path / ODD_FOLDER
    cwd.mkdir()
    proc = run_cli(["train", "-m", *FAST, "trainer.max_epochs=1", "task._target_=conftest.FaultyTask",
                    "+task.nan_after_steps=1000,0"], cwd=cwd, env={"PYTHONPATH": TESTS})
    assert proc.returncode == 1, proc.stderr
    line = [x.strip() for x in proc.stdout.splitlines() if x.strip().startswith("finish it with: ")]
    assert line, proc.stdout
    again = _paste(line[0].removeprefix("finish it with: "), cwd)
    assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr  # job 1 diverges again
    assert "job 0: completed before, skipped (sweep.resume)" in again.stdout
    sweep_dir = next((cwd / "outputs" / "multirun").iterdir())
    manifest = json.loads((sweep_dir / "sweep.json").read_text())
    assert len(manifest["resumes"]) == 1 and manifest["jobs"]["0"]["status"] == "completed"


@pytest.mark.fault("a loss that diverges without turning NaN (Adam, optimizer.lr=1e6: loss ~1e18)",
                   "fails like NaN once above trainer.divergence_factor (1e6) x the first step's loss: one line naming the step, exit 3")
def test_a_diverging_loss_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert train_in_process([*FAST, "optimizer.lr=1e6"], run) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: loss exceeded the divergence bound ") and "(trainer.divergence_factor x the first step's loss)" in err
    bound = float(err.split("divergence bound ")[1].split(" ")[0])
    assert 1e6 <= bound <= 1e6 * 10  # 1e6 x an initial cross-entropy of ~1.1 (3 classes)
    assert read_results(run)["status"] == "failed"


def test_the_divergence_reference_travels_in_checkpoints(trained: Path) -> None:
    state = load_checkpoint(trained / "checkpoints" / "last.pt")
    assert 1.0 <= state["divergence_reference"] < 2.0  # |first loss| clamped at 1: cross-entropy of 3 classes ~ ln 3


@pytest.mark.parametrize("override, message", [
    pytest.param("seed=1180591620717411303424", "error: seed: must fit in 64 bits (|seed| < 2**63), got 1180591620717411303424",
                 marks=pytest.mark.fault("seed=2**70, optimizer.lr=inf, lr=${oc.env:HOME}, ~trainer with a trainer key",
                                         "one-line error naming the key before any work")),
    pytest.param("optimizer.lr=inf", "error: optimizer.lr: expected a finite number > 0, got inf",
                 marks=pytest.mark.fault("seed=2**70, optimizer.lr=inf, lr=${oc.env:HOME}, ~trainer with a trainer key",
                                         "one-line error naming the key before any work")),
    pytest.param("optimizer.lr=${oc.env:HOME}", f"error: optimizer.lr: expected a finite number > 0, got {os.environ['HOME']!r}",
                 marks=pytest.mark.fault("seed=2**70, optimizer.lr=inf, lr=${oc.env:HOME}, ~trainer with a trainer key",
                                         "one-line error naming the key before any work")),
    pytest.param("~trainer", "error: the config group 'trainer' is required (~trainer removed it): choose one with "
                             "trainer=<option> (valid: default)",
                 marks=pytest.mark.fault("seed=2**70, optimizer.lr=inf, lr=${oc.env:HOME}, ~trainer with a trainer key",
                                         "one-line error naming the key before any work")),
])
def test_late_or_poor_messages_are_one_line_before_any_work(override: str, message: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert train_in_process([*FAST, override], tmp_path / "r") == 2
    assert capsys.readouterr().err.strip() == message
    assert not list((tmp_path / "r").glob("*"))


@pytest.mark.fault("dlrun eval where its out dir cannot be made (read-only folder, a file named outputs)",
                   "one-line error naming the dir, exit 2")
def test_eval_where_outputs_cannot_be_made_is_one_line(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    (tmp_path / "outputs").write_text("")  # fails for root too, unlike a read-only folder
    assert main(["eval", f"ckpt={trained / 'checkpoints' / 'best.pt'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot create run dir {tmp_path / 'outputs' / 'eval'}/") and "\n" not in err


class FiguresInterrupted:
    """A classification task whose figures (after the test pass) are cut by a Ctrl-C."""

    def __new__(cls, loss: object, **options: object) -> object:
        from dlrun.tasks.classification import ClassificationTask

        class _Task(ClassificationTask):
            def write_artifacts(self, model, data, run_dir, logger):  # type: ignore[no-untyped-def]
                raise KeyboardInterrupt

        return _Task(loss, **options)


@pytest.mark.fault("Ctrl-C after the last epoch (during the test pass or the figures)",
                   "exit 130 with the resume command; resuming the finished fit records the test metrics")
def test_ctrl_c_after_the_last_epoch_says_how_to_get_the_test_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import conftest

    monkeypatch.setattr(conftest, "FiguresInterrupted", FiguresInterrupted, raising=False)
    run = tmp_path / "run"
    assert train_in_process([*FAST, "task._target_=conftest.FiguresInterrupted"], run) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("resume with: dlrun train ") and lines[-1].endswith(f"ckpt_path={run}/checkpoints/last.pt")
    assert read_results(run)["status"] == "interrupted"
    resumed = tmp_path / "resumed"
    assert train_in_process([*FAST, "resume.allow_changes=[task]", f"ckpt_path={run}/checkpoints/last.pt"], resumed) == 0
    results = read_results(resumed)
    assert results["status"] == "completed" and results["epochs_run"] == 2 and "test/acc" in results["test"]


@pytest.mark.fault("dlrun eval of a checkpoint whose weights do not fit the model config (model.hidden changed)",
                   "one-line error naming the parameter and both shapes, exit 2")
def test_eval_of_misfitting_weights_names_the_parameter(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    assert main(["eval", f"ckpt={trained / 'checkpoints' / 'best.pt'}", "model.hidden=[32,64]", f"out_dir={tmp_path / 'e'}"]) == 2
    assert capsys.readouterr().err.strip() == ("error: checkpoint weights do not fit the model config: net.1.weight has shape "
                                               "(64, 2) in the checkpoint, (32, 2) in the model")
