"""What sweeps and data parallelism cost a run, one invocation:

  loop        one training epoch of dlrun's Trainer in a single process (every DDP hook on its path:
              sharding, the per-step stop check across ranks, the epoch all-reduce, the metrics
              broadcast; all of them no-ops here) against a plain PyTorch loop with the same model,
              data, batch and optimizer; the third epoch of each is timed
  hooks       the DDP hooks alone in a single process: nanoseconds per training step
  manifest    sweep bookkeeping per job: marking a job running and ended in sweep.json (file lock
              + atomic rewrite) in a sweep of --jobs jobs
  ddp         (--ddp) wall time of `dlrun train trainer.devices=2` (torchrun, gloo) against one
              process with the same global batch; on a 2-core machine this shows the launch cost,
              not a speed-up

  python scripts/bench_sweeps.py
  python scripts/bench_sweeps.py --threads 2 --ddp
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dlrun import distributed  # noqa: E402
from dlrun.data.gmm2d import GMM2D  # noqa: E402
from dlrun.models.mlp import MLP  # noqa: E402


def make_data(samples_per_component: int, batch_size: int) -> GMM2D:
    data = GMM2D(samples_per_component=samples_per_component, batch_size=batch_size)
    data.setup(torch.device("cpu"))
    return data


def make_model(hidden: list[int]) -> nn.Module:
    torch.manual_seed(0)
    return MLP(in_features=2, num_classes=3, hidden=hidden)


def plain_epoch_seconds(data: GMM2D, hidden: list[int], epochs: int) -> float:
    """A plain PyTorch loop: shuffled index batches, forward, CE, backward, Adam; the last epoch timed."""
    x, y = data.splits["train"]
    model = make_model(hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    elapsed = 0.0
    for epoch in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        total = torch.zeros(())
        for begin in range(0, len(x), data.batch_size):
            index = order[begin:begin + data.batch_size]
            loss = loss_fn(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(index)
        float(total)
        elapsed = time.perf_counter() - started
    return elapsed


def trainer_epoch_seconds(data: GMM2D, hidden: list[int], epochs: int) -> float:
    """dlrun's Trainer on the same model and data; its own `time/epoch_s` of the last epoch."""
    import contextlib
    import io

    from omegaconf import OmegaConf

    from dlrun.run_logger import RunLogger
    from dlrun.schedulers.schedule import build_schedule
    from dlrun.tasks.classification import ClassificationTask
    from dlrun.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(Path(tmp), RunLogger(Path(tmp), tensorboard=False), device="cpu", max_epochs=epochs,
                          val_every_n_epochs=epochs, progress_bar=False, log_every_n_steps=10**9,
                          checkpoint={"save_last": False, "save_best": False})
        model = make_model(hidden)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        constant = OmegaConf.load(Path(__file__).resolve().parents[1] / "configs" / "scheduler" / "none.yaml")
        schedule = build_schedule(constant, optimizer, trainer.steps_per_epoch(data), epochs)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = trainer.fit(ClassificationTask(nn.CrossEntropyLoss()), model, data, optimizer, schedule)
        return float(result.final_metrics["time/epoch_s"])


def hook_ns_per_step(repeats: int) -> float:
    """The single-process cost of the DDP hooks a training step runs (any_rank per step)."""
    flag = torch.tensor(-1)
    started = time.perf_counter_ns()
    for _ in range(repeats):
        distributed.any_rank(False)
    per_step = (time.perf_counter_ns() - started) / repeats
    started = time.perf_counter_ns()
    for _ in range(repeats // 100):  # per epoch: the all-reduce of the sums, the NaN check, the metrics broadcast
        distributed.sum_across_ranks({"loss": flag}, 1)
        distributed.max_across_ranks(flag)
        distributed.broadcast_object({"val/loss": 0.0})
    return per_step + (time.perf_counter_ns() - started) / repeats


def manifest_ms_per_job(jobs: int) -> float:
    from dlrun import sweep, sweep_callback

    with tempfile.TemporaryDirectory() as tmp:
        sweep_dir = Path(tmp)
        grid = [[f"seed={i}"] for i in range(jobs)]
        sweep.start(sweep_dir, ["dlrun", "train"], [], "continue", grid, None, resume=False)
        started = time.perf_counter()
        for num in range(jobs):
            job = sweep_callback.Job(sweep_dir, num, sweep_dir / str(num), grid[num])
            job.begin()
            job.end("completed", metrics={"val/loss": 0.1, "test/acc": 0.9})
        return (time.perf_counter() - started) / jobs * 1000


def ddp_seconds(samples_per_component: int, epochs: int) -> tuple[float, float]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    common = [sys.executable, "-m", "dlrun", "train", f"trainer.max_epochs={epochs}", "trainer.progress_bar=false",
              "trainer.device=cpu", f"dataset.samples_per_component={samples_per_component}", "model.hidden=[256,256]"]
    env = {"PYTHONPATH": src, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for extra in (["dataset.batch_size=128"], ["dataset.batch_size=64", "trainer.devices=2"]):
            started = time.perf_counter()
            subprocess.run([*common, *extra, f"hydra.run.dir={tmp}/{len(times)}"], check=True, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=5000, help="samples per mixture component (6 components)")
    parser.add_argument("--hidden", default="256,256")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--ddp", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hidden = [int(h) for h in args.hidden.split(",")]
    data = make_data(args.samples, 64)
    steps = len(data.loader("train", train=True))
    print(f"# {date.today()}  {platform.machine()}  {platform.processor() or ''}  torch {torch.__version__}  "
          f"threads {args.threads}  train samples {len(data.splits['train'][0])}  batch 64  steps/epoch {steps}")
    plain = plain_epoch_seconds(data, hidden, args.epochs)
    dlrun = trainer_epoch_seconds(data, hidden, args.epochs)
    print(f"loop      plain PyTorch {plain:.3f} s/epoch  dlrun Trainer {dlrun:.3f} s/epoch  ratio {plain / dlrun:.2f}x "
          f"(dlrun speed relative to plain)")
    hook = hook_ns_per_step(200_000)
    print(f"hooks     {hook:.0f} ns per step = {hook * steps / 1e9 / dlrun * 100:.3f} % of a dlrun epoch")
    print(f"manifest  {manifest_ms_per_job(args.jobs):.2f} ms per job (begin + end) in a sweep of {args.jobs} jobs")
    if args.ddp:
        one, two = ddp_seconds(args.samples // 5, args.epochs)
        print(f"ddp       1 process x batch 128: {one:.1f} s   trainer.devices=2 x batch 64: {two:.1f} s   "
              f"(whole command, start-up included)")


if __name__ == "__main__":
    main()
