"""dlrun on a real single-node Slurm cluster (munge + slurmctld + slurmd started by
scripts/slurm_cluster.sh): a sweep through hydra/launcher=slurm, a time limit and a SIGTERM that
requeue a job which then resumes bit for bit, DDP over two Slurm tasks; and the pieces that need no
cluster (the request check against sinfo, Slurm's environment turned into torch.distributed's).

Without Slurm (and without root/apt to install it) the cluster tests skip with the reason; CI sets
DLRUN_REQUIRE_SLURM=1, which turns that skip into a failure."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import job_dir, read_results, run_cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm_cluster.sh"
QUICK = ["trainer.progress_bar=false", "trainer.device=cpu"]
ONE_CPU = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
# a run that needs well over a 2-minute Slurm job: its epoch count is fitted to this machine's speed
# (long_run), since a fixed count finishes inside the limit on a fast or quiet machine
LONG = ["seed=1", "dataset.samples_per_component=3000", *QUICK]
LONG_TRAINING_S = 150.0
# about 30 s: long enough to be signalled in the middle of training
MEDIUM = ["seed=2", "trainer.max_epochs=20", "dataset.samples_per_component=3000", *QUICK]
COMPARED = ("best", "final", "test", "best_epoch", "epochs_run", "global_step")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("DLRUN_REQUIRE_SLURM") == "1":
        pytest.fail(f"DLRUN_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A running single-node Slurm cluster for the session: the environment that reaches it."""
    if sys.platform != "linux" or not hasattr(os, "geteuid"):
        _unavailable("the Slurm tests need Linux")
    if shutil.which("slurmctld", path=f"{os.environ.get('PATH', '')}:/usr/sbin") is None or shutil.which("sbatch") is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            _unavailable("Slurm is not installed and cannot be installed here (needs root and apt-get)")
        out = subprocess.run(["bash", str(SCRIPT), "install"], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            _unavailable(f"installing Slurm failed: {out.stderr.strip()[-300:]}")
    as_root = [] if os.geteuid() == 0 else ["sudo", "-n", "--preserve-env"]
    if as_root and subprocess.run([*as_root, "true"], capture_output=True).returncode != 0:
        _unavailable("starting slurmctld/slurmd needs root (or sudo without a password)")
    state = tmp_path_factory.mktemp("slurm")
    env = {"DLRUN_SLURMCTLD_PORT": str(_free_port()), "DLRUN_SLURMD_PORT": str(_free_port())}
    out = subprocess.run([*as_root, "bash", str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env})
    if out.returncode != 0:
        _unavailable(f"the Slurm cluster did not start: {out.stderr.strip()[-500:]}")
    cluster = {"SLURM_CONF": str(state / "slurm.conf"), "OMP_NUM_THREADS": "1"}
    stop = threading.Event()
    bumper = threading.Thread(target=_skip_requeue_delay, args=({**os.environ, **cluster}, stop), daemon=True)
    bumper.start()
    yield cluster
    stop.set()
    bumper.join()
    subprocess.run([*as_root, "bash", str(SCRIPT), "stop", str(state)], capture_output=True, timeout=120, env={**os.environ, **env})


def _skip_requeue_delay(env: dict[str, str], stop: threading.Event) -> None:
    """Slurm holds a requeued job for two minutes before it may start again; make such jobs
    eligible at once so that the suite stays short (what the job does is unchanged)."""
    held_since: dict[str, float] = {}
    while not stop.wait(1.0):
        out = subprocess.run(["squeue", "-h", "-t", "PD", "-o", "%i %r"], capture_output=True, text=True, env=env)
        for line in out.stdout.splitlines():
            job, _, reason = line.partition(" ")
            if reason.strip() != "BeginTime":
                continue
            # not in the second of the requeue: slurmd would take the new start's credential for the
            # revoked one ("Killing non-startable batch job: Job credential revoked") and fail the job
            if time.monotonic() - held_since.setdefault(job, time.monotonic()) >= 3.0:
                subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], capture_output=True, env=env)
                held_since.pop(job, None)


def _cli(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd=cwd, env=env, timeout=timeout)


def _manifest(sweep_dir: Path) -> dict[str, Any]:
    return json.loads((sweep_dir / "sweep.json").read_text())


def _started_job_dir(sweep_dir: Path, num: int) -> Path | None:
    """A job's run dir once the manifest records it (the job has started), else None."""
    try:
        return job_dir(sweep_dir, num)
    except (OSError, ValueError, KeyError):
        return None


def _reference(overrides: list[str], cwd: Path) -> dict[str, Any]:
    """The same run uninterrupted, on this machine without Slurm."""
    proc = run_cli(["train", *overrides, f"hydra.run.dir={cwd / 'reference'}"], cwd=cwd, env={"OMP_NUM_THREADS": "1"}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return read_results(cwd / "reference")


def long_run(cwd: Path) -> list[str]:
    """LONG with enough epochs for about LONG_TRAINING_S seconds of training here (at least 60),
    measured by a 4-epoch run without Slurm."""
    import math

    proc = run_cli(["train", *LONG, "trainer.max_epochs=4", f"hydra.run.dir={cwd / 'calibration'}"], cwd=cwd,
                   env={"OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    epoch_s = float(read_results(cwd / "calibration")["final"]["time/epoch_s"])
    return [*LONG, f"trainer.max_epochs={max(60, math.ceil(LONG_TRAINING_S / max(epoch_s, 1e-3)))}"]


def _same_results(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Every metric equal (bit for bit: JSON keeps a float's shortest exact repr); timings differ."""
    def metrics(results: dict[str, Any]) -> dict[str, Any]:
        kept = {k: results[k] for k in COMPARED}
        kept["final"] = {k: v for k, v in kept["final"].items() if not k.startswith("time/")}
        return kept

    assert metrics(a) == metrics(b)


class Background(threading.Thread):
    """A function run in a thread; `result()` joins and returns it (or raises what it raised)."""

    def __init__(self, fn: Any, *args: Any) -> None:
        super().__init__(daemon=True)
        self.fn, self.args, self.value, self.error = fn, args, None, None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.fn(*self.args)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            self.error = err

    def result(self) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


# -- on the cluster ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_job_sweep_through_the_slurm_preset_completes(slurm: dict[str, str], tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = _cli(["train", "-m", "seed=1,2", "trainer.max_epochs=1", *QUICK, *ONE_CPU, f"hydra.sweep.dir={sweep_dir}"],
                tmp_path, slurm)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = _manifest(sweep_dir)
    assert [data["jobs"][n]["status"] for n in ("0", "1")] == ["completed", "completed"]
    assert all(data["jobs"][n]["slurm_job_id"] for n in ("0", "1"))
    assert [read_results(job_dir(sweep_dir, n))["seed"] for n in ("0", "1")] == [1, 2]
    # the CPU run asked Slurm for no GPU, 1 CPU and 1 GB (sbatch script written by submitit)
    script = next((sweep_dir / ".submitit").glob("*/*_submission.sh")).read_text()
    assert "#SBATCH --cpus-per-task=1" in script and "#SBATCH --mem=1GB" in script and "gpu" not in script


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.fault("Slurm time limit reached during training",
                   "the step finishes, last.pt is written, the job is requeued and resumes; results equal the uninterrupted run's")
def test_a_time_limit_requeues_the_job_which_resumes_to_the_uninterrupted_results(slurm: dict[str, str], tmp_path: Path) -> None:
    long = long_run(tmp_path)
    reference = Background(_reference, long, tmp_path)  # on the other core meanwhile
    sweep_dir = tmp_path / "sweep"
    # Slurm checks time limits on a 30-s tick and signals up to 30 s early: with a 2-minute limit and
    # signal_delay_s=1 the signal comes 89-119 s into each attempt, so start-up on a busy machine
    # leaves each attempt a minute of training at least (with 1 minute it could leave none)
    proc = _cli(["train", "-m", *long, *ONE_CPU, "hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=1",
                 "hydra.launcher.max_num_timeout=10",
                 f"hydra.sweep.dir={sweep_dir}"], tmp_path, slurm, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    job = _manifest(sweep_dir)["jobs"]["0"]
    assert job["status"] == "completed"
    assert job["requeues"] >= 1 and job["attempts"] == job["requeues"] + 1
    run_dir = job_dir(sweep_dir, 0)
    assert (run_dir / "attempt-1" / "results.json").is_file()  # the first attempt, stopped at its limit
    assert json.loads((run_dir / "attempt-1" / "results.json").read_text())["status"] == "interrupted"
    results = read_results(run_dir)
    assert results["status"] == "completed" and results["resumed_from"]
    _same_results(results, reference.result())


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.fault("Slurm preemption (scancel --signal=TERM) during training",
                   "the job is requeued and resumes; results equal the uninterrupted run's")
def test_scancel_signal_term_requeues_the_job_which_resumes_to_the_uninterrupted_results(slurm: dict[str, str], tmp_path: Path) -> None:
    reference = Background(_reference, MEDIUM, tmp_path)
    sweep_dir = tmp_path / "sweep"
    sweep = Background(_cli, ["train", "-m", *MEDIUM, *ONE_CPU, f"hydra.sweep.dir={sweep_dir}"], tmp_path, slurm)
    def first_epoch_done() -> bool:
        run_dir = _started_job_dir(sweep_dir, 0)
        return run_dir is not None and (run_dir / "checkpoints" / "last.pt").exists()

    _wait_for(first_epoch_done, 300, "the job's first epoch")
    job_id = _manifest(sweep_dir)["jobs"]["0"]["slurm_job_id"]
    subprocess.run(["scancel", "--signal=TERM", job_id], check=True, env={**os.environ, **slurm})
    proc = sweep.result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    job = _manifest(sweep_dir)["jobs"]["0"]
    assert (job["status"], job["requeues"], job["attempts"]) == ("completed", 1, 2)
    results = read_results(job_dir(sweep_dir, 0))
    assert results["resumed_from"] == str(job_dir(sweep_dir, 0) / "attempt-1" / "checkpoints" / "last.pt")
    _same_results(results, reference.result())


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.fault("a Slurm job killed outright (kill -9, OOM killer) on a cluster without accounting",
                   "the sweep ends with one line naming the job instead of waiting for it forever")
def test_a_job_killed_outright_ends_the_sweep_with_one_line_instead_of_a_hang(slurm: dict[str, str], tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep = Background(_cli, ["train", "-m", *MEDIUM, *ONE_CPU, f"hydra.sweep.dir={sweep_dir}"], tmp_path, slurm, 300)
    def first_epoch_done() -> bool:
        run_dir = _started_job_dir(sweep_dir, 0)
        return run_dir is not None and (run_dir / "checkpoints" / "last.pt").exists()

    _wait_for(first_epoch_done, 300, "the job's first epoch")
    # the job's Python process, as the OOM killer would: no handler runs, no result is written
    subprocess.run(["pkill", "-9", "-f", f"submitit.core._submit {sweep_dir}"], check=True)
    proc = sweep.result()  # within its timeout: submitit's sacct-only watcher would wait forever here
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    job_id = _manifest(sweep_dir)["jobs"]["0"]["slurm_job_id"]
    assert f"error: the sweep stopped: Slurm job {job_id} ended without a result (state: FAILED" in proc.stderr, proc.stderr[-3000:]
    assert _manifest(sweep_dir)["jobs"]["0"]["status"] == "failed"
    assert f"sweep.resume={sweep_dir}" in proc.stdout  # the way to finish it


@pytest.mark.slow
@pytest.mark.parametrize("processes", [
    ["hydra.launcher.tasks_per_node=2", "hydra.launcher.cpus_per_task=1"],  # Slurm starts the 2 processes
    ["hydra.launcher.tasks_per_node=1", "hydra.launcher.cpus_per_task=2"],  # torchrun inside the job does
], ids=["slurm-tasks", "torchrun-in-job"])
def test_ddp_with_two_processes_in_one_slurm_job_trains_one_run_in_one_dir(slurm: dict[str, str], tmp_path: Path,
                                                                           processes: list[str]) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = _cli(["train", "-m", "seed=3", "trainer.max_epochs=2", *QUICK, *ONE_CPU, *processes,
                 "trainer.devices=2", f"hydra.sweep.dir={sweep_dir}"], tmp_path, slurm)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _manifest(sweep_dir)["jobs"]["0"]["status"] == "completed"
    results = read_results(job_dir(sweep_dir, 0))
    assert (results["status"], results["world_size"]) == ("completed", 2)
    run_dirs = [p.parent for p in sweep_dir.rglob("results.json")]
    assert run_dirs == [job_dir(sweep_dir, 0)]
    assert len(list(job_dir(sweep_dir, 0).glob("events.out.tfevents.*"))) == 1  # rank 0 alone logs


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.fault("Slurm request no node of the partition can hold", "one-line error before anything is submitted")
def test_a_request_larger_than_any_node_is_one_line_before_submitting(slurm: dict[str, str], tmp_path: Path) -> None:
    proc = _cli(["train", "-m", "seed=1,2", *QUICK, "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=512"], tmp_path, slurm)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "asks for 512 CPUs" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("sweep.json"))  # nothing was claimed or submitted


# -- without a cluster ---------------------------------------------------------------------------------
@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`sbatch` and a `sinfo` that prints the given node lines, first on PATH (and nothing else)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    def install(sinfo_lines: list[str] | None) -> None:
        for tool in ("sbatch", "sinfo"):
            (bin_dir / tool).unlink(missing_ok=True)
        if sinfo_lines is None:
            return
        (bin_dir / "sbatch").write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / "sinfo").write_text("#!/bin/sh\n" + "".join(f"echo '{line}'\n" for line in sinfo_lines))
        for tool in ("sbatch", "sinfo"):
            (bin_dir / tool).chmod(0o755)

    monkeypatch.setenv("PATH", str(bin_dir))
    return install


def _launcher_cfg(overrides: list[str]) -> Any:
    from dlrun.preflight import compose

    return compose(["hydra/launcher=slurm", *overrides], return_hydra_config=True)


CPU_NODES = ["vm|2|20000|(null)|debug*", "big|16|8000|(null)|other"]
GPU_NODES = ["g1|8|64000|gpu:a100:2(S:0-1)|gpu", "c1|32|64000|(null)|debug*"]


def test_cpu_runs_ask_for_no_gpu_and_fit_the_default_partition(fake_slurm: Any) -> None:
    from dlrun.slurm import check_request

    fake_slurm(CPU_NODES)
    overrides = ["trainer.device=cpu"]
    assert check_request(_launcher_cfg(overrides), overrides) == ["hydra.launcher.gpus_per_node=null"]
    overrides = ["trainer.device=auto", "hydra.launcher.cpus_per_task=1", "hydra.launcher.tasks_per_node=2"]
    assert check_request(_launcher_cfg(overrides), overrides) == ["hydra.launcher.gpus_per_node=null"]


@pytest.mark.parametrize(("overrides", "expected"), [
    (["trainer.device=cpu", "hydra.launcher.cpus_per_task=3"], "asks for 3 CPUs (cpus_per_task × tasks_per_node), 4 GB and 0 GPUs"),
    (["trainer.device=cpu", "hydra.launcher.cpus_per_task=2", "hydra.launcher.tasks_per_node=2"], "asks for 4 CPUs"),
    (["trainer.device=cpu", "hydra.launcher.mem_gb=20"], "20 GB"),
    (["trainer.device=cuda"], "and 1 GPUs per node"),
    (["trainer.device=cpu", "hydra.launcher.partition=other", "hydra.launcher.mem_gb=8"], "node of partition 'other' (big) has 16 CPUs, 7 GB"),
])
def test_a_request_no_node_can_hold_is_one_line_naming_the_largest_node(fake_slurm: Any, overrides: list[str], expected: str) -> None:
    from dlrun.errors import DlrunError
    from dlrun.slurm import check_request

    fake_slurm(CPU_NODES)
    with pytest.raises(DlrunError) as err:
        check_request(_launcher_cfg(overrides), overrides)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_the_partition_that_fits_passes(fake_slurm: Any) -> None:
    from dlrun.slurm import check_request

    fake_slurm(CPU_NODES)
    overrides = ["trainer.device=cpu", "hydra.launcher.partition=other", "hydra.launcher.cpus_per_task=16", "hydra.launcher.mem_gb=7"]
    assert check_request(_launcher_cfg(overrides), overrides) == ["hydra.launcher.gpus_per_node=null"]


@pytest.mark.parametrize(("overrides", "gpus"), [
    (["trainer.device=auto"], 1), (["trainer.device=auto", "trainer.devices=2"], 2), (["trainer.device=cuda"], 1),
    (["trainer.device=cpu"], None),
])
def test_gpus_follow_the_trainers_device_on_a_gpu_partition(fake_slurm: Any, overrides: list[str], gpus: int | None) -> None:
    from dlrun.slurm import check_request

    fake_slurm(GPU_NODES)
    overrides = [*overrides, "hydra.launcher.partition=gpu"]
    assert check_request(_launcher_cfg(overrides), overrides) == [f"hydra.launcher.gpus_per_node={gpus or 'null'}"]


def test_more_gpus_than_a_node_has_and_an_explicit_gpu_request_are_checked(fake_slurm: Any) -> None:
    from dlrun.errors import DlrunError
    from dlrun.slurm import check_request

    fake_slurm(GPU_NODES)
    with pytest.raises(DlrunError, match="and 4 GPUs per node.*has 8 CPUs, 62 GB and 2 GPUs"):
        overrides = ["trainer.devices=4", "hydra.launcher.partition=gpu"]
        check_request(_launcher_cfg(overrides), overrides)
    overrides = ["trainer.device=cpu", "hydra.launcher.gpus_per_node=2", "hydra.launcher.partition=gpu"]
    assert check_request(_launcher_cfg(overrides), overrides) == []  # the user's explicit choice stays
    with pytest.raises(DlrunError, match="and 1 GPUs per node"):
        overrides = ["hydra.launcher.gpus_per_node=1"]  # the default partition has none
        check_request(_launcher_cfg(overrides), overrides)


def test_without_slurm_the_launcher_ends_with_one_line_saying_how_to_run_locally(fake_slurm: Any) -> None:
    from dlrun.errors import DlrunError
    from dlrun.slurm import check_request

    fake_slurm(None)
    with pytest.raises(DlrunError, match="no Slurm found .*drop hydra/launcher=slurm"):
        check_request(_launcher_cfg([]), [])
    assert check_request(compose_config_with_hydra([]), []) == []  # other launchers: nothing to check


def compose_config_with_hydra(overrides: list[str]) -> Any:
    from dlrun.preflight import compose

    return compose(overrides, return_hydra_config=True)


def test_the_cli_refuses_a_slurm_sweep_without_slurm_before_creating_anything(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    proc = run_cli(["train", "-m", "seed=1,2", "hydra/launcher=slurm"], cwd=tmp_path,
                   env={"PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}"})
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: hydra/launcher=slurm: no Slurm found") and proc.stderr.count("\n") == 1
    assert not list((tmp_path / "outputs").rglob("sweep.json"))  # no sweep dir was claimed


@pytest.mark.parametrize(("gres", "gpus"), [("(null)", 0), ("gpu:4", 4), ("gpu:a100:2(S:0-1),shard:8", 2),
                                            ("gpu:1,gpu:v100:2", 3), ("mps:100", 0)])
def test_gpu_count_reads_sinfo_gres(gres: str, gpus: int) -> None:
    from dlrun.slurm import gpu_count

    assert gpu_count(gres) == gpus


def test_slurm_tasks_become_a_torch_distributed_world() -> None:
    from dlrun.distributed import slurm_world

    env = {"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_JOB_NODELIST": "n7,n8", "SLURM_JOB_ID": "123"}
    assert slurm_world(env) == {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "n7", "MASTER_PORT": "20123"}
    env.update(SLURM_JOB_ID="45678", MASTER_PORT="1234")
    assert slurm_world(env)["MASTER_PORT"] == "1234"  # a port the user set wins
    del env["MASTER_PORT"]
    assert slurm_world(env)["MASTER_PORT"] == str(20000 + 45678 % 20000)


def test_first_host_of_a_compressed_node_list_without_scontrol(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dlrun.distributed import first_host

    monkeypatch.setenv("PATH", str(tmp_path))  # no scontrol: the simple forms are read directly
    assert first_host("node[3-5,9],gpu1") == "node3"
    assert first_host("gpu[07],cpu1") == "gpu07"
    assert first_host("a,b") == "a"


def test_only_a_multi_task_slurm_step_counts_as_launched_by_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlrun import distributed

    for key in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_STEP_ID", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    assert not distributed.launched_by_slurm()
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    assert not distributed.launched_by_slurm()  # one task: an ordinary run
    monkeypatch.setenv("SLURM_NTASKS", "2")
    assert distributed.launched_by_slurm()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    assert not distributed.launched_by_slurm()  # torchrun inside the job owns the ranks


def test_sweep_resume_refuses_while_slurm_still_holds_jobs_of_the_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlrun.errors import DlrunError
    from dlrun.slurm import check_not_queued

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "squeue-args"
    (bin_dir / "squeue").write_text(f"#!/bin/sh\necho \"$@\" > {log}\necho '12_0'\necho '12_1'\n")
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/bin{os.pathsep}/usr/bin")
    sweep_dir = tmp_path / "sweep"
    for name in ("12", "12_0", "12_1", "9_0"):
        (sweep_dir / ".submitit" / name).mkdir(parents=True)
    with pytest.raises(DlrunError, match=r"Slurm still holds jobs of this sweep \(12_0, 12_1\)"):
        check_not_queued(sweep_dir)
    assert log.read_text().split() == ["-h", "-o", "%i", "-j", "12,9"]  # one call over the sweep's ids
    check_not_queued(tmp_path / "not-a-slurm-sweep")  # no .submitit: nothing to ask


def test_compare_shows_each_jobs_state_while_the_sweep_runs(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    (sweep_dir / "0").mkdir(parents=True)
    jobs = {str(n): {"num": n, "dir": str(n), "overrides": [f"seed={n}"], "status": status}
            for n, status in enumerate(["completed", "running", "requeued", "pending", "pending"])}
    jobs["2"]["requeues"] = 2
    (sweep_dir / "sweep.json").write_text(json.dumps({"format": "dlrun-sweep", "jobs": jobs}))
    (sweep_dir / "0" / "results.json").write_text(json.dumps({"status": "completed", "hparams": {"seed": 0},
                                                               "test": {"acc": 0.5}}))
    proc = run_cli(["compare", str(sweep_dir)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == (f"sweep {sweep_dir}: 2 pending, 1 running, 1 requeued, 1 completed of 5 jobs "
                                           "(2 requeues so far)")


def test_an_interruption_recorded_by_ddp_workers_becomes_the_jobs_own() -> None:
    from dlrun.distributed import _spawned_interruption

    err = _spawned_interruption({"status": "interrupted", "error": "interrupted at epoch 3, step 41; checkpoint /r/checkpoints/last.pt"})
    assert (err.checkpoint, str(err)) == ("/r/checkpoints/last.pt", "interrupted at epoch 3, step 41; checkpoint /r/checkpoints/last.pt")
    assert _spawned_interruption({"error": "something else"}).checkpoint is None
