"""results.json: one file per run (train, eval, a sweep job) with its status and metrics, written
atomically. `Results` is the one type that train, eval, compare and the sweep callback share: the
file name, the fields, the metric lookup and the monitored metric's direction live here only."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Any

from dlrun.atomic import atomic_write
from dlrun.errors import DlrunError

RESULTS_FILE = "results.json"
ATTEMPT_PREFIX = "attempt-"  # earlier attempts of a resumed sweep job: <job dir>/attempt-<k>/
METRIC_SECTIONS = ("test", "best", "final")  # a metric is looked up in this order
STATUSES = ("completed", "failed", "interrupted", "skipped")
# Files written before `mode` was recorded: a metric's direction guessed from its name.
_LOWER_IS_BETTER = re.compile(r"loss|err|perplexity|ppl|mse|mae|rmse|time|epe", re.I)

FIELDS: dict[str, str] = {
    "status": "completed / failed / interrupted / skipped",
    "error": "why a run did not complete (one line)",
    "name": "the run's name", "run_dir": "where it ran",
    "monitor": "the metric that picks the best epoch", "mode": "min or max: the monitor's direction",
    "best_epoch": "epoch of the best monitor value", "best": "validation metrics at the best epoch",
    "final": "metrics of the last epoch", "test": "test metrics (eval: the chosen split's)",
    "epochs_run": "epochs trained", "global_step": "optimizer steps", "stopped_early": "early stopping fired",
    "wall_time_s": "seconds start to end", "num_params": "trainable and frozen parameters",
    "seed": "the run's seed", "deterministic": "trainer.deterministic", "world_size": "DDP processes",
    "overrides": "the command's overrides", "hparams": "group choices and overridden values (compare's columns)",
    "tags": "free-form labels", "resumed_from": "the checkpoint the run continued", "resume_changes": "config changes a resume applied (resume.allow_changes): {key: [old, new]}", "git_commit": "dlrun's commit",
    "early_stopping": "Alg 7.2 / 7.3: i*, the second phase's steps, the test before it (dlrun.retrain)",
    "config": "the resolved config", "ckpt": "eval: the checkpoint", "split": "eval: the split", "epoch": "eval: the checkpoint's epoch",
}


class Results(dict[str, Any]):
    """A run's results.json as a dict (keys: FIELDS), with the lookups every reader needs."""

    @classmethod
    def read(cls, run_dir: Path) -> Results:
        """The results.json of `run_dir` (OSError / ValueError if missing or not JSON)."""
        data = json.loads((Path(run_dir) / RESULTS_FILE).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{Path(run_dir) / RESULTS_FILE} is not a JSON object")
        return cls(data)

    def write(self, run_dir: Path) -> None:
        """Write to `run_dir`/results.json atomically."""
        write_json_atomic(Path(run_dir) / RESULTS_FILE, dict(self))

    @property
    def completed(self) -> bool:
        return self.get("status") == "completed"

    def metric(self, name: str) -> float | None:
        """A metric by name: test, then best (validation at the best epoch), then final metrics,
        then a top-level number such as epochs_run or wall_time_s; None if there is none."""
        for section in METRIC_SECTIONS:
            value = (self.get(section) or {}).get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        value = self.get(name)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def require_metric(self, name: str) -> float:
        """`metric(name)`, or a one-line error listing the metrics there are."""
        value = self.metric(name)
        if value is None:
            raise DlrunError(f"optimized_metric: no metric '{name}' in the run's results "
                             f"(available: {', '.join(self.metric_names())})")
        return value

    def metric_names(self) -> list[str]:
        """Every metric of the metric sections, in lookup order, each once."""
        names: list[str] = []
        for section in METRIC_SECTIONS:
            names += [k for k in (self.get(section) or {}) if k not in names]
        return names

    def key_metrics(self) -> dict[str, float]:
        """Best-epoch validation metrics and test metrics (the sweep manifest's and HParams' columns)."""
        return {**(self.get("best") or {}), **(self.get("test") or {})}

    def higher_is_better(self, metric: str) -> bool | None:
        """The direction of `metric` from the recorded monitor/mode: the monitor itself or the same
        quantity of another split (val/acc, max -> test/acc is better higher); None if unknown."""
        monitor, mode = self.get("monitor"), self.get("mode")
        if not isinstance(monitor, str) or mode not in ("min", "max"):
            return None
        return mode == "max" if _quantity(metric) == _quantity(monitor) else None


def _quantity(metric: str) -> str:
    """`val/acc` -> `acc`: a metric's name without its split."""
    return metric.rpartition("/")[2]


def higher_is_better(metric: str, runs: list[Results]) -> bool:
    """A metric's direction: the runs' recorded monitor/mode where it names this quantity, else
    (files without `mode`, metrics no run monitors) lower for losses and errors, higher otherwise."""
    for results in runs:
        direction = results.higher_is_better(metric)
        if direction is not None:
            return direction
    return not _LOWER_IS_BETTER.search(metric)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON atomically, so readers never see a half-written file."""
    text = json.dumps(_finite(data), indent=2) + "\n"
    atomic_write(Path(path), lambda f: f.write(text.encode()))


METRICS_CSV = "metrics.csv"


def write_metrics_csv(path: Path, history: list[dict[str, Any]]) -> None:
    """metrics.csv: one row per finished epoch with every epoch metric (columns in first-seen order;
    a metric an epoch lacks, e.g. val/* between validations, is left empty). Written atomically."""
    import csv
    import io

    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(history)
    atomic_write(Path(path), lambda f: f.write(buffer.getvalue().encode()))


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def read_results(run_dir: Path) -> Results:
    return Results.read(run_dir)


def git_commit() -> str | None:
    """The commit of the dlrun checkout (None outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
