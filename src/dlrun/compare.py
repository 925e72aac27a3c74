"""`dlrun compare PATH...`: one table for many runs, seeds grouped as mean ± std (n). (About 300
lines: the command end to end; rows and renderings live in compare_table.py.)

Reads only results.json files (no torch): a multirun dir, run dirs, or any folder above them.
Runs whose hyperparameters differ only in `seed` form one row; the columns are the
hyperparameters that vary between the rows, then the chosen metrics. The table is printed and
written as CSV and Markdown; `--plot METRIC --x KEY` draws METRIC against one hyperparameter.
The rows and their renderings are dlrun.compare_table; what a results file holds and how a metric is
looked up is dlrun.results.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dlrun.compare_table import Group, Run, Table, build_table, render_markdown, render_terminal, write_csv
from dlrun import sweep
from dlrun.errors import DlrunError
from dlrun.overrides import is_run_control
from dlrun.results import ATTEMPT_PREFIX, METRIC_SECTIONS, RESULTS_FILE, Results, higher_is_better

GROUPED_OUT = ("seed",)  # keys that repeat a configuration instead of defining a new one


# -- finding and reading runs -------------------------------------------------------------------
def find_runs(paths: Iterable[str | Path]) -> list[Run]:
    """Every run under `paths` (a run dir, a multirun dir, or any folder above them); earlier
    attempts kept by a sweep resume (attempt-*) are left out."""
    runs: list[Run] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise DlrunError(f"no such file or directory: {path}")
        files = [path] if path.is_file() else ([path / RESULTS_FILE] if (path / RESULTS_FILE).is_file() else sorted(path.rglob(RESULTS_FILE)))
        for file in files:
            inside = file.parent.relative_to(path).parts if path.is_dir() else ()
            if file.name != RESULTS_FILE or any(part.startswith(ATTEMPT_PREFIX) for part in inside):
                continue
            resolved = file.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            runs.append(read_run(file))
    if not runs:
        raise DlrunError(f"no runs found (no {RESULTS_FILE}) under {', '.join(str(p) for p in paths)}")
    return runs


def read_run(file: Path) -> Run:
    try:
        results = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise DlrunError(f"cannot read {file}: {err}") from err
    if not isinstance(results, dict):
        raise DlrunError(f"{file} is not a dlrun results file")
    check_metric_sections(results, file)
    return Run(file.parent, Results(results), hparams_of(results))


def check_metric_sections(results: dict[str, Any], file: Path) -> None:
    """Refuse a results file whose metric sections are not objects of numbers that fit a float,
    so a hand-edited or foreign file is one clear error instead of a crash or a silent skip."""
    for section in METRIC_SECTIONS:
        metrics = results.get(section)
        if metrics is None:
            continue
        if not isinstance(metrics, dict):
            raise DlrunError(f"{file}: '{section}' must be an object of metric values, not {type(metrics).__name__}")
        for name, value in metrics.items():
            if isinstance(value, int) and not isinstance(value, bool):
                try:
                    float(value)
                except OverflowError:
                    raise DlrunError(f"{file}: {section}.{name} is a number too large for a float") from None


def hparams_of(results: dict[str, Any]) -> dict[str, Any]:
    """The run's hyperparameters: results.json's `hparams`, or else its override strings."""
    hparams = results.get("hparams")
    if isinstance(hparams, dict):
        return dict(hparams)
    params: dict[str, Any] = {}
    for override in results.get("overrides") or []:
        key, _, value = str(override).lstrip("+~").partition("=")
        if not is_run_control(key):
            params[key] = value
    if results.get("seed") is not None:
        params["seed"] = results["seed"]
    return params


# -- grouping -------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def varying_keys(runs: list[Run]) -> list[str]:
    """Hyperparameters (seed aside) whose value is not the same in every run, in first-seen order.
    An option of a group (optimizer.momentum) that only differs because the group's choice differs
    (sgd vs adam) is implied by that choice and left out."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.hparams if k not in keys and k not in GROUPED_OUT]

    def varies(key: str) -> bool:
        group = key.split(".", 1)[0]
        if group == key or group not in keys:
            return len({_text(r.hparams.get(key)) for r in runs}) > 1
        by_choice: dict[str, set[str]] = {}
        for r in runs:
            by_choice.setdefault(_text(r.hparams.get(group)), set()).add(_text(r.hparams.get(key)))
        return any(len(values) > 1 for values in by_choice.values())

    return [k for k in keys if varies(k)]


def group_runs(runs: list[Run], keys: list[str]) -> list[Group]:
    groups: dict[tuple[tuple[str, str], ...], Group] = {}
    for run in runs:
        key = tuple((k, _text(run.hparams.get(k))) for k in keys)
        groups.setdefault(key, Group(key)).runs.append(run)
    return list(groups.values())


def default_metrics(runs: list[Run]) -> list[str]:
    """Validation metrics at the best epoch, then test metrics, of the first completed run."""
    for run in runs:
        if run.completed:
            return [*(run.results.get("best") or {}), *(run.results.get("test") or {})]
    return []


def available_metrics(runs: list[Run]) -> list[str]:
    names: list[str] = []
    for run in runs:
        names += [k for k in run.results.metric_names() if k not in names]
    return names


def sort_groups(groups: list[Group], metric: str, descending: bool | None) -> list[Group]:
    """Best first by the mean of `metric` (direction from the runs' recorded monitor/mode unless
    given); rows without a value go last."""
    if descending is None:
        descending = higher_is_better(metric, [r.results for g in groups for r in g.runs])

    def key(group: Group) -> tuple[int, float]:
        mean = group.stats(metric)[0]
        if math.isnan(mean):
            return (1, 0.0)
        return (0, -mean if descending else mean)

    return sorted(groups, key=key)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def plot(groups: list[Group], keys: list[str], metric: str, x: str, path: Path) -> Path:
    """METRIC (mean ± std over seeds) against hyperparameter `x`, one line per setting of the
    other varying hyperparameters; log x-axis when numeric values span a decade or more."""
    from dlrun.plots.figure import new_figure

    others = [k for k in keys if k != x]
    lines: dict[tuple[tuple[str, str], ...], list[tuple[str, float, float]]] = {}
    for group in groups:
        mean, std, n = group.stats(metric)
        if n == 0:
            continue
        setting = dict(group.key)
        label = tuple((k, setting[k]) for k in others)
        lines.setdefault(label, []).append((setting[x], mean, 0.0 if math.isnan(std) else std))
    if not lines:
        raise DlrunError(f"--plot: no completed run has metric '{metric}'")
    numeric = all(_number(v) is not None for pts in lines.values() for v, _, _ in pts)
    categories = sorted({v for pts in lines.values() for v, _, _ in pts}, key=lambda v: (_number(v) or 0.0) if numeric else v)
    fig, ax = new_figure(figsize=(6.4, 4.2))
    for label, points in sorted(lines.items()):
        points.sort(key=lambda p: (_number(p[0]) or 0.0) if numeric else categories.index(p[0]))
        xs = [_number(p[0]) if numeric else categories.index(p[0]) for p in points]
        name = ", ".join(f"{k}={v}" for k, v in label) or metric
        ax.errorbar(xs, [p[1] for p in points], yerr=[p[2] for p in points], marker="o", capsize=3, label=name)
    if numeric:
        values = [_number(v) for v in categories]
        positive = [v for v in values if v is not None and v > 0]
        if len(positive) == len(values) and max(positive) / min(positive) >= 10:
            ax.set_xscale("log")
    else:
        ax.set_xticks(range(len(categories)), categories)
    ax.set_xlabel(x)
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    ax.grid(True, alpha=0.3)
    if len(lines) > 1 or others:
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# -- the command ----------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dlrun compare",
        description="Compare runs: one row per configuration, seeds grouped as mean ± std (n) (sample std, n-1).",
        epilog="examples:\n  dlrun compare outputs/multirun/2026-01-01_12-00-00_abc123\n"
               "  dlrun compare outputs/multirun/<dir> --metrics val/acc,test/acc --sort test/acc\n"
               "  dlrun compare outputs/multirun/<dir> --plot test/acc --x optimizer.lr",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="multirun dirs, run dirs, or folders above them")
    p.add_argument("--metrics", help="comma-separated metric names (default: best-epoch val metrics and test metrics)")
    p.add_argument("--sort", metavar="METRIC", help="order rows by this metric's mean, best first")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--ascending", action="store_true", help="smallest first (default for loss/error metrics)")
    order.add_argument("--descending", action="store_true", help="largest first (default for the others)")
    p.add_argument("--out", metavar="DIR", help="where compare.csv/.md go (default: the multirun dir if one PATH, else .)")
    p.add_argument("--plot", metavar="METRIC", help="also plot this metric against --x")
    p.add_argument("--x", metavar="KEY", help="the hyperparameter on the plot's x-axis (one of the varying columns)")
    p.add_argument("--baseline", metavar="KEY=VALUE", help="also each other configuration minus this one per metric: "
                   "difference of means, 95%% CI, Welch's t-test p (compare_baseline.csv/.md)")
    return p


def main(args: list[str]) -> int:
    """Entry of `dlrun compare`."""
    try:
        opts = parser().parse_args(args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    for line in sweep.sweep_states(opts.paths):
        print(line)
    runs = find_runs(opts.paths)
    keys = varying_keys(runs)
    metrics = [m.strip() for m in opts.metrics.split(",") if m.strip()] if opts.metrics else default_metrics(runs)
    known = available_metrics(runs)
    for metric in [*metrics, *([opts.sort] if opts.sort else []), *([opts.plot] if opts.plot else [])]:
        if metric not in known and not any(r.metric(metric) is not None for r in runs):
            raise DlrunError(f"unknown metric '{metric}' (available: {', '.join(known) or 'none: no run completed'})")
    baseline = _baseline(opts.baseline, keys)
    groups = group_runs(runs, keys)
    sort_by = opts.sort or (metrics[0] if metrics else None)
    if sort_by:
        groups = sort_groups(groups, sort_by, True if opts.descending else False if opts.ascending else None)
    table = build_table(groups, keys, metrics)
    out = Path(opts.out) if opts.out else _default_out(opts.paths)
    write_outputs(table, out)
    failed = sum(g.failed for g in groups)
    print(f"{len(runs)} runs, {len(groups)} configurations" + (f", {failed} runs did not complete" if failed else ""))
    print(render_terminal(table))
    print(f"\nwrote {out / 'compare.csv'} and {out / 'compare.md'}")
    if baseline is not None:
        from dlrun.compare_baseline import report

        report(groups, keys, metrics, baseline, out)
    if opts.plot:
        if not opts.x:
            raise DlrunError("--plot needs --x KEY (one of: " + (", ".join(keys) or "no hyperparameter varies") + ")")
        if opts.x not in keys:
            raise DlrunError(f"--x: '{opts.x}' does not vary between the runs (varying: {', '.join(keys) or 'none'})")
        name = re.sub(r"[^\w.-]+", "_", f"compare_{opts.plot}_vs_{opts.x}") + ".png"
        print(f"wrote {plot(groups, keys, opts.plot, opts.x, out / name)}")
    return 0


def _baseline(text: str | None, keys: list[str]) -> tuple[str, str] | None:
    """--baseline KEY=VALUE checked before anything is written (see compare_baseline.py)."""
    if text is None:
        return None
    from dlrun.compare_baseline import parse_baseline

    return parse_baseline(text, keys)




def write_outputs(table: Table, out: Path) -> None:
    """compare.csv and compare.md into `out`; an unusable folder is one line that names --out."""
    if out.exists() and not out.is_dir():
        raise DlrunError(f"--out {out} is a file; give a folder for compare.csv and compare.md")
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_csv(table, out / "compare.csv")
        (out / "compare.md").write_text(render_markdown(table))
    except OSError as err:
        raise DlrunError(f"cannot write compare.csv/compare.md into {out}: {err.strerror or err}; "
                         "choose another folder with --out DIR") from None


def _default_out(paths: list[str]) -> Path:
    if len(paths) == 1 and Path(paths[0]).is_dir() and not (Path(paths[0]) / RESULTS_FILE).exists():
        return Path(paths[0])
    return Path(".")
