"""Sweeps under a careless or hostile user: the manifest changed, truncated or malformed, two resumes
at once, a bad value late in a big grid, sweep.resume without -m. Each case feeds docs/reliability.md."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAST
from dlrun import sweep, sweep_grid

pytestmark = pytest.mark.reliability
TINY = [*FAST, "trainer.max_epochs=1"]


class TamperingTask:
    """A classification task whose set-up overwrites sweep.json with a manifest that lost every
    job but job 0 (as an editor, a second sweep or a careless script might)."""

    def __new__(cls, loss: object, manifest: str, **options: object) -> object:
        from dlrun.tasks.classification import ClassificationTask

        class _Task(ClassificationTask):
            def setup(self, data, device):  # type: ignore[no-untyped-def]
                path = Path(manifest)
                data_ = json.loads(path.read_text())
                data_["jobs"] = {"0": data_["jobs"]["0"]}
                path.write_text(json.dumps(data_))
                return super().setup(data, device)

        return _Task(loss, **options)


def _sweep(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).parent)])}
    return subprocess.run([sys.executable, "-m", "dlrun", "train", "-m", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.fault("sweep.json overwritten by someone else during the sweep",
                   "detected at the next job: one-line error, the manifest left as found (not rebuilt), non-zero exit")
def test_a_manifest_changed_mid_sweep_is_detected_not_rebuilt(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = _sweep([*TINY, "seed=1,2", f"hydra.sweep.dir={sweep_dir}", "task._target_=test_reliability_sweeps.TamperingTask",
                   f"+task.manifest={sweep_dir / 'sweep.json'}"], tmp_path)
    assert proc.returncode != 0
    manifest = sweep_dir / "sweep.json"
    assert proc.stderr.splitlines() == [
        f"error: job 1 not run: {manifest} has no entry for job 1: it was changed by someone else during the sweep and is left as found",
        f"error: {manifest} lost the entries of jobs 1: it was changed by someone else during the sweep and is left as found"]
    assert "Traceback" not in proc.stderr
    assert list(json.loads((sweep_dir / "sweep.json").read_text())["jobs"]) == ["0"]  # left as found


@pytest.fixture
def finished_sweep(tmp_path: Path) -> Path:
    from dlrun.cli import main

    sweep_dir = tmp_path / "sweep"
    assert main(["train", "-m", *TINY, "seed=1,2", f"hydra.sweep.dir={sweep_dir}"]) == 0
    return sweep_dir


@pytest.mark.fault("sweep.json truncated, or with 'jobs' a list, then sweep.resume",
                   "one line naming the problem and one way forward (move it aside, rerun: rebuilt from the job dirs)")
def test_a_broken_manifest_has_one_way_forward(finished_sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    path = finished_sweep / "sweep.json"
    good = json.loads(path.read_text())
    resume = ["train", "-m", *TINY, "seed=1,2", f"sweep.resume={finished_sweep}"]
    capsys.readouterr()
    for broken, problem in ((path.read_text()[:80], "unreadable (truncated, or not JSON)"),
                            (json.dumps({**good, "jobs": list(good["jobs"].values())}), "malformed (its 'jobs' is not a map of job entries)")):
        path.write_text(broken)
        assert main(resume) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"error: sweep.resume: {path} is {problem}; move it aside (mv {path} {path}.broken) and rerun this "
                       "command: the manifest is rebuilt from the grid and the job dirs (completed jobs are skipped)")
    path.rename(finished_sweep / "sweep.json.broken")
    assert main(resume) == 0
    assert "job 0: completed before, skipped" in capsys.readouterr().out
    rebuilt = json.loads(path.read_text())
    assert [j["status"] for j in sweep.sorted_jobs(rebuilt)] == ["completed", "completed"]
    assert rebuilt["overrides"] == good["overrides"]


@pytest.mark.fault("a second sweep.resume of a sweep whose first resume is running",
                   "refused with one line: the check and the start are one step under the sweep lock")
def test_a_resume_claims_the_sweep_under_its_lock(finished_sweep: Path) -> None:
    jobs = sweep_grid.combinations([*TINY, "seed=1,2"])
    sweep.claim_for_resume(finished_sweep, [*TINY, "seed=1,2"], jobs)
    manifest = sweep.read_manifest(finished_sweep)
    assert manifest is not None and (manifest["status"], manifest["pid"], manifest["host"]) == ("running", os.getpid(), socket.gethostname())
    with pytest.raises(sweep.DlrunError, match=f"the sweep in {finished_sweep} is still running \\(pid {os.getpid()}\\)"):
        sweep.claim_for_resume(finished_sweep, [*TINY, "seed=1,2"], jobs)


def test_covering_jobs_hold_every_value_of_every_key() -> None:
    seeds = ",".join(str(i) for i in range(64)) + ",abc"
    jobs = sweep_grid.covering([f"seed={seeds}", "optimizer.lr=0.1,0.2", "model=mlp,logreg"], ["model"], limit=64)
    assert len(jobs) == 2 * 65  # each model choice x the longest value list
    assert {"seed=abc", "optimizer.lr=0.1", "optimizer.lr=0.2"} <= {o for job in jobs for o in job}
    assert {tuple(j[2] for j in jobs if "seed=abc" in j)} == {("model=mlp", "model=logreg")}
    assert sweep_grid.covering(["seed=1,2", "optimizer.lr=0.1,0.2"], [], limit=64) == sweep_grid.combinations(["seed=1,2", "optimizer.lr=0.1,0.2"])


@pytest.mark.slow
@pytest.mark.fault("a bad value after the 64th job of a grid (seed=0,...,63,abc)", "one-line error naming the value before any job runs")
def test_a_bad_value_late_in_a_big_grid_is_caught_before_any_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    seeds = ",".join(str(i) for i in range(64)) + ",abc"
    assert main(["train", "-m", *TINY, f"seed={seeds}", f"hydra.sweep.dir={tmp_path / 's'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: job ") and " seed=abc " in err and err.endswith(": seed: expected an integer, got 'abc'")
    assert not (tmp_path / "s").exists()
