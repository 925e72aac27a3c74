#!/usr/bin/env python
"""dataset=image_folder against dataset=fashion_mnist on the same real images, and dlrun predict.

Writes Fashion-MNIST (Debian's dataset-fashion-mnist) as PNG files in torchvision's ImageFolder layout
(train/<class>/, val/<class>/, test/<class>/; every fifth image saved as RGB, so the folder mixes
greyscale and colour), then trains the same CNN recipe on it and on the IDX files with the same images
in each split (train: the first N - N/10 training images, val: the last N/10, test: all 10k), and labels the test images with `dlrun predict` as new inputs. Prints
both test accuracies, their difference (the bar: within 2 points) and predict's agreement with the
true labels.

  python scripts/bench_image_folder.py --train 10000 --epochs 3
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot")


def read_idx(path: Path):  # noqa: ANN201 - a numpy array
    import gzip

    import numpy as np

    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_folder(root: Path, split: str, images, labels) -> list[tuple[Path, str]]:  # noqa: ANN001
    """PNG files under root/split/<class>/; returns (file, true class)."""
    from PIL import Image

    written = []
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / split / CLASSES[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image)
        path = folder / f"{i:05d}.png"
        (picture.convert("RGB") if i % 5 == 0 else picture).save(path)
        written.append((path, CLASSES[int(label)]))
    return written


def dlrun(args: list[str], cwd: Path) -> None:
    """python -m dlrun <args>, its output passed through."""
    subprocess.run([sys.executable, "-m", "dlrun", *args], cwd=cwd, check=True)


def test_accuracy(cwd: Path, name: str) -> tuple[float, Path]:
    results = next((cwd / "outputs" / name).rglob("results.json"))
    return json.loads(results.read_text())["test"]["test/acc"], results.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=10000, help="training images (the first N of the 60k)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    train_x, train_y = read_idx(DEBIAN_DIR / "train-images-idx3-ubyte.gz"), read_idx(DEBIAN_DIR / "train-labels-idx1-ubyte.gz")
    test_x, test_y = read_idx(DEBIAN_DIR / "t10k-images-idx3-ubyte.gz"), read_idx(DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz")
    work = Path(tempfile.mkdtemp(prefix="bench_image_folder_"))
    images = work / "images"
    val = max(1, args.train // 10)
    write_folder(images, "train", train_x[: args.train - val], train_y[: args.train - val])
    write_folder(images, "val", train_x[-val:], train_y[-val:])
    truth = write_folder(images, "test", test_x, test_y)
    recipe = ["model=cnn", f"trainer.max_epochs={args.epochs}", "trainer.progress_bar=false", "trainer.device=cpu",
              "optimizer.lr=1e-3", "dataset.batch_size=64", "seed=1"]
    dlrun(["train", "dataset=image_folder", f"dataset.root={images}", "name=folder", *recipe], work)
    dlrun(["train", "dataset=fashion_mnist", f"dataset.root={work / 'data'}", f"dataset.train_subset={args.train - val}",
           "dataset.val_split=tail", f"dataset.val_size={val}", "name=idx", *recipe], work)
    folder_acc, folder_run = test_accuracy(work, "folder")
    idx_acc, _ = test_accuracy(work, "idx")
    new = work / "new"
    new.mkdir()
    for path, label in truth:
        os.link(path, new / f"{path.stem}_{label}.png")
    out = work / "predictions.csv"
    dlrun(["predict", f"ckpt={folder_run / 'checkpoints' / 'best.pt'}", f"inputs={new}", f"out={out}"], work)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    agree = sum(Path(r["input"]).stem.split("_", 1)[1] == r["label"] for r in rows) / len(rows)
    print(f"\nFashion-MNIST, {args.train} training images, {len(truth)} test images, {args.epochs} epochs, model=cnn")
    print(f"  dataset=image_folder (PNG, every 5th RGB): test acc {folder_acc:.4f}")
    print(f"  dataset=fashion_mnist (IDX):               test acc {idx_acc:.4f}")
    print(f"  difference: {100 * (folder_acc - idx_acc):+.2f} points (bar: within 2)")
    print(f"  dlrun predict on the {len(rows)} test PNGs as new inputs: {agree:.4f} agree with the true labels")
    print(f"  files: {work}")


if __name__ == "__main__":
    main()
