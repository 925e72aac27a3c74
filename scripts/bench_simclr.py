"""SimCLR's linear probe against the same probe at random init, on Fashion-MNIST, on the CPU.

1. random init: experiment=simclr_fmnist's model built with the run's seed, no training; the task's
   own probe (logistic regression on frozen f features of the training images) scored on the test split;
2. SimCLR: `dlrun train experiment=simclr_fmnist <overrides>` in this process; its test/probe_acc is
   the same probe on the pre-trained encoder.
Both use the same architecture, data, probe settings and test split. Prints both accuracies, the margin
and the wall times, and one Markdown row for docs/benchmarks.md.

    nice -n 10 python scripts/bench_simclr.py [--epochs 6] [--train-subset 10000] [override ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from dlrun import build
from dlrun.preflight import compose
from dlrun.seeding import seed_everything
from dlrun.tasks.logistic_probe import embed_batches


def random_init_probe(overrides: list[str]) -> float:
    """test accuracy of the task's probe on the untrained encoder of the composed config."""
    cfg = compose(["experiment=simclr_fmnist", *overrides])
    seed_everything(int(cfg.seed), False)
    data = build.build_data(cfg)
    device = torch.device("cpu")
    data.setup(device)
    model = build.build_model(cfg, data).to(device).eval()
    task = build.build_task(cfg)
    task.setup(data, device)
    test = embed_batches(model.features, data.loader("test"), device)
    return task.probe(model).accuracy(*test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train-subset", type=int, default=10000, help="pre-train on (and probe with) the first N training images")
    parser.add_argument("overrides", nargs="*", help="more dlrun overrides for both runs")
    args = parser.parse_args()
    common = [f"dataset.train_subset={args.train_subset}", f"task.probe_train_samples={args.train_subset}",
              "trainer.device=cpu", *args.overrides]
    started = time.perf_counter()
    baseline = random_init_probe(common)
    baseline_s = time.perf_counter() - started
    print(f"random init: test probe acc {baseline:.4f} ({baseline_s:.1f} s)", flush=True)

    from dlrun.cli import main as dlrun_main
    from dlrun.results import read_results

    run_dir = Path(tempfile.mkdtemp(prefix="bench_simclr_")) / "run"
    train = ["experiment=simclr_fmnist", f"trainer.max_epochs={args.epochs}", "trainer.progress_bar=false",
             "task.probe_every_n_epochs=null", *common, f"hydra.run.dir={run_dir}"]
    started = time.perf_counter()
    try:
        dlrun_main(["train", *train])
    except SystemExit as exit_:
        if exit_.code:
            raise
    simclr_s = time.perf_counter() - started
    simclr = float(read_results(run_dir)["test"]["test/probe_acc"])
    print(f"SimCLR ({args.epochs} epochs): test probe acc {simclr:.4f} ({simclr_s:.1f} s, run dir {run_dir})")
    print(f"margin: {simclr - baseline:+.4f}")
    print(f"| {args.epochs} epochs on {args.train_subset} images | {baseline:.4f} | {simclr:.4f} | {simclr - baseline:+.4f} | "
          f"{baseline_s:.0f} s + {simclr_s:.0f} s |")


if __name__ == "__main__":
    main()
