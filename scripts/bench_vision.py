#!/usr/bin/env python
"""Speed of dlrun's trainer on Fashion-MNIST against a plain PyTorch loop and the tutorial pipeline.

One invocation, one machine, the same model (the course's lab-2 CNN), data split (55k/5k/10k),
normalization (one scalar mean), and hyperparameters (SGD, batch 50, lr 0.1 then 0.01 from epoch 3,
L2 1e-3 on conv and hidden fc weights), run three ways:

  dlrun     `dlrun train experiment=lab2_mnist dataset=fashion_mnist` in this process, with TensorBoard
            logging, checkpoints, per-epoch validation, filters every 100 steps and the progress bar
            (live when stderr is a terminal: run under `script -qc "..." /dev/null` otherwise);
  plain     a hand-written loop over the same in-memory tensors (batches drawn by index) with the
            same per-epoch validation;
  tutorial  torchvision's FashionMNIST + per-sample ToTensor/Normalize + DataLoader;
  dlrun_cli the same dlrun command as a fresh process (python -m dlrun train ...), timed by the
            trainer's own per-epoch lines (training + validation, as the plain loop's).

Prints seconds per epoch (median over epochs, validation included), the ratio to the plain loop
and test accuracy. `--fast` also times `dlrun train experiment=fast_fmnist` start to finish as a
subprocess. Needs the real data: apt-get install dataset-fashion-mnist.

  python scripts/bench_vision.py --epochs 2 --threads 2 [--ways plain,dlrun,tutorial,dlrun,plain] [--fast]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

BATCH = 50
LR = {1: 0.1, 3: 0.01, 5: 0.001, 7: 0.0001}
L2 = 1e-3
SEED = 42


def lr_for(epoch: int) -> float:
    """Piecewise-constant lr of 1-based `epoch` (the lab-2 schedule)."""
    return [v for k, v in sorted(LR.items()) if epoch >= k][-1]


def build_model() -> torch.nn.Module:
    from dlrun.models.cnn import CNN

    torch.manual_seed(SEED)
    return CNN(1, 10, [28, 28], channels=[16, 32], kernel_size=5, padding=2, block=["conv", "pool", "act"], pool_size=2, fc=[512])


def l2_weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("classifier.logits")]


def load_splits(data_dir: Path, train_subset: int | None) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], float]:
    """dlrun's own split of the Debian files, converted once to normalized float tensors."""
    from dlrun.data.fashion_mnist import FashionMNIST

    data = FashionMNIST(root=str(data_dir), normalize="scalar", train_subset=train_subset)
    data.setup(torch.device("cpu"))
    mean = data.meta["mean"][0]
    return {k: ((x.float() / 255 - mean), y) for k, (x, y) in data.splits.items()}, mean


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            logits = model(x[i : i + 1000])
            loss += float(F.cross_entropy(logits, y[i : i + 1000], reduction="sum"))
            correct += int((logits.argmax(1) == y[i : i + 1000]).sum())
    model.train()
    return loss / len(x), correct / len(x)


def run_plain(splits: dict[str, tuple[torch.Tensor, torch.Tensor]], epochs: int) -> tuple[list[tuple[float, float]], float]:
    """What a student writes with tensors in memory: shuffle, index, step; validate each epoch."""
    model = build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr_for(1))
    weights = l2_weights(model)
    x_train, y_train = splits["train"]
    times = []
    for epoch in range(1, epochs + 1):
        started, cpu = time.perf_counter(), time.process_time()
        for group in optimizer.param_groups:
            group["lr"] = lr_for(epoch)
        order = torch.randperm(len(x_train))
        for i in range(0, len(x_train), BATCH):
            index = order[i : i + BATCH]
            x, y = x_train[index], y_train[index]
            loss = F.cross_entropy(model(x), y) + 0.5 * L2 * sum(w.pow(2).sum() for w in weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        val_loss, val_acc = accuracy(model, *splits["val"])
        times.append((time.perf_counter() - started, time.process_time() - cpu))
        print(f"  plain    epoch {epoch}: {times[-1][0]:.1f}s (cpu {times[-1][1]:.1f}s)  val/loss {val_loss:.4f} val/acc {val_acc:.4f}", flush=True)
    return times, accuracy(model, *splits["test"])[1]


def run_tutorial(raw_root: Path, mean: float, epochs: int, train_subset: int | None) -> tuple[list[tuple[float, float]], float]:
    """torchvision dataset + per-sample ToTensor/Normalize + DataLoader (the PyTorch tutorial way)."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (1.0,))])
    full = datasets.FashionMNIST(str(raw_root), train=True, download=False, transform=transform)
    test = datasets.FashionMNIST(str(raw_root), train=False, download=False, transform=transform)
    n_train = 55000 if train_subset is None else min(train_subset, 55000)
    train_loader = DataLoader(Subset(full, range(n_train)), batch_size=BATCH, shuffle=True)
    val_loader = DataLoader(Subset(full, range(55000, 60000)), batch_size=1000)
    test_loader = DataLoader(test, batch_size=1000)
    model = build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr_for(1))
    weights = l2_weights(model)

    def evaluate(loader: DataLoader) -> float:
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in loader:
                correct += int((model(x).argmax(1) == y).sum())
                total += len(y)
        model.train()
        return correct / total

    times = []
    for epoch in range(1, epochs + 1):
        started, cpu = time.perf_counter(), time.process_time()
        for group in optimizer.param_groups:
            group["lr"] = lr_for(epoch)
        for x, y in train_loader:
            loss = F.cross_entropy(model(x), y) + 0.5 * L2 * sum(w.pow(2).sum() for w in weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        val_acc = evaluate(val_loader)
        times.append((time.perf_counter() - started, time.process_time() - cpu))
        print(f"  tutorial epoch {epoch}: {times[-1][0]:.1f}s (cpu {times[-1][1]:.1f}s)  val/acc {val_acc:.4f}", flush=True)
    return times, evaluate(test_loader)


def run_dlrun(data_dir: Path, epochs: int, train_subset: int | None, run_dir: Path) -> tuple[list[tuple[float, float]], float]:
    """`dlrun train experiment=lab2_mnist dataset=fashion_mnist` in this process; epoch times from the
    task's hooks (first: from the step-0 hook call just before the loop to the first epoch end)."""
    from dlrun.tasks.classification import ClassificationTask

    stamps: list[tuple[float, float]] = []
    original_step, original_epoch = ClassificationTask.on_train_step, ClassificationTask.on_epoch_end

    def on_train_step(self, model, step, logger):  # type: ignore[no-untyped-def]
        if not stamps:
            stamps.append((time.perf_counter(), time.process_time()))
        original_step(self, model, step, logger)

    def on_epoch_end(self, model, epoch, history, logger):  # type: ignore[no-untyped-def]
        original_epoch(self, model, epoch, history, logger)
        stamps.append((time.perf_counter(), time.process_time()))
        wall, cpu = (b - a for a, b in zip(stamps[-2], stamps[-1]))
        print(f"  dlrun    epoch {epoch}: {wall:.1f}s (cpu {cpu:.1f}s)", flush=True)

    ClassificationTask.on_train_step, ClassificationTask.on_epoch_end = on_train_step, on_epoch_end  # type: ignore[method-assign]
    overrides = [
        "experiment=lab2_mnist", "dataset=fashion_mnist", f"dataset.root={data_dir}", f"trainer.max_epochs={epochs}",
        "trainer.device=cpu", "trainer.progress_bar=true", f"seed={SEED}", f"hydra.run.dir={run_dir}",
    ]
    if train_subset is not None:
        overrides.append(f"dataset.train_subset={train_subset}")
    try:
        from dlrun.cli import main as dlrun_main

        code = dlrun_main(["train", *overrides])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        ClassificationTask.on_train_step, ClassificationTask.on_epoch_end = original_step, original_epoch  # type: ignore[method-assign]
    if code != 0:
        raise SystemExit(f"dlrun train failed with exit code {code}")
    results = json.loads((run_dir / "results.json").read_text())
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps[:-1], stamps[1:])], results["test"]["test/acc"]


def run_dlrun_process(data_dir: Path, epochs: int, train_subset: int | None, run_dir: Path, threads: int) -> tuple[list[tuple[float, float]], float]:
    """The same `dlrun train` as a fresh process (the `dlrun_cli` way), as a user runs it; epoch times
    are the trainer's own (training + validation), read from its per-epoch lines. CPU time is not
    available per epoch this way and is reported as the wall time."""
    import re

    overrides = ["experiment=lab2_mnist", "dataset=fashion_mnist", f"dataset.root={data_dir}", f"trainer.max_epochs={epochs}",
                 "trainer.device=cpu", "trainer.progress_bar=true", f"seed={SEED}", f"hydra.run.dir={run_dir}"]
    if train_subset is not None:
        overrides.append(f"dataset.train_subset={train_subset}")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-m", "dlrun", "train", *overrides], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"dlrun train failed:\n{proc.stderr[-2000:]}")
    seconds = [float(m) for m in re.findall(r"^epoch +\d+/\d+ .* ([0-9.]+)s(?:  \*)?$", proc.stdout, re.M)]
    for epoch, wall in enumerate(seconds, start=1):
        print(f"  dlrun_cli epoch {epoch}: {wall:.1f}s", flush=True)
    return [(t, t) for t in seconds], json.loads((run_dir / "results.json").read_text())["test"]["test/acc"]


def run_fast(data_dir: Path, threads: int, out: Path) -> tuple[float, float]:
    """`dlrun train experiment=fast_fmnist` as a fresh process: wall time start to finish."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "dlrun", "train", "experiment=fast_fmnist", f"dataset.root={data_dir}", "trainer.device=cpu", f"hydra.run.dir={out}"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"fast_fmnist failed:\n{proc.stderr[-2000:]}")
    print(proc.stdout[-1200:])
    return wall, json.loads((out / "results.json").read_text())["test"]["test/acc"]


def gunzipped_copy(source: Path, target: Path) -> None:
    """torchvision's FashionMNIST wants the extracted IDX files under <root>/FashionMNIST/raw/."""
    raw = target / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in source.glob("*-ubyte.gz"):
        with gzip.open(gz, "rb") as f_in, open(raw / gz.name[:-3], "wb") as f_out:
            shutil.copyfileobj(f_in, f_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--ways", default="plain,dlrun,tutorial,dlrun,plain",
                        help="comma-separated, run in this order; keep it balanced (ABBA): a process slows as it goes")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the ways, interleaved (less drift on a busy machine)")
    parser.add_argument("--train-subset", type=int, default=None, help="first N training images only (quick checks)")
    parser.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--fast", action="store_true", help="also time experiment=fast_fmnist start to finish")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.source / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit(f"no Fashion-MNIST in {args.source}: apt-get install dataset-fashion-mnist")
    work = Path(tempfile.mkdtemp(prefix="bench_vision_"))
    data_dir = work / "data"
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs, stderr tty: {sys.stderr.isatty()}, work dir {work}")
    splits, mean = load_splits(data_dir, args.train_subset)
    times: dict[str, list[tuple[float, float]]] = {}
    accs: dict[str, list[float]] = {}
    for round_ in range(args.rounds):
        for way in args.ways.split(","):
            print(f"{way} (round {round_ + 1}/{args.rounds}):", flush=True)
            if way == "plain":
                epoch_times, acc = run_plain(splits, args.epochs)
            elif way == "tutorial":
                if not (work / "tv").exists():
                    gunzipped_copy(args.source, work / "tv")
                epoch_times, acc = run_tutorial(work / "tv", mean, args.epochs, args.train_subset)
            elif way == "dlrun":
                shutil.rmtree(work / "run", ignore_errors=True)
                epoch_times, acc = run_dlrun(data_dir, args.epochs, args.train_subset, work / "run")
            elif way == "dlrun_cli":
                shutil.rmtree(work / "run", ignore_errors=True)
                epoch_times, acc = run_dlrun_process(data_dir, args.epochs, args.train_subset, work / "run", args.threads)
            else:
                raise SystemExit(f"unknown way {way}")
            skip = 1 if args.epochs > 1 else 0  # the first epoch carries one-time costs (imports, warm-up)
            times.setdefault(way, []).extend(epoch_times[skip:])
            accs.setdefault(way, []).append(acc)
    median = {way: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)) for way, ts in times.items()}
    base = median.get("plain", (float("nan"), float("nan")))
    counts = ", ".join(f"{way} {len(ts)}" for way, ts in times.items())
    print(f"\nmedian seconds per epoch (first epoch of each run left out; validation included) over: {counts} epochs")
    print(f"{'way':<10}{'s/epoch':>10}{'x plain':>10}{'cpu s':>10}{'x plain':>10}{'test acc':>10}")
    for way, (wall, cpu) in median.items():
        print(f"{way:<10}{wall:>10.2f}{wall / base[0]:>10.3f}{cpu:>10.2f}{cpu / base[1]:>10.3f}{statistics.mean(accs[way]):>10.4f}")
    if args.fast:
        wall, acc = run_fast(data_dir, args.threads, work / "fast")
        print(f"fast_fmnist: {wall:.1f}s wall start to finish, test acc {acc:.4f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
