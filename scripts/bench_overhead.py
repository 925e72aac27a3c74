#!/usr/bin/env python
"""dlrun's fixed cost per command and per sweep job, against a plain PyTorch script doing the same work.

One invocation, ABBA order (A B B A per round: a machine drifts, so whichever way runs second in
a pair would otherwise look worse), whole-command wall time of fresh processes:

  default   `dlrun train trainer.max_epochs=1` (MLP + Adam on the embedded 2-D mixture)
            vs a plain script: same data, model, optimizer; train one epoch, validate, test, save a checkpoint;
  lab2      `dlrun train experiment=lab2_mnist dataset=fashion_mnist trainer.max_epochs=1` (the course's
            lab-2 CNN, one epoch, filters and figures) vs the same as a plain loop over in-memory tensors;
  sweep     `dlrun train -m seed=1..N trainer.max_epochs=1` vs `-m seed=1`: the cost of one more job
            in an in-process sweep, minus the plain script's own time for that work (train+val+test+save);
            with the default sweep.figures=no_duplicates (the figures that do not redraw logged scalars or
            text), with every figure a single run draws (true), and with none (false).

Prints each pair's delta (dlrun - plain, seconds) and ratio, and their medians. For lab 2 it also prints the
delta outside the training loop (whole command minus the loop's own seconds, which each side reports): the
fixed cost without the loop's run-to-run spread.
Lab 2 needs the real data (apt-get install dataset-fashion-mnist); `--skip-lab2` leaves it out.

dlrun keeps freed memory for the next batch (dlrun/allocator.py); `--plain-keeps-freed-memory` gives the plain
scripts the same malloc settings, so the comparison is of everything else.

  python scripts/bench_overhead.py [--rounds 2] [--sweep-jobs 8] [--skip-lab2] [--skip-sweep] [--src OTHER_CHECKOUT/src]
                                   [--plain-keeps-freed-memory]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}

PLAIN_DEFAULT = r'''
import sys, time
import torch, torch.nn.functional as F
from torch import nn
from dlrun.data.gmm2d import GMM2D
start = time.perf_counter()
torch.manual_seed(42)
data = GMM2D(); data.setup(torch.device("cpu"))
model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
def evaluate(split):
    x, y = data.split_tensors(split)
    model.eval()
    with torch.no_grad():
        out = model(x.float())
    model.train()
    return F.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()
def work():
    x, y = data.split_tensors("train")
    order = torch.randperm(len(x))
    for i in range(0, len(x), 64):
        idx = order[i:i + 64]
        loss = F.cross_entropy(model(x[idx].float()), y[idx])
        opt.zero_grad(); loss.backward(); opt.step()
    val, test = evaluate("val"), evaluate("test")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, sys.argv[1])
    return val, test
work()
t = time.perf_counter(); work(); print(f"WORK {time.perf_counter() - t:.4f}")
'''

PLAIN_LAB2 = r'''
import sys, time
import torch, torch.nn.functional as F
from dlrun.data.fashion_mnist import FashionMNIST
from dlrun.models.cnn import CNN
torch.manual_seed(42)
data = FashionMNIST(root=sys.argv[2], normalize="scalar"); data.setup(torch.device("cpu"))
mean = data.meta["mean"][0]
splits = {k: (x, y) for k, (x, y) in data.splits.items()}
model = CNN(1, 10, [28, 28], channels=[16, 32], kernel_size=5, padding=2, block=["conv", "pool", "act"], pool_size=2, fc=[512])
opt = torch.optim.SGD(model.parameters(), lr=0.1)
weights = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("classifier.logits")]
def evaluate(split):
    x, y = splits[split]; model.eval(); correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += int((model(x[i:i + 1000].float() / 255 - mean).argmax(1) == y[i:i + 1000]).sum())
    model.train(); return correct / len(x)
x, y = splits["train"]; order = torch.randperm(len(x))
started = time.perf_counter()
for i in range(0, len(x), 50):
    idx = order[i:i + 50]
    loss = F.cross_entropy(model(x[idx].float() / 255 - mean), y[idx]) + 0.5e-3 * sum(w.pow(2).sum() for w in weights)
    opt.zero_grad(); loss.backward(); opt.step()
print(f"EPOCH {time.perf_counter() - started:.4f}")
print("val", evaluate("val"), "test", evaluate("test"))
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, sys.argv[1])
'''


EPOCH_PAIRS: dict[str, list[tuple[float, float]]] = {}  # (plain, dlrun) wall seconds outside the training loop
CPU: list[float] = []  # CPU seconds (user + system, the process and its helpers) of each timed command


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    """Wall seconds of a fresh process (start to exit) and its stdout; a failure stops the bench.
    Its CPU seconds go to CPU (on a shared machine the steadier figure; wall time is what the bound is about)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def dlrun(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "dlrun", "train", "trainer.progress_bar=false", *overrides]


def plain_epoch(stdout: str) -> float:
    """The plain script's training-loop seconds (it prints `EPOCH <s>`)."""
    return float(stdout.split("EPOCH")[1].split()[0])


def dlrun_epoch(stdout: str) -> float:
    """The dlrun run's training-loop seconds: time/epoch_s in the metrics.csv of the run dir it printed."""
    run_dir = Path(stdout.split("run dir: ")[-1].split()[0])
    with open(run_dir / "metrics.csv") as f:
        return float(list(csv.DictReader(f))[-1]["time/epoch_s"])


def abba(name: str, a: list[str], b: list[str], rounds: int, cwd: Path, epochs: bool = False) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(plain, dlrun) wall-time pairs and CPU-time pairs, run plain, dlrun, dlrun, plain per round.
    `epochs`: also the pairs of wall time outside the training loop (in EPOCH_PAIRS[name]), the fixed
    cost without the loop's own run-to-run spread (about a second in a 20 s epoch on a shared 2-core machine)."""
    pairs, cpu = [], []
    for round_ in range(rounds):
        (t_a1, out_a1), (t_b1, out_b1), (t_b2, out_b2), (t_a2, out_a2) = timed(a, cwd), timed(b, cwd), timed(b, cwd), timed(a, cwd)
        pairs += [(t_a1, t_b1), (t_a2, t_b2)]
        cpu += [(CPU[-4], CPU[-3]), (CPU[-1], CPU[-2])]
        loops = ""
        if epochs:
            e_a1, e_a2, e_b1, e_b2 = plain_epoch(out_a1), plain_epoch(out_a2), dlrun_epoch(out_b1), dlrun_epoch(out_b2)
            EPOCH_PAIRS.setdefault(name, []).extend([(t_a1 - e_a1, t_b1 - e_b1), (t_a2 - e_a2, t_b2 - e_b2)])
            loops = f"  training loop: plain {e_a1:.2f} {e_a2:.2f}  dlrun {e_b1:.2f} {e_b2:.2f}"
        print(f"  {name} round {round_ + 1}: plain {t_a1:.2f} {t_a2:.2f}  dlrun {t_b1:.2f} {t_b2:.2f}  "
              f"(cpu s: plain {CPU[-4]:.2f} {CPU[-1]:.2f}  dlrun {CPU[-3]:.2f} {CPU[-2]:.2f}; load {os.getloadavg()[0]:.1f}){loops}", flush=True)
    return pairs, cpu


def report(name: str, measured: tuple[list[tuple[float, float]], list[tuple[float, float]]], bound: float) -> None:
    pairs, cpu = measured
    cpu_delta = statistics.median(b - a for a, b in cpu)
    deltas = [b - a for a, b in pairs]
    ratios = [b / a for a, b in pairs]
    plain, ours = statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs)
    delta = statistics.median(deltas)
    print(f"{name:<8} plain {plain:6.2f} s  dlrun {ours:6.2f} s  delta median {delta:+.2f} s "
          f"(pairs {', '.join(f'{d:+.2f}' for d in deltas)})  ratio median {statistics.median(ratios):.3f}  "
          f"bound +{bound} s: {'met' if delta <= bound else 'NOT met'};  cpu delta median {cpu_delta:+.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds per comparison (2 pairs each)")
    parser.add_argument("--sweep-jobs", type=int, default=8)
    parser.add_argument("--skip-lab2", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the dlrun source tree to time (e.g. another checkout's src)")
    parser.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--plain-keeps-freed-memory", action="store_true",
                        help="run the plain scripts with the malloc settings dlrun applies to itself (dlrun/allocator.py, "
                             "through GLIBC_TUNABLES): the like-for-like comparison of everything else")
    args = parser.parse_args()
    ENV["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), os.environ.get("PYTHONPATH", "")])
    if args.plain_keeps_freed_memory:
        sys.path.insert(0, str(args.src.resolve()))
        from dlrun.allocator import MMAP_THRESHOLD, TRIM_THRESHOLD

        ENV["GLIBC_TUNABLES"] = f"glibc.malloc.mmap_threshold={MMAP_THRESHOLD}:glibc.malloc.trim_threshold={TRIM_THRESHOLD}"
    work = Path(tempfile.mkdtemp(prefix="bench_overhead_"))
    (work / "plain_default.py").write_text(PLAIN_DEFAULT)
    (work / "plain_lab2.py").write_text(PLAIN_LAB2)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, work dir {work}")
    py = sys.executable
    results = {}
    results["default"] = abba("default", [py, "plain_default.py", str(work / "plain.pt")],
                              dlrun("trainer.max_epochs=1"), args.rounds, work)
    if not args.skip_lab2:
        if not (args.source / "train-images-idx3-ubyte.gz").is_file():
            raise SystemExit(f"no Fashion-MNIST in {args.source}: apt-get install dataset-fashion-mnist (or --skip-lab2)")
        data = str(work / "data")
        timed(dlrun("experiment=lab2_mnist", "dataset=fashion_mnist", f"dataset.root={data}", "trainer.fast_dev_run=true"), work)  # fills the cache
        results["lab2"] = abba("lab2", [py, "plain_lab2.py", str(work / "plain.pt"), data],
                               dlrun("experiment=lab2_mnist", "dataset=fashion_mnist", f"dataset.root={data}", "trainer.max_epochs=1"),
                               args.rounds, work, epochs=True)
    print()
    for name, pairs in results.items():
        report(name, pairs, 0.5)
    for name, outside in EPOCH_PAIRS.items():
        deltas = [b - a for a, b in outside]
        print(f"{name:<8} outside the training loop: plain {statistics.median(a for a, _ in outside):6.2f} s  dlrun "
              f"{statistics.median(b for _, b in outside):6.2f} s  delta median {statistics.median(deltas):+.2f} s "
              f"(pairs {', '.join(f'{d:+.2f}' for d in deltas)})")
    if not args.skip_sweep:
        n = args.sweep_jobs
        seeds = ",".join(str(s) for s in range(1, n + 1))
        for setting in ("sweep.figures=no_duplicates", "sweep.figures=true", "sweep.figures=false"):  # the default; all figures; none
            one, many, plain_work = [], [], []
            for _ in range(args.rounds):  # A B B A: one job, N jobs, N jobs, one job
                for cmd, into in ((["seed=1"], one), ([f"seed={seeds}"], many), ([f"seed={seeds}"], many), (["seed=1"], one)):
                    into.append(timed(dlrun("-m", "trainer.max_epochs=1", setting, *cmd), work)[0])
                out = timed([py, "plain_default.py", str(work / "plain.pt")], work)[1]
                plain_work.append(float(out.split("WORK")[1]))
            per_job = (statistics.median(many) - statistics.median(one)) / (n - 1)
            overhead = per_job - statistics.median(plain_work)
            print(f"sweep, {setting}: 1 job {statistics.median(one):.2f} s, {n} jobs {statistics.median(many):.2f} s: "
                  f"{per_job:.3f} s per extra job; plain work per job {statistics.median(plain_work):.3f} s; overhead per job "
                  f"{overhead:+.3f} s (bound 0.3 s: {'met' if overhead <= 0.3 else 'NOT met'})")


if __name__ == "__main__":
    main()
