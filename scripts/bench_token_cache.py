#!/usr/bin/env python
"""IMDB setup with and without the token cache on a full-size synthetic aclImdb tree.

Writes 50,000 reviews (25k train + 25k test, pos/neg halves) with IMDB's length profile (log-normal,
mean about 230 words, <br /> breaks) over a Zipf-distributed vocabulary of 80k words into a temporary
folder, then times `IMDB.setup` three times in fresh processes: the first (reads and tokenises every
file, builds the vocabulary, writes the cache), then two more (from the cache). Prints seconds per setup.

  python scripts/bench_token_cache.py [--reviews 50000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = ("import sys, time, torch\nfrom dlrun.data.imdb import IMDB\nt = time.perf_counter()\n"
         "d = IMDB(root=sys.argv[1], download=False, max_len=400); d.setup(torch.device('cpu'))\n"
         "print(f'SETUP {time.perf_counter() - t:.3f} {len(d.vocab)}')\n")


def write_tree(root: Path, reviews: int, seed: int = 0) -> int:
    """The aclImdb layout with `reviews` files in all; returns the bytes written."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(80000)]
    weights = [1 / (i + 1) for i in range(len(words))]
    total = 0
    per_folder = reviews // 4
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_folder):
                n = max(10, int(rng.lognormvariate(5.2, 0.75)))
                tokens = rng.choices(words, weights, k=n)
                text = " ".join(tokens[: n // 2]) + ". <br /><br />" + " ".join(tokens[n // 2:]) + "."
                (folder / f"{i}_{rng.randint(1, 10)}.txt").write_text(text)
                total += len(text)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=50000)
    parser.add_argument("--keep", type=Path, help="write the tree here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_token_cache_"))
    started = time.perf_counter()
    size = write_tree(root, args.reviews)
    print(f"wrote {args.reviews:,} reviews, {size / 1e6:.0f} MB in {time.perf_counter() - started:.0f}s to {root}")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for run in ("first (no cache)", "second (cache)", "third (cache)"):
        out = subprocess.run([sys.executable, "-c", SETUP, str(root)], env=env, capture_output=True, text=True, check=True).stdout
        seconds, vocab = out.split("SETUP")[1].split()
        print(f"{run:<18} setup {float(seconds):7.2f} s  vocabulary {int(vocab):,}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
