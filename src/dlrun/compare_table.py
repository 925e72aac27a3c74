"""The rows of `dlrun compare`: runs, configurations (a run's seeds) with mean ± std per metric, and the
table as terminal text, Markdown and CSV (shared by the plain table and --baseline)."""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlrun.results import Results


@dataclass
class Run:
    """One run's results.json, with the hyperparameters that identify its configuration."""

    path: Path
    results: Results
    hparams: dict[str, Any]

    @property
    def completed(self) -> bool:
        return self.results.get("status") == "completed"

    def metric(self, name: str) -> float | None:
        """A metric by name (see Results.metric)."""
        return self.results.metric(name)


@dataclass
class Group:
    """The runs of one configuration (usually the seeds of it)."""

    key: tuple[tuple[str, str], ...]
    runs: list[Run] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        found = [r.metric(metric) for r in self.runs if r.completed]
        return [v for v in found if v is not None and math.isfinite(v)]

    def stats(self, metric: str) -> tuple[float, float, int]:
        """(mean, sample standard deviation (n-1; nan for one run), n) over completed runs."""
        values = self.values(metric)
        if not values:
            return math.nan, math.nan, 0
        std = statistics.stdev(values) if len(values) > 1 else math.nan
        return statistics.fmean(values), std, len(values)

    @property
    def failed(self) -> int:
        return sum(not r.completed for r in self.runs)


def fmt_stat(mean: float, std: float, n: int) -> str:
    if n == 0:
        return "-"
    if math.isnan(std):
        return f"{mean:.4f} (n={n})"
    return f"{mean:.4f} ± {std:.4f} (n={n})"


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    csv_header: list[str]
    csv_rows: list[list[Any]]


def build_table(groups: list[Group], keys: list[str], metrics: list[str]) -> Table:
    show_failed = any(g.failed for g in groups)
    header = [*keys, "runs", *(["failed"] if show_failed else []), *metrics]
    csv_header = [*keys, "runs", "failed"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std", "n")]
    rows, csv_rows = [], []
    for group in groups:
        values = [v for _, v in group.key]
        stats = [group.stats(m) for m in metrics]
        rows.append([*values, str(len(group.runs)), *([str(group.failed)] if show_failed else []),
                     *(fmt_stat(*s) for s in stats)])
        csv_rows.append([*values, len(group.runs), group.failed] + [_csv_number(x) for s in stats for x in s])
    return Table(header, rows, csv_header, csv_rows)


def _csv_number(value: float | int) -> Any:
    return "" if isinstance(value, float) and math.isnan(value) else value


def render_terminal(table: Table) -> str:
    widths = [max(len(h), *(len(r[i]) for r in table.rows)) if table.rows else len(h) for i, h in enumerate(table.header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(table.header), line(["-" * w for w in widths]), *(line(r) for r in table.rows)])


def render_markdown(table: Table) -> str:
    escape = lambda c: c.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(escape, table.header)) + " |", "|" + "|".join("---" for _ in table.header) + "|"]
    lines += ["| " + " | ".join(map(escape, r)) + " |" for r in table.rows]
    return "\n".join(lines) + "\n"


def write_csv(table: Table, path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.csv_header)
        writer.writerows(table.csv_rows)
