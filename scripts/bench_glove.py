"""Loading a GloVe-sized vectors file: 400k lines of 50-d vectors, 20k and 100k words selected.

Writes the file to a temporary folder (GloVe 6B's format: `token v1 ... v50`, 5 decimals), then
times `load_word_vectors` (one pass, lines selected by their first token, the selected numbers
parsed by one numpy call) against the previous loader (every line split into its fields, selected
lines parsed with Python floats) in the same invocation. Both must give the same matrix.

    python scripts/bench_glove.py [--lines 400000] [--dim 50] [--select 20000 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dlrun.data.vocab import PAD_INDEX, SPECIALS, Vocab
from dlrun.data.word_vectors import _split, load_word_vectors


def write_file(path: Path, lines: int, dim: int, seed: int = 0) -> None:
    """`lines` distinct tokens with vectors drawn from a pool of 10k formatted rows."""
    rng = np.random.default_rng(seed)
    pool = [" ".join(f"{x:.5f}" for x in row) for row in rng.standard_normal((10_000, dim))]
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, lines, 10_000):
            f.write("".join(f"w{i} {pool[i % len(pool)]}\n" for i in range(start, min(start + 10_000, lines))))


def reference_load(path: Path, vocab: Vocab, dim: int, generator: torch.Generator) -> torch.Tensor:
    """The previous loader: every line split into fields in Python, selected lines parsed float by float."""
    matrix = torch.randn(len(vocab), dim, generator=generator)
    found = torch.zeros(len(vocab), dtype=torch.bool)
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\r\n ")
            parts = _split(line, dim)
            assert parts is not None
            row = vocab.stoi.get(parts[0])
            if row is None or found[row]:
                continue
            matrix[row] = torch.tensor([float(x) for x in parts[1:]])
            found[row] = True
    matrix[PAD_INDEX] = 0.0
    return matrix


def timed(fn, repeats: int) -> tuple[float, torch.Tensor]:  # noqa: ANN001
    """Median wall time of `repeats` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--select", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, {platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"glove.{args.lines}.{args.dim}d.txt"
        start = time.perf_counter()
        write_file(path, args.lines, args.dim)
        print(f"wrote {args.lines:,} lines ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f}s")
        print("| selected words | load_word_vectors (s) | previous loader (s) | speed-up |")
        print("|---:|---:|---:|---:|")
        for n in args.select:
            words = random.Random(n).sample([f"w{i}" for i in range(args.lines)], n)
            vocab = Vocab([*SPECIALS, *words, "not-in-file"])
            new, matrix = timed(lambda: load_word_vectors(path, vocab, args.dim, torch.Generator().manual_seed(0))[0], args.repeats)
            old, expected = timed(lambda: reference_load(path, vocab, args.dim, torch.Generator().manual_seed(0)), args.repeats)
            assert torch.allclose(matrix, expected), "the two loaders disagree"
            print(f"| {n:,} | {new:.2f} | {old:.2f} | {old / new:.1f}x |")


if __name__ == "__main__":
    main()
