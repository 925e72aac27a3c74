"""Early stopping Alg 7.2 / 7.3 (dlrun.retrain) and the train + val split it trains on."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from conftest import read_results, train_in_process
from dlrun.data.base import EpochSeeded
from dlrun.data.train_plus_val import MixedBatches
from dlrun.early_stopping import check_algorithm

# gmm2d defaults: 6 components x 300 points, 20 % val, 20 % test -> 1080 train, 360 val; batches of 64
TRAIN_BATCHES, VAL_BATCHES = math.ceil(1080 / 64), math.ceil(360 / 64)  # 17, 6
SHRINK = ["trainer.progress_bar=false", "trainer.log_every_n_steps=1000"]


class ListBatches(EpochSeeded):
    """Batches that are just labels, e.g. ('a', 0), ('a', 1), ... (the skip contract of real loaders)."""

    def __init__(self, name: str, count: int) -> None:
        self.items = [(name, i) for i in range(count)]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items[self.take_skip():])


def mixed(epoch: int, skip: int = 0) -> list[tuple[str, int]]:
    batches = MixedBatches(ListBatches("a", 5), ListBatches("b", 3))
    batches.set_epoch(epoch, seed=7)
    batches.skip = skip
    return list(batches)


def test_mixed_batches_interleave_both_splits_once_each_in_a_seeded_order() -> None:
    epoch0 = mixed(0)
    assert len(epoch0) == 8 and sorted(epoch0) == [("a", i) for i in range(5)] + [("b", i) for i in range(3)]
    assert [b for b in epoch0 if b[0] == "a"] == [("a", i) for i in range(5)]  # each split keeps its own order
    assert mixed(0) == epoch0  # the same (seed, epoch): the same order
    assert any(mixed(e) != epoch0 for e in range(1, 5))  # other epochs: other orders
    assert epoch0[:3] != [("a", 0), ("a", 1), ("a", 2)] or epoch0[3:6] != [("a", 3), ("a", 4), ("b", 0)]


@pytest.mark.parametrize("skip", [1, 3, 6, 8])
def test_mixed_batches_resume_after_skip_exactly(skip: int) -> None:
    assert mixed(2, skip) == mixed(2)[skip:]


def test_algorithm_names() -> None:
    assert check_algorithm(7.2) == "7.2" and check_algorithm("7.3") == "7.3"  # a command line's 7.2 is a float
    with pytest.raises(ValueError, match="must be one of 7.1, 7.2, 7.3"):
        check_algorithm("7.4")


def test_alg_7_2_retrains_on_train_plus_val_for_the_best_steps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert train_in_process(["trainer.max_epochs=3", "trainer.early_stopping.algorithm=7.2", *SHRINK], run) == 0
    results = read_results(run)
    report = results["early_stopping"]
    assert report["algorithm"] == "7.2" and report["best_epoch"] == results["best_epoch"] >= 1
    i_star = results["best_epoch"] * TRAIN_BATCHES  # i*: optimizer steps up to the best epoch
    assert report["best_step"] == i_star and report["retrain_steps"] == i_star
    assert report["retrain_epochs"] == math.ceil(i_star / (TRAIN_BATCHES + VAL_BATCHES))
    assert results["test"] != report["test_before_retrain"]  # the test numbers are the retrained model's
    assert (run / "retrain" / "checkpoints" / "last.pt").is_file()


def test_alg_7_3_continues_until_val_loss_is_below_the_train_loss_at_the_best_epoch(tmp_path: Path) -> None:
    run = tmp_path / "run"
    # dataset.seed=2: a mixture where the val loss at the best epoch is above the train loss there
    overrides = ["trainer.max_epochs=4", "trainer.early_stopping.algorithm=7.3", "dataset.seed=2", *SHRINK]
    assert train_in_process(overrides, run) == 0
    report = read_results(run)["early_stopping"]
    target = report["target_loss"]
    rows = list(csv.DictReader((run / "retrain" / "metrics.csv").open()))
    val_losses = [float(r["val/loss"]) for r in rows]
    assert report["val_loss_at_best"] >= target and len(rows) == report["retrain_epochs"] >= 1
    assert report["retrain_steps"] == report["retrain_epochs"] * (TRAIN_BATCHES + VAL_BATCHES)
    if report["reached_target"]:  # stopped at the first validation below the target, not later
        assert val_losses[-1] < target and all(v >= target for v in val_losses[:-1])
    else:  # or ran to the cap without reaching it
        assert len(rows) == 4 and all(v >= target for v in val_losses)


def test_unknown_algorithm_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_in_process(["trainer.early_stopping.algorithm=7.5"], tmp_path / "run") != 0
    assert "must be one of 7.1, 7.2, 7.3" in capsys.readouterr().err
