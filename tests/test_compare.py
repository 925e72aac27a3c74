"""`dlrun compare`: grouping seeds, mean ± sample std (n), varying columns, sorting, CSV/Markdown,
the plot, and its errors; checked on hand-written results.json files with hand-computed numbers."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dlrun.compare import main

FIXED = {"dataset": "gmm2d", "model": "mlp", "trainer.max_epochs": 5}


def write_run(path: Path, lr: float, seed: int, test_acc: float | None, val_loss: float = 0.3,
              status: str = "completed", hparams: bool = True) -> Path:
    path.mkdir(parents=True)
    results: dict[str, Any] = {"status": status, "seed": seed,
                               "overrides": [f"optimizer.lr={lr}", f"seed={seed}", "sweep.on_error=stop"]}
    if hparams:
        results["hparams"] = {**FIXED, "optimizer.lr": lr, "seed": seed}
    if status == "completed":
        results.update(best={"val/loss": val_loss}, test={"test/acc": test_acc, "test/loss": 1 - test_acc},
                       final={"train/loss": 0.1}, epochs_run=5)
    (path / "results.json").write_text(json.dumps(results))
    return path


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Config A (lr 0.1): test/acc 0.8, 0.9, 1.0 -> mean 0.9, std 0.1.
    Config B (lr 0.01): 0.5, 0.7 -> mean 0.6, std sqrt(0.02) = 0.141421; plus one failed run."""
    root = tmp_path / "sweep"
    for n, (lr, seed, acc) in enumerate([(0.1, 1, 0.8), (0.1, 2, 0.9), (0.1, 3, 1.0), (0.01, 1, 0.5), (0.01, 2, 0.7)]):
        write_run(root / str(n), lr, seed, acc, val_loss=0.2 + n / 100)
    write_run(root / "5", 0.01, 3, None, status="failed")
    write_run(root / "3" / "attempt-1", 0.01, 1, 0.0, status="failed")  # an earlier attempt: ignored
    return root


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_seeds_grouped_as_mean_and_sample_std(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep), "--metrics", "test/acc"]) == 0
    out = capsys.readouterr().out
    assert "6 runs, 2 configurations, 1 runs did not complete" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("optimizer.lr"))
    assert lines[header].split() == ["optimizer.lr", "runs", "failed", "test/acc"]
    assert lines[header + 2].split() == ["0.1", "3", "0", "0.9000", "±", "0.1000", "(n=3)"]
    assert lines[header + 3].split() == ["0.01", "3", "1", "0.6000", "±", "0.1414", "(n=2)"]
    table = rows(sweep / "compare.csv")
    assert [r["optimizer.lr"] for r in table] == ["0.1", "0.01"]
    assert float(table[0]["test/acc_mean"]) == pytest.approx(0.9) and float(table[0]["test/acc_std"]) == pytest.approx(0.1)
    assert float(table[1]["test/acc_std"]) == pytest.approx(math.sqrt(0.02)) and table[1]["test/acc_n"] == "2"
    assert table[1]["runs"] == "3" and table[1]["failed"] == "1"
    markdown = (sweep / "compare.md").read_text().splitlines()
    assert markdown[0] == "| optimizer.lr | runs | failed | test/acc |"
    assert markdown[2] == "| 0.1 | 3 | 0 | 0.9000 ± 0.1000 (n=3) |"


def test_sort_direction_follows_the_metric_unless_given(sweep: Path) -> None:
    main([str(sweep), "--metrics", "test/loss,test/acc", "--sort", "test/loss"])  # a loss: smallest first
    assert [r["optimizer.lr"] for r in rows(sweep / "compare.csv")] == ["0.1", "0.01"]
    main([str(sweep), "--metrics", "test/acc", "--sort", "test/acc", "--ascending"])
    assert [r["optimizer.lr"] for r in rows(sweep / "compare.csv")] == ["0.01", "0.1"]


def test_default_metrics_are_best_val_then_test(sweep: Path) -> None:
    main([str(sweep)])
    table = rows(sweep / "compare.csv")
    assert list(table[0])[3:] == [f"{m}_{s}" for m in ("val/loss", "test/acc", "test/loss") for s in ("mean", "std", "n")]
    # config A's best val/loss: 0.20, 0.21, 0.22
    assert float(next(r for r in table if r["optimizer.lr"] == "0.1")["val/loss_mean"]) == pytest.approx(0.21)


def test_only_varying_hyperparameters_become_columns_and_run_control_is_ignored(tmp_path: Path) -> None:
    """Runs with only override strings (no hparams): sweep.* never splits a configuration."""
    write_run(tmp_path / "a", 0.1, 1, 0.8, hparams=False)
    write_run(tmp_path / "b", 0.1, 2, 0.6, hparams=False)
    main([str(tmp_path / "a"), str(tmp_path / "b"), "--metrics", "test/acc", "--out", str(tmp_path / "out")])
    (row,) = rows(tmp_path / "out" / "compare.csv")
    assert list(row)[:2] == ["runs", "failed"] and row["runs"] == "2"  # nothing varies but the seed
    assert float(row["test/acc_mean"]) == pytest.approx(0.7)


def test_a_single_run_has_no_std(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run", 0.1, 1, 0.75)
    assert main([str(run), "--metrics", "test/acc", "--out", str(tmp_path)]) == 0
    assert "0.7500 (n=1)" in capsys.readouterr().out
    assert rows(tmp_path / "compare.csv")[0]["test/acc_std"] == ""


def test_plot_of_a_metric_against_a_hyperparameter(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep), "--plot", "test/acc", "--x", "optimizer.lr"]) == 0
    png = sweep / "compare_test_acc_vs_optimizer.lr.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {png}" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--metrics", "test/f1"], "unknown metric 'test/f1' (available: test/acc, test/loss, val/loss, train/loss)"),
    (["--plot", "test/acc"], "--plot needs --x KEY (one of: optimizer.lr)"),
    (["--plot", "test/acc", "--x", "model"], "--x: 'model' does not vary between the runs (varying: optimizer.lr)"),
])
def test_bad_arguments_are_one_line_errors(sweep: Path, args: list[str], message: str) -> None:
    from dlrun.errors import DlrunError

    with pytest.raises(DlrunError) as err:
        main([str(sweep), *args])
    assert str(err.value) == message


def test_no_runs_is_an_error_from_the_cli(tmp_path: Path) -> None:
    from conftest import run_cli

    proc = run_cli(["compare", str(tmp_path)], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: no runs found (no results.json) under {tmp_path}"


def test_compare_does_not_import_torch(sweep: Path) -> None:
    src = str(Path(__file__).resolve().parents[1] / "src")
    code = ("import sys; sys.path.insert(0, %r); from dlrun.cli import main; rc = main(['compare', %r]); "
            "assert rc == 0; assert 'torch' not in sys.modules, 'torch imported'" % (src, str(sweep)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.reliability
@pytest.mark.fault("results.json with a metric section that is not an object", "one-line error naming the file")
def test_a_metric_section_that_is_not_an_object_is_a_one_line_error(sweep: Path) -> None:
    from conftest import run_cli

    bad = sweep / "0" / "results.json"
    bad.write_text(json.dumps({"status": "completed", "best": "oops"}))
    proc = run_cli(["compare", str(sweep)], cwd=sweep)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {bad}: 'best' must be an object of metric values, not str"


@pytest.mark.reliability
@pytest.mark.fault("results.json with a number too large for a float (10**400)", "one-line error naming the file")
def test_a_metric_too_large_for_a_float_is_a_one_line_error(sweep: Path) -> None:
    from conftest import run_cli

    bad = sweep / "1" / "results.json"
    bad.write_text('{"status": "completed", "test": {"test/acc": 1' + "0" * 400 + "}}")
    proc = run_cli(["compare", str(sweep)], cwd=sweep)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {bad}: test.test/acc is a number too large for a float"


@pytest.mark.reliability
@pytest.mark.fault("compare --out naming a file", "one-line error, the file untouched")
def test_out_naming_a_file_is_a_one_line_error(sweep: Path, tmp_path: Path) -> None:
    from dlrun.errors import DlrunError

    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    with pytest.raises(DlrunError) as err:
        main([str(sweep), "--out", str(target)])
    assert str(err.value) == f"--out {target} is a file; give a folder for compare.csv and compare.md"
    assert target.read_text() == "keep me"


@pytest.mark.reliability
@pytest.mark.fault("compare into a folder that cannot be written", "one-line error naming --out")
@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (a tree nobody, root included, can write)")
def test_an_unwritable_folder_is_a_one_line_error(sweep: Path) -> None:
    from dlrun.errors import DlrunError

    out = Path("/proc/dlrun-compare-out")  # mkdir fails here even for root, unlike a chmod 555 dir
    with pytest.raises(DlrunError) as err:
        main([str(sweep), "--out", str(out)])
    assert str(err.value).startswith(f"cannot write compare.csv/compare.md into {out}: ")
    assert str(err.value).endswith("choose another folder with --out DIR")


def test_sort_direction_follows_the_recorded_mode(tmp_path: Path) -> None:
    """A run that monitors val/score with mode=min: smallest test/score first, though the name alone
    would say larger is better."""
    for n, (lr, score) in enumerate([(0.1, 0.3), (0.01, 0.1), (0.001, 0.2)]):
        path = tmp_path / "sweep" / str(n)
        path.mkdir(parents=True)
        (path / "results.json").write_text(json.dumps({
            "status": "completed", "seed": 1, "monitor": "val/score", "mode": "min",
            "hparams": {"optimizer.lr": lr, "seed": 1}, "best": {"val/score": score}, "test": {"test/score": score}}))
    main([str(tmp_path / "sweep"), "--metrics", "test/score"])
    assert [r["optimizer.lr"] for r in rows(tmp_path / "sweep" / "compare.csv")] == ["0.01", "0.001", "0.1"]


def test_run_control_overrides_are_not_hyperparameters_of_a_run_without_hparams() -> None:
    from dlrun.compare import hparams_of

    results = {"seed": 3, "overrides": ["optimizer.lr=0.1", "ckpt_path=a/last.pt", "sweep.resume=s",
                                        "resume.allow_changes=[optimizer]", "hydra.run.dir=x", "+model.dropout=0.2"]}
    assert hparams_of(results) == {"optimizer.lr": "0.1", "model.dropout": "0.2", "seed": 3}
