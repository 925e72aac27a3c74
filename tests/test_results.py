"""results.json as `Results`: the metric lookup, key metrics, and a metric's direction from the
recorded monitor/mode (with the name-based guess only for files that lack `mode`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlrun.errors import DlrunError
from dlrun.results import RESULTS_FILE, Results, higher_is_better

RUN = Results(status="completed", monitor="val/score", mode="min", best={"val/score": 0.5, "val/acc": 0.7},
              final={"train/loss": 0.2, "val/acc": 0.6}, test={"test/score": 0.4, "test/acc": 0.8}, epochs_run=3)


def test_metrics_are_looked_up_in_test_then_best_then_final_then_top_level() -> None:
    assert RUN.metric("test/acc") == 0.8
    assert RUN.metric("val/acc") == 0.7  # best epoch, not the final 0.6
    assert RUN.metric("train/loss") == 0.2
    assert RUN.metric("epochs_run") == 3.0
    assert RUN.metric("status") is None and RUN.metric("nope") is None
    assert RUN.metric_names() == ["test/score", "test/acc", "val/score", "val/acc", "train/loss"]
    assert RUN.key_metrics() == {"val/score": 0.5, "val/acc": 0.7, "test/score": 0.4, "test/acc": 0.8}
    with pytest.raises(DlrunError, match=r"no metric 'nope' in the run's results \(available: test/score, test/acc, "):
        RUN.require_metric("nope")


def test_direction_comes_from_the_recorded_monitor_and_mode() -> None:
    # 'score' is monitored with mode=min, so lower is better for it in every split
    assert RUN.higher_is_better("val/score") is False and RUN.higher_is_better("test/score") is False
    assert RUN.higher_is_better("test/acc") is None  # not monitored: unknown from this run
    assert higher_is_better("test/score", [RUN]) is False
    maximised = Results(monitor="val/loss", mode="max")
    assert higher_is_better("test/loss", [maximised]) is True  # the record wins over the name
    # no mode recorded (older files): lower for losses and errors, higher for the rest
    assert higher_is_better("test/loss", [Results(status="completed")]) is False
    assert higher_is_better("test/acc", []) is True


def test_written_and_read_back_with_nan_as_null(tmp_path: Path) -> None:
    Results(status="failed", error="boom", best={"val/loss": float("nan")}).write(tmp_path)
    back = Results.read(tmp_path)
    assert back == {"status": "failed", "error": "boom", "best": {"val/loss": None}} and not back.completed
    (tmp_path / RESULTS_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError):
        Results.read(tmp_path)


def test_metrics_csv_has_one_row_per_epoch_with_every_epoch_metric(train_run) -> None:
    import csv

    code, run = train_run("trainer.max_epochs=3", "trainer.val_every_n_epochs=2")
    assert code == 0
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["val/loss"] == "" and rows[1]["val/loss"] != ""  # validated on epochs 2 and 3 (the last) only
    results = json.loads((run / "results.json").read_text())
    assert float(rows[-1]["val/loss"]) == pytest.approx(results["final"]["val/loss"])
    assert float(rows[-1]["train/loss"]) == pytest.approx(results["final"]["train/loss"])
    assert not list(run.glob("*.log"))  # no empty job log beside them: Hydra's job logging goes to the console
