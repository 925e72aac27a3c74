"""trainer.monitor is checked against the metrics the task declares before any training, with the same
one-line message as the check after the first validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FAST, compose_config, read_results, train_in_process
from dlrun.build import build_task
from dlrun.early_stopping import check_monitor, monitored
from dlrun.errors import DlrunError
from dlrun.paths import config_groups


class Declares:
    def metric_names(self) -> list[str]:
        return ["loss", "acc"]


def test_a_validation_name_the_task_does_not_declare_is_refused_with_the_valid_ones() -> None:
    for fine in ("val/acc", "val/loss", "train/loss", "train/anything", "lr", "time/epoch_s"):
        check_monitor(fine, Declares())
    for bad in ("val/nosuch", "nosuch", "test/acc"):
        with pytest.raises(DlrunError, match=rf"^trainer\.monitor: no metric '{bad}' \(valid: val/acc, val/loss\)$"):
            check_monitor(bad, Declares())
    check_monitor("val/nosuch", object())  # a task that declares nothing is checked after the first validation


def test_the_late_check_says_the_same() -> None:
    with pytest.raises(DlrunError) as late:
        monitored({"train/loss": 1.0, "lr": 0.1, "val/loss": 2.0, "val/acc": 0.5}, "val/nosuch")
    with pytest.raises(DlrunError) as early:
        check_monitor("val/nosuch", Declares())
    assert str(late.value) == str(early.value)
    assert monitored({"val/acc": 0.5}, "val/acc") == 0.5


EXPERIMENTS = config_groups()["experiment"]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_preset_monitors_a_metric_its_task_declares(experiment: str) -> None:
    cfg = compose_config([f"experiment={experiment}"])
    if cfg.loss._target_.endswith("Distillation"):  # needs a teacher checkpoint to build
        pytest.skip("distillation")
    check_monitor(str(cfg.trainer.monitor), build_task(cfg))


@pytest.mark.parametrize("task", ["classification", "metric", "seq2seq", "language_model", "simclr", "stereo"])
def test_each_task_family_declares_names(task: str) -> None:
    defaults = {"metric": ["experiment=mnist_metric"], "seq2seq": ["experiment=seq2seq_reverse"],
                "language_model": ["experiment=lab3_char_lm"], "simclr": ["experiment=simclr_fmnist"],
                "stereo": ["experiment=stereo_synthetic"]}
    names = build_task(compose_config(defaults.get(task, []))).metric_names()
    assert "loss" in names and len(names) == len(set(names)) >= 2


def test_declared_names_are_what_a_run_reports(tmp_path: Path) -> None:
    assert train_in_process([*FAST, "trainer.max_epochs=1"], tmp_path / "run") == 0
    best = read_results(tmp_path / "run")["best"]
    declared = build_task(compose_config([])).metric_names()
    assert sorted(best) == sorted(f"val/{name}" for name in declared)


@pytest.mark.fault("trainer.monitor naming a metric the task never reports (val/nosuch)",
                   "one line listing the valid metrics, exit 2, before any epoch (no run dir, no checkpoint)")
def test_a_bad_monitor_stops_before_any_epoch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = train_in_process([*FAST, "trainer.monitor=val/accuracy"], tmp_path / "run")
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "error: trainer.monitor: no metric 'val/accuracy' (valid: val/acc, val/f1, val/loss)"
    assert not (tmp_path / "run").exists()  # no run dir, so no epoch and no checkpoint
