#!/usr/bin/env python
"""trainer.compile on CPU: training images/s of eager vs torch.compile'd models, ABBA in one process.

Two models, each as its preset trains it, on random Fashion-MNIST-shaped batches (throughput only):
  lab2         the course's lab-2 CNN (conv16-pool-relu, conv32-pool-relu, fc512, fc10), float32, SGD, batch 50;
  fast_fmnist  experiment=fast_fmnist's CNN (conv-pool-bn-relu, channels_last), bfloat16 autocast, SGD+Nesterov, batch 256.
Each way (eager, compiled with dlrun.devices.compile_model) trains `--steps` steps after `--warmup`
steps (the compile happens in the compiled way's warm-up; its time is reported separately), in the
order eager, compiled, compiled, eager. Prints images/s per way and the compiled/eager ratio.

  python scripts/bench_compile.py [--steps 60] [--warmup 5] [--threads N] [--mode default]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dlrun.devices import cannot_compile, compile_model  # noqa: E402
from dlrun.models.cnn import CNN  # noqa: E402

PRESETS = {
    "lab2": dict(model=dict(channels=[16, 32], kernel_size=5, padding=2, block=["conv", "pool", "act"], fc=[512]),
                 batch=50, amp=False, nesterov=False),
    "fast_fmnist": dict(model=dict(channels=[16, 32], kernel_size=5, padding=2, block=["conv", "pool", "bn", "act"], fc=[512],
                                   channels_last=True), batch=256, amp=True, nesterov=True),
}


def run(preset: dict, compiled: str | None, steps: int, warmup: int) -> tuple[float, float]:
    """(images/s over `steps` steps, seconds of the warm-up steps, which include the compile)."""
    torch.manual_seed(0)
    model = CNN(1, 10, [28, 28], **preset["model"])
    model = compile_model(model, compiled, torch.device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=preset["nesterov"])
    x = torch.randn(preset["batch"], 1, 28, 28)
    y = torch.randint(0, 10, (preset["batch"],))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16) if preset["amp"] else contextlib.nullcontext():
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    started = time.perf_counter()
    for _ in range(warmup):
        step()
    warm = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * preset["batch"] / (time.perf_counter() - started), warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--mode", default="default")
    parser.add_argument("--presets", default="lab2,fast_fmnist")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    why = cannot_compile(torch.device("cpu"))
    if why:
        raise SystemExit(f"cannot compile here: {why}")
    print(f"torch {torch.__version__}, {args.threads} threads, mode {args.mode}, {args.steps} timed steps")
    for name in args.presets.split(","):
        rates: dict[str, list[float]] = {"eager": [], "compiled": []}
        warm: dict[str, list[float]] = {"eager": [], "compiled": []}
        for way in ("eager", "compiled", "compiled", "eager"):
            rate, w = run(PRESETS[name], args.mode if way == "compiled" else None, args.steps, args.warmup)
            rates[way].append(rate)
            warm[way].append(w)
            print(f"  {name:<12}{way:<10}{rate:9.0f} images/s   warm-up {w:6.1f} s", flush=True)
        eager, comp = statistics.median(rates["eager"]), statistics.median(rates["compiled"])
        print(f"{name:<12} eager {eager:.0f} images/s, compiled {comp:.0f} images/s: {comp / eager:.2f}x "
              f"(first compile {warm['compiled'][0]:.1f} s, later ones from the cache {warm['compiled'][1]:.1f} s)")


if __name__ == "__main__":
    main()
