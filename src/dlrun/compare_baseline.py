"""`dlrun compare --baseline KEY=VALUE`: each other configuration against the baseline, per metric:
difference of means over seeds, its 95 % confidence interval and Welch's t-test p-value, flagging
differences that fewer than 3 seeds on a side cannot support."""

from __future__ import annotations

import math
from pathlib import Path

from dlrun.compare_table import Group, Table, render_markdown, render_terminal, write_csv
from dlrun.errors import DlrunError
from dlrun.stats import Difference, welch

FEW_SEEDS = "n<3: too few seeds"


def parse_baseline(text: str, keys: list[str]) -> tuple[str, str]:
    """`KEY=VALUE` -> (key, value); KEY must be a hyperparameter that varies between the runs."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise DlrunError(f"--baseline: expected KEY=VALUE (e.g. optimizer=sgd), got '{text}'")
    if key not in keys:
        raise DlrunError(f"--baseline: '{key}' does not vary between the runs (varying: {', '.join(keys) or 'none'})")
    return key, value


def pairs(groups: list[Group], key: str, value: str) -> list[tuple[Group, Group]]:
    """(configuration, its baseline) for every configuration whose `key` is not `value`; the
    baseline is the configuration equal to it in every other varying key, with key = value."""
    def rest(group: Group) -> tuple[tuple[str, str], ...]:
        return tuple(kv for kv in group.key if kv[0] != key)

    baselines = {rest(g): g for g in groups if dict(g.key).get(key) == value}
    if not baselines:
        found = sorted({dict(g.key).get(key, "-") for g in groups})
        raise DlrunError(f"--baseline: no run has {key}={value} (values: {', '.join(found)})")
    return [(g, baselines[rest(g)]) for g in groups if dict(g.key).get(key) != value and rest(g) in baselines]


def _num(x: float, sign: bool = False) -> str:
    return "-" if math.isnan(x) else (f"{x:+.4f}" if sign else f"{x:.4f}")


def _p(p: float) -> str:
    return "-" if math.isnan(p) else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def _csv(x: float) -> float | str:
    return "" if math.isnan(x) else x


def build_baseline_table(groups: list[Group], keys: list[str], metrics: list[str], key: str, value: str) -> Table:
    """One row per (configuration, metric): configuration - baseline, 95 % CI, Welch p, n per side."""
    header = [*keys, "metric", "diff vs " + f"{key}={value}", "95% CI", "p (Welch)", "n", "note"]
    csv_header = [*keys, "baseline", "metric", "diff", "ci_low", "ci_high", "p_value", "t", "df", "n", "n_baseline",
                  "too_few_seeds"]
    rows: list[list[str]] = []
    csv_rows: list[list[object]] = []
    for group, base in pairs(groups, key, value):
        settings = [v for _, v in group.key]
        for metric in metrics:
            d: Difference = welch(group.values(metric), base.values(metric))
            if d.n_a == 0 or d.n_b == 0:
                continue
            ci = "-" if math.isnan(d.low) else f"[{_num(d.low, True)}, {_num(d.high, True)}]"
            rows.append([*settings, metric, _num(d.diff, True), ci, _p(d.p_value), f"{d.n_a} vs {d.n_b}",
                         FEW_SEEDS if d.too_few else ""])
            csv_rows.append([*settings, f"{key}={value}", metric, d.diff, _csv(d.low), _csv(d.high), _csv(d.p_value),
                             _csv(d.t), _csv(d.df), d.n_a, d.n_b, d.too_few])
    return Table(header, rows, csv_header, csv_rows)


def report(groups: list[Group], keys: list[str], metrics: list[str], baseline: tuple[str, str], out: Path) -> Table:
    """Print the baseline table and write it as compare_baseline.csv and compare_baseline.md in `out`."""
    key, value = baseline
    table = build_baseline_table(groups, keys, metrics, key, value)
    print(f"\ndifferences from {key}={value} (mean over seeds; 95% CI and p-value of Welch's t-test):")
    print(render_terminal(table) if table.rows else "  no other configuration with completed runs to compare")
    try:
        write_csv(table, out / "compare_baseline.csv")
        (out / "compare_baseline.md").write_text(
            f"Differences from `{key}={value}`: mean over seeds, 95 % CI and p-value of Welch's t-test "
            f"(`{FEW_SEEDS}`: a side has fewer than 3 runs).\n\n" + render_markdown(table))
    except OSError as err:
        raise DlrunError(f"cannot write compare_baseline.csv/.md into {out}: {err.strerror or err}") from None
    print(f"wrote {out / 'compare_baseline.csv'} and {out / 'compare_baseline.md'}")
    return table
