#!/usr/bin/env python
"""The GPU check, one command (about 5 minutes on one GPU), printing a Markdown block for docs/benchmarks.md:

  (a) `dlrun train` of the default and of experiment=fast_fmnist on the device with AMP (fp16 + GradScaler
      on CUDA, bf16 on CPU) and trainer.deterministic=true: 2 epochs straight vs 1 epoch + resume to 2;
      the final weights must be bit-identical (and within 1e-3 without deterministic=true);
  (b) images/s of model=airbench94 trained by dlrun (`dataset=cifar10` on random CIFAR-format files, the
      Trainer's own time/samples_per_s of the last epoch) vs the same network and tensors in a plain loop,
      and vs the `airbench` package's own loop when it is importable (target: dlrun >= 0.95x);
  (c) the lab-3 GRU (2 x 150, batch 32, IMDB-like lengths): one training step, packed vs padded.

`--smoke` runs it all on the CPU at tiny sizes (tests/test_bench_gpu.py runs it, so it cannot rot);
fast_fmnist is left out when Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist).

  python scripts/bench_gpu.py [--smoke] [--device auto] [--out block.md]
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
FMNIST = Path("/usr/share/datasets/fashion-mnist")


def dlrun(args: list[str], cwd: Path) -> Path:
    """Run `dlrun train args` in a fresh process; its run dir."""
    run_dir = cwd / f"run{len(list(cwd.glob('run*')))}"
    proc = subprocess.run([sys.executable, "-m", "dlrun", "train", "trainer.progress_bar=false", *args, f"hydra.run.dir={run_dir}"],
                          cwd=cwd, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"dlrun train {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return run_dir


def final_weights(run_dir: Path) -> dict:
    from dlrun.checkpoint import load_checkpoint

    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(((a[k].double() - b[k].double()).abs().max().item() if a[k].numel() else 0.0) for k in a)


def check_resume(name: str, preset: list[str], device: str, work: Path, deterministic: bool) -> tuple[str, float]:
    """(a): straight 2 epochs vs 1 + resume; the largest weight difference."""
    common = [*preset, f"trainer.device={device}", "trainer.amp=true", f"trainer.deterministic={str(deterministic).lower()}",
              "trainer.early_stopping.restore_best=false"]
    straight = dlrun([*common, "trainer.max_epochs=2"], work)
    first = dlrun([*common, "trainer.max_epochs=1"], work)
    resumed = dlrun([*common, "trainer.max_epochs=2", f"ckpt_path={first / 'checkpoints' / 'last.pt'}"], work)
    return name, max_difference(final_weights(straight), final_weights(resumed))


def write_cifar(root: Path, per_file: int, seed: int = 0) -> None:
    """Random images in CIFAR-10's python-batch format (5 train files + test) under root/cifar-10-batches-py."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_file, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, per_file).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def samples_per_s(run_dir: Path) -> float:
    """The Trainer's own training throughput of the run's last epoch (metrics.csv)."""
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["time/samples_per_s"])


def plain_airbench(device: str, images: int, batch: int, epochs: int, widths: list[int]) -> float:
    """images/s of dlrun's airbench94 module in a plain loop (random tensors on the device, no data pipeline)."""
    import torch
    import torch.nn.functional as F

    from dlrun.models.airbench94 import Airbench94

    dev = torch.device(device)
    model = Airbench94(3, 10, widths=widths, channels_last=True).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(images, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (images,), device=dev)
    dtype = torch.float16 if dev.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda")
    rate = 0.0
    for _ in range(epochs):  # the last epoch is timed, as in dlrun's figure
        if dev.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for i in range(0, images, batch):
            with torch.autocast(dev.type, dtype=dtype):
                loss = F.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        rate = images / (time.perf_counter() - started)
    return rate


def package_airbench(images: int) -> str:
    """The `airbench` package's own loop when importable; a note otherwise."""
    try:
        import airbench  # noqa: F401
    except ImportError:
        return "not installed (pip install airbench), not compared"
    try:
        started = time.perf_counter()
        airbench.train94()  # type: ignore[attr-defined]  # its own data loading and loop (CIFAR-10 from its cache)
        return f"{50000 * 9.9 / (time.perf_counter() - started):.0f} images/s (its own loop, real CIFAR-10, ~9.9 epochs)"
    except Exception as err:  # an API this script does not know: say so rather than guess
        return f"could not run airbench.train94(): {type(err).__name__}: {err}"


def gru_step_times(device: str, batches: int, max_len: int, hidden: int) -> dict[str, float]:
    """(c): seconds per training step of the lab-3 GRU, padded vs packed, on IMDB-like random lengths."""
    import torch

    from dlrun.models.text_rnn import TextRNN

    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    times = {}
    for packed in (False, True):
        torch.manual_seed(0)
        model = TextRNN(vocab_size=1000, num_classes=2, embedding_dim=300, hidden_size=hidden, head=[hidden], packed=packed).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        lengths = (torch.empty(batches, 32).log_normal_(5.0, 0.6, generator=gen).clamp(5, max_len)).long()
        elapsed = 0.0
        for b in range(batches):
            tokens = torch.randint(1, 1000, (32, int(lengths[b].max())), generator=gen).to(dev)
            target = torch.randint(0, 2, (32,), generator=gen).to(dev)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(tokens, lengths[b].to(dev)), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            elapsed += (time.perf_counter() - started) if b else 0.0  # the first step warms up
        times["packed" if packed else "padded"] = elapsed / max(1, batches - 1)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (the test suite runs this)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, help="also write the Markdown block here")
    args = parser.parse_args()
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.smoke:
        device = "cpu"
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    work = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    tiny = ["dataset.samples_per_component=50"] if args.smoke else []
    lines = [f"### GPU check ({'smoke, ' if args.smoke else ''}{name}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')})", ""]

    # (a) AMP runs and exact resume
    lines += ["| run | trainer.deterministic | max weight difference, straight vs resumed | verdict |", "|---|---|---:|---|"]
    presets = [("default", tiny)]
    if args.smoke:
        lines.insert(2, "fast_fmnist left out in --smoke (the same code path as the default, at a larger size).\n")
    elif (FMNIST / "train-images-idx3-ubyte.gz").is_file():
        subset = ["dataset.train_subset=1024", "dataset.val_size=256", "dataset.batch_size=64"] if args.smoke else []
        steps = 2 * (-(-1024 // 64) if args.smoke else -(-55000 // 256))  # one-cycle fixed to 2 epochs (train_subset: the train split)
        presets.append(("fast_fmnist", ["experiment=fast_fmnist", f"dataset.root={work / 'data'}", *subset,
                                        f"scheduler.scheduler.total_steps={steps}"]))
    else:
        lines.insert(2, "fast_fmnist left out: Fashion-MNIST is not installed.\n")
    for label, preset in presets:
        for deterministic in ([True] if args.smoke else [True, False]):
            _, diff = check_resume(label, preset, device, work, deterministic)
            ok = diff == 0.0 if deterministic else diff <= 1e-3
            lines.append(f"| {label} | {str(deterministic).lower()} | {diff:.3g} | {'ok' if ok else 'FAILED'} |")
            if deterministic and not ok:
                print("\n".join(lines))
                raise SystemExit(f"{label}: a deterministic resume is not bit-identical ({diff:.3g})")

    # (b) airbench94 throughput
    per_file, batch, epochs = (32, 16, 2) if args.smoke else (10000, 500, 3)
    widths = [8, 16, 16] if args.smoke else [64, 256, 256]
    write_cifar(work / "cifar", per_file)
    run = dlrun(["dataset=cifar10", f"dataset.root={work / 'cifar'}", "dataset.download=false", f"dataset.val_size={per_file // 4}",
                 f"dataset.batch_size={batch}", "model=airbench94", f"model.widths=[{','.join(map(str, widths))}]", "model.channels_last=true", "optimizer=sgd",
                 "optimizer.momentum=0.9", "optimizer.nesterov=true", f"trainer.device={device}", "trainer.amp=true",
                 f"trainer.max_epochs={epochs}", "task.top_losses=0"], work)
    ours = samples_per_s(run)
    train_images = 5 * per_file - per_file // 4
    plain = plain_airbench(device, train_images, batch, epochs, widths)
    lines += ["", "| airbench94 training | images/s | × plain |", "|---|---:|---:|",
              f"| dlrun (`model=airbench94`, widths {widths}, Trainer, AMP, channels_last, batch {batch}) | {ours:.0f} | {ours / plain:.2f} |",
              f"| the same network in a plain loop over the same tensors | {plain:.0f} | 1.00 |",
              f"| `airbench` package | {package_airbench(train_images) if not args.smoke else 'not run in --smoke'} | |"]

    # (c) GRU packed vs padded
    steps = gru_step_times(device, 3 if args.smoke else 30, 20 if args.smoke else 400, 16 if args.smoke else 150)
    lines += ["", f"| lab-3 GRU ({'hidden 16, lengths <= 20' if args.smoke else '2 x 150'}), one training step (batch 32) | seconds | × padded |", "|---|---:|---:|"]
    lines += [f"| {way} | {t:.4f} | {t / steps['padded']:.2f} |" for way, t in steps.items()]
    block = "\n".join(lines)
    print(block)
    if args.out:
        args.out.write_text(block + "\n")


if __name__ == "__main__":
    main()
