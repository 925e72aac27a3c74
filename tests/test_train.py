"""End-to-end `dlrun train` on the embedded default dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FAST, job_dir, read_results, run_cli


@pytest.mark.slow
def test_console_script_trains_default_and_writes_artifacts(tmp_path: Path) -> None:
    proc = run_cli(["train", *FAST[1:], "trainer.max_epochs=30"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = list((tmp_path / "outputs" / "mlp-gmm2d").iterdir())
    assert len(runs) == 1
    run = runs[0]
    results = read_results(run)
    assert results["status"] == "completed"
    assert results["test"]["test/acc"] >= 0.95
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "checkpoints" / "best.pt").is_file()
    assert list(run.glob("events.out.tfevents.*"))
    assert (run / "decision_surface.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "tensorboard --logdir outputs" in proc.stdout


def test_in_process_run_records_results(train_run) -> None:
    code, run = train_run("model=logreg", "optimizer=sgd", "optimizer.lr=0.5")
    assert code == 0
    results = read_results(run)
    assert results["epochs_run"] == 2
    assert results["num_params"] == 2 * 3 + 3  # logreg on 2-D inputs, 3 classes
    assert set(results["test"]) == {"test/loss", "test/acc", "test/f1"}
    assert results["overrides"][-1] == "optimizer.lr=0.5"


def test_sweep_figures_choose_the_jobs_figures_and_nothing_else(tmp_path: Path) -> None:
    """The default (no_duplicates) leaves out the figures that redraw what the event file holds as
    scalars and text (training plot, class table), true draws all as a single run does, false none;
    the rest of a job's record is the same in all three."""
    from dlrun.cli import main

    drawn = {"default": ["confusion_matrix.png", "decision_surface.png"], "false": [],
             "true": ["confusion_matrix.png", "decision_surface.png", "per_class_metrics.png", "training_plot.png"]}
    for figures, expected in drawn.items():
        sweep = tmp_path / figures
        choice = [] if figures == "default" else [f"sweep.figures={figures}"]
        assert main(["train", "-m", "seed=1,2", *FAST, *choice, f"hydra.sweep.dir={sweep}"]) == 0
        for num in (0, 1):
            run = job_dir(sweep, num)
            assert sorted(p.name for p in run.glob("*.png")) == expected
            assert read_results(run)["status"] == "completed" and (run / "metrics.csv").is_file()
            assert (run / "per_class_metrics.csv").is_file()
            assert (run / "checkpoints" / "best.pt").is_file() and list(run.glob("events.out.tfevents.*"))

