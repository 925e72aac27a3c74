"""A real TensorBoard server on loopback over a 2x2 sweep (optimizer x seed, one epoch on gmm2d),
read through its HTTP API as the browser reads it: run names say what differs, no `hparams/*`
scalar tags, the custom-scalars layout is served, HParams session groups carry the metric values."""

from __future__ import annotations

import json
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

pytestmark = pytest.mark.slow  # four training jobs and a server start: ~1 min on 2 CPU cores
START_TIMEOUT_S = 90
JOBS = {"0_optimizer-sgd_seed-1": ("sgd", 1), "1_optimizer-sgd_seed-2": ("sgd", 2),
        "2_optimizer-adam_seed-1": ("adam", 1), "3_optimizer-adam_seed-2": ("adam", 2)}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dlrun.cli import main

    sweep = tmp_path_factory.mktemp("tb") / "sweep"
    code = main(["train", "-m", "optimizer=sgd,adam", "seed=1,2", "trainer.max_epochs=1", "trainer.progress_bar=false",
                 "trainer.device=cpu", f"hydra.sweep.dir={sweep}"])
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
    assert set(runs) - set(JOBS) <= {"."}  # the sweep's own HParams column definitions
    for name, (optimizer, seed) in JOBS.items():
        assert read_results(sweep_dir / name)["hparams"]["optimizer"] == optimizer
        assert read_results(sweep_dir / name)["seed"] == seed


def test_scalar_tags_are_curves_and_final_metrics_without_hparams_copies(server: str, sweep_dir: Path) -> None:
    tags = get(server, "data/plugin/scalars/tags")
    for name in JOBS:
        run_tags = set(tags[name])
        assert not any(t.startswith("hparams/") for t in run_tags)
        assert {"train/loss", "val/loss", "val/acc", "lr", "test/acc", "test/loss"} <= run_tags
        query = urllib.parse.urlencode({"run": name, "tag": "test/acc"})
        points = get(server, f"data/plugin/scalars/scalars?{query}")  # [[wall_time, step, value], ...]
        assert len(points) == 1 and points[0][1] == 1  # one point, at the last (only) epoch
        assert points[0][2] == pytest.approx(read_results(sweep_dir / name)["test"]["test/acc"], rel=1e-6)


def test_custom_scalars_layout_is_served(server: str) -> None:
    layout = get(server, "data/plugin/custom_scalars/layout")
    (training,) = [c for c in layout["category"] if c["title"].startswith("training")]
    charts = {c["title"]: c["multiline"]["tag"] for c in training["chart"]}  # merged over runs, no duplicates
    assert charts == {"loss": ["^train/loss$", "^val/loss$"], "acc": ["^train/acc$", "^val/acc$"],
                      "learning rate": ["^lr$"], "gradient norm": ["^train/grad_norm$"]}


def test_hparams_session_groups_carry_the_metric_values(server: str, sweep_dir: Path) -> None:
    experiment = get(server, "data/plugin/hparams/experiment", {"experimentName": ""})
    metric_tags = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert {"val/loss", "val/acc", "test/acc"} <= metric_tags and not any(t.startswith("hparams/") for t in metric_tags)
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
        assert values["test/acc"] == pytest.approx(results["test"]["test/acc"], rel=1e-6)
        assert values["val/acc"] == pytest.approx(results["final"]["val/acc"], rel=1e-6)
