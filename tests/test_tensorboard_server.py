"""A real TensorBoard server on loopback over a 2x2 sweep (optimizer x seed, one epoch on gmm2d, all figures),
read through its HTTP API as the browser reads it: run names say what differs (the sweep's HParams
columns are a run named for them, not `.`), no `hparams/*` scalar tags, the Time Series groups put
the curves before the final test group (ordered as TensorBoard's frontend orders them), one
learning-rate series per tag, the custom-scalars layout is served, HParams session groups carry the
metric values."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import read_results
from dlrun.run_logger import SWEEP_RUN

pytestmark = pytest.mark.slow  # four training jobs and a server start: ~1 min on 2 CPU cores
START_TIMEOUT_S = 90
LOG_EVERY = 5  # step-level scalars (train/lr_step, train/grad_norm) every 5 of the epoch's 17 steps
JOBS = {"0_optimizer-sgd_seed-1": ("sgd", 1), "1_optimizer-sgd_seed-2": ("sgd", 2),
        "2_optimizer-adam_seed-1": ("adam", 1), "3_optimizer-adam_seed-2": ("adam", 2)}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dlrun.cli import main

    sweep = tmp_path_factory.mktemp("tb") / "sweep"
    code = main(["train", "-m", "optimizer=sgd,adam", "seed=1,2", "trainer.max_epochs=1", "trainer.progress_bar=false",
                 "trainer.device=cpu", f"trainer.log_every_n_steps={LOG_EVERY}", "sweep.figures=true", f"hydra.sweep.dir={sweep}"])
    assert code == 0
    return sweep


@pytest.fixture(scope="module")
def server(sweep_dir: Path) -> Iterator[str]:
    """`tensorboard --logdir <sweep> --host 127.0.0.1 --port 0` in a child process; yields its URL
    once all four runs are loaded; terminated (then killed) at the end."""
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(sweep_dir), "--host", "127.0.0.1", "--port", "0",
           "--reload_interval", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    found: list[str] = []
    lines: list[str] = []

    def read() -> None:  # the URL line comes on stderr; keep draining it so the server never blocks
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if match and not found:
                found.append(match.group(1))

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not found and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert found, f"TensorBoard did not start: {''.join(lines)[-2000:]}"
        url = found[0]
        while time.monotonic() < deadline and not set(JOBS) <= set(get(url, "data/runs")):
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def get(url: str, route: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + route, data=data, headers={"X-XSRF-Protected": "1", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_run_names_say_optimizer_and_seed(server: str, sweep_dir: Path) -> None:
    runs = get(server, "data/runs")
    assert set(JOBS) <= set(runs)
    assert set(runs) - set(JOBS) == {SWEEP_RUN}  # the sweep's own HParams column definitions, named for them
    assert "." not in runs
    for name, (optimizer, seed) in JOBS.items():
        assert read_results(sweep_dir / name)["hparams"]["optimizer"] == optimizer
        assert read_results(sweep_dir / name)["seed"] == seed


def test_scalar_tags_are_curves_and_final_metrics_without_hparams_copies(server: str, sweep_dir: Path) -> None:
    tags = get(server, "data/plugin/scalars/tags")
    for name in JOBS:
        run_tags = set(tags[name])
        assert not any(t.startswith("hparams/") for t in run_tags)
        assert {"train/loss", "val/loss", "val/acc", "train/lr", "zz_test/acc", "zz_test/loss"} <= run_tags
        assert not any(t.startswith("test/") for t in run_tags) and "lr" not in run_tags
        query = urllib.parse.urlencode({"run": name, "tag": "zz_test/acc"})
        points = get(server, f"data/plugin/scalars/scalars?{query}")  # [[wall_time, step, value], ...]
        assert len(points) == 1 and points[0][1] == 1  # one point, at the last (only) epoch
        assert points[0][2] == pytest.approx(read_results(sweep_dir / name)["test"]["test/acc"], rel=1e-6)


def test_custom_scalars_layout_is_served(server: str) -> None:
    layout = get(server, "data/plugin/custom_scalars/layout")
    (training,) = [c for c in layout["category"] if c["title"].startswith("training")]
    charts = {c["title"]: c["multiline"]["tag"] for c in training["chart"]}  # merged over runs, no duplicates
    assert charts == {"loss": ["^train/loss$", "^val/loss$"], "acc": ["^train/acc$", "^val/acc$"],
                      "learning rate": ["^train/lr$"], "gradient norm": ["^train/grad_norm$"]}


def test_hparams_session_groups_carry_the_metric_values(server: str, sweep_dir: Path) -> None:
    experiment = get(server, "data/plugin/hparams/experiment", {"experimentName": ""})
    varying = [h["name"] for h in experiment["hparamInfos"] if h.get("differs")]
    # the optimizer presets' own lr differ (sgd 0.1, adam 0.01); adam's betas, in adam's jobs only, do not
    assert varying == ["optimizer", "optimizer.lr", "seed"] == [h["name"] for h in experiment["hparamInfos"][:3]]
    metric_tags = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert {"val/loss", "val/acc", "zz_test/acc"} <= metric_tags and not any(t.startswith("hparams/") for t in metric_tags)
    shown = {m["name"]["tag"]: m.get("displayName", "") for m in experiment["metricInfos"]}
    assert shown["zz_test/acc"] == "test/acc" and shown["val/acc"] == ""  # columns named as in results.json
    groups = get(server, "data/plugin/hparams/session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 100, "colParams": [],
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]})
    sessions = {g["name"]: g for g in groups["sessionGroups"]}
    assert set(sessions) == set(JOBS)
    for name, (optimizer, seed) in JOBS.items():
        group = sessions[name]
        assert group["hparams"]["optimizer"] == optimizer and group["hparams"]["seed"] == seed
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        results = read_results(sweep_dir / name)
        assert values["zz_test/acc"] == pytest.approx(results["test"]["test/acc"], rel=1e-6)
        assert values["val/acc"] == pytest.approx(results["final"]["val/acc"], rel=1e-6)


def test_learning_rate_per_epoch_and_per_step_are_separate_series(server: str, sweep_dir: Path) -> None:
    """`train/lr` has one point per epoch (the lab's plot), `train/lr_step` one per logging step."""
    for name in JOBS:
        steps = {}
        for tag in ("train/lr", "train/lr_step"):
            query = urllib.parse.urlencode({"run": name, "tag": tag})
            steps[tag] = [p[1] for p in get(server, f"data/plugin/scalars/scalars?{query}")]
        global_step = read_results(sweep_dir / name)["global_step"]
        assert steps["train/lr"] == [1]
        assert steps["train/lr_step"] == list(range(LOG_EVERY, global_step + 1, LOG_EVERY)) == [5, 10, 15]


def compare_tag_names(a: str, b: str) -> int:
    """TensorBoard's frontend tag order (compareTagNames in its webapp, which the Time Series tab
    sorts its cards with), ported: runs of digits compare as numbers, `/` and digits come before
    any other character, the rest compares by character code."""
    def digit(c: str) -> bool:
        return "0" <= c <= "9"

    def breaks(c: str) -> bool:
        return c == "/" or digit(c)

    def number_end(s: str, i: int) -> int:  # a natural, real or exponent number starting before i
        state = "natural"
        while i < len(s):
            c = s[i]
            if state in ("natural", "real") and c in "eE":
                state = "exponent_sign"
            elif state == "natural" and c == ".":
                state = "real"
            elif state in ("natural", "real", "exponent"):
                if not digit(c):
                    break
            elif state == "exponent_sign":
                if not digit(c) and c not in "+-":
                    break
                state = "exponent"
            i += 1
        return i

    def number(s: str) -> float:
        try:
            return float(s)
        except ValueError:
            return math.nan  # JavaScript's Number("1e") is NaN, which is neither < nor >

    i = j = 0
    while True:
        if i == len(a):
            return 0 if j == len(b) else -1
        if j == len(b):
            return 1
        if digit(a[i]) and digit(b[j]):
            start_i, start_j = i, j
            i, j = number_end(a, i + 1), number_end(b, j + 1)
            x, y = number(a[start_i:i]), number(b[start_j:j])
            if x != y and not (math.isnan(x) or math.isnan(y)):
                return -1 if x < y else 1
        else:
            if breaks(a[i]):
                if not breaks(b[j]):
                    return -1
            elif breaks(b[j]):
                return 1
            elif a[i] != b[j]:
                return -1 if a[i] < b[j] else 1
            i, j = i + 1, j + 1


def time_series_groups(tags: set[str]) -> list[str]:
    """The Time Series tab's card groups in display order: cards sorted by tag, grouped by the tag
    up to its first `/`, groups in order of their first card (the first two start expanded)."""
    groups: list[str] = []
    for tag in sorted(tags, key=functools.cmp_to_key(compare_tag_names)):
        if tag.split("/", 1)[0] not in groups:
            groups.append(tag.split("/", 1)[0])
    return groups


def test_the_ported_frontend_order_on_known_pairs() -> None:
    ordered = ["a/2", "a/10", "a/b", "a_b", "test/acc", "time/epoch_s", "train/loss", "train/loss_step", "training_plot",
               "val/acc", "x1.25", "x1.5", "x1e3", "zz_test/acc"]
    for k, tag in enumerate(ordered):
        for other in ordered[k + 1:]:
            assert compare_tag_names(tag, other) == -1 and compare_tag_names(other, tag) == 1, (tag, other)
        assert compare_tag_names(tag, tag) == 0
    assert compare_tag_names("A", "a") == -1 and compare_tag_names("val", "val/acc") == -1
    assert time_series_groups({"val/acc", "test/acc", "train/loss", "lr"}) == ["lr", "test", "train", "val"]  # the old tags


def test_time_series_shows_the_curves_before_the_final_test_group(server: str) -> None:
    """Every scalar and image tag of the sweep, grouped and ordered as the Time Series tab does: the
    training curves first (with lr and the epoch's times), the test metrics and figures one group
    after `train` and `val`; the lab's static 2x2 plot (`training_plot`) sorts between them."""
    scalars, images = get(server, "data/plugin/scalars/tags"), get(server, "data/plugin/images/tags")
    tags = {tag for name in JOBS for tag in [*scalars[name], *images[name]]}
    assert {"zz_test/acc", "zz_test/confusion_matrix", "zz_test/decision_surface", "training_plot"} <= tags
    assert {"train/epoch_s", "train/samples_per_s", "train/lr"} <= tags and not any(t.startswith("time/") for t in tags)
    groups = time_series_groups(tags)
    assert groups == ["train", "training_plot", "val", "zz_test"]  # the first two start open
