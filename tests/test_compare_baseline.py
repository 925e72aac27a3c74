"""`dlrun compare --baseline KEY=VALUE`: differences of means, 95 % CI and Welch p-values on
hand-written results.json files, checked against hand-computed numbers (t table, closed-form CDF)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from dlrun.compare import main
from dlrun.errors import DlrunError


def write_run(path: Path, optimizer: str, seed: int, acc: float) -> None:
    path.mkdir(parents=True)
    results = {"status": "completed", "seed": seed, "hparams": {"model": "mlp", "optimizer": optimizer, "seed": seed},
               "best": {"val/loss": 1 - acc}, "test": {"test/acc": acc}}
    (path / "results.json").write_text(json.dumps(results))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """sgd: 0.4, 0.5, 0.6; adam: 0.7, 0.8, 0.9 (s^2 = 0.01 each); rmsprop: 0.5, 0.7 (two seeds)."""
    root = tmp_path / "sweep"
    runs = [("sgd", 0.4), ("sgd", 0.5), ("sgd", 0.6), ("adam", 0.7), ("adam", 0.8), ("adam", 0.9),
            ("rmsprop", 0.5), ("rmsprop", 0.7)]
    for n, (opt, acc) in enumerate(runs):
        write_run(root / f"{n}_optimizer={opt}", opt, n % 3 + 1, acc)
    return root


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_difference_ci_and_p_against_hand_computed(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """adam - sgd on test/acc: diff 0.3, SE = sqrt(0.01/3 + 0.01/3), df = 4, t = 0.3 / SE;
    CI = 0.3 -/+ 2.776 SE (t table, 0.975, df 4); p from the closed-form t CDF for df = 4."""
    assert main([str(sweep), "--metrics", "test/acc", "--baseline", "optimizer=sgd"]) == 0
    out = capsys.readouterr().out
    assert "differences from optimizer=sgd" in out
    rows = {r["optimizer"]: r for r in csv_rows(sweep / "compare_baseline.csv")}
    assert set(rows) == {"adam", "rmsprop"}  # the baseline is not compared with itself
    adam = rows["adam"]
    se = math.sqrt(0.02 / 3)
    t = 0.3 / se
    u = t / math.sqrt(4 + t * t)
    p = 2 * (1 - (0.5 + 0.75 * u * (1 - u * u / 3)))
    assert adam["baseline"] == "optimizer=sgd" and adam["metric"] == "test/acc"
    assert float(adam["diff"]) == pytest.approx(0.3)
    assert float(adam["df"]) == pytest.approx(4.0)
    assert float(adam["ci_low"]) == pytest.approx(0.3 - 2.776 * se, abs=1e-3)
    assert float(adam["ci_high"]) == pytest.approx(0.3 + 2.776 * se, abs=1e-3)
    assert float(adam["p_value"]) == pytest.approx(p, rel=1e-6)
    assert (adam["n"], adam["n_baseline"], adam["too_few_seeds"]) == ("3", "3", "False")
    line = next(x for x in out.split("differences from")[1].splitlines() if x.startswith("adam"))
    assert line.split()[:3] == ["adam", "test/acc", "+0.3000"]
    assert f"{p:.3f}" in line and "n<3" not in line


def test_two_seeds_are_flagged_everywhere(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """rmsprop has 2 seeds: its difference (0.6 - 0.5 = +0.1) is flagged in terminal, CSV and Markdown."""
    assert main([str(sweep), "--metrics", "test/acc,val/loss", "--baseline", "optimizer=sgd"]) == 0
    out = capsys.readouterr().out
    flagged = [x for x in out.split("differences from")[1].splitlines() if x.startswith("rmsprop")]
    assert len(flagged) == 2 and all("n<3" in x for x in flagged)
    rms = [r for r in csv_rows(sweep / "compare_baseline.csv") if r["optimizer"] == "rmsprop"]
    assert {r["metric"] for r in rms} == {"test/acc", "val/loss"}
    assert all(r["too_few_seeds"] == "True" for r in rms)
    acc = next(r for r in rms if r["metric"] == "test/acc")
    assert float(acc["diff"]) == pytest.approx(0.1)
    md = (sweep / "compare_baseline.md").read_text()
    assert "| rmsprop | test/acc | +0.1000 |" in md and "n<3" in md


@pytest.mark.parametrize("arg,message", [
    ("optimizer", "expected KEY=VALUE"),
    ("seed=1", "'seed' does not vary"),
    ("optimizer.lr=0.1", "'optimizer.lr' does not vary"),
    ("optimizer=adagrad", "no run has optimizer=adagrad (values: adam, rmsprop, sgd)"),
])
def test_bad_baseline_is_one_clear_error(sweep: Path, arg: str, message: str) -> None:
    with pytest.raises(DlrunError, match=message.replace("(", r"\(").replace(")", r"\)")):
        main([str(sweep), "--baseline", arg])
