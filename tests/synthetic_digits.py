"""Tiny synthetic 'digits' written as real MNIST IDX files: each class is a fixed random stroke
pattern, drawn at a random shift and intensity with noise, so raw pixels match poorly across shifts."""

from __future__ import annotations

from pathlib import Path

import torch

from dlrun.data.idx import write_idx


def class_prototypes(num_classes: int, generator: torch.Generator, size: int = 28, strokes: int = 3) -> torch.Tensor:
    """(C, size, size) in [0, 1]: each class a few thick random line segments in the centre."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    protos = torch.zeros(num_classes, size, size)
    for c in range(num_classes):
        for _ in range(strokes):
            p, q = 8 + 12 * torch.rand(2, generator=generator), 8 + 12 * torch.rand(2, generator=generator)
            d = q - p
            t = (((xs - p[0]) * d[0] + (ys - p[1]) * d[1]) / d.pow(2).sum().clamp_min(1e-6)).clamp(0, 1)
            dist = ((xs - p[0] - t * d[0]) ** 2 + (ys - p[1] - t * d[1]) ** 2).sqrt()
            protos[c] = torch.maximum(protos[c], (1.5 - dist).clamp(0, 1))
    return protos


def sample_digits(protos: torch.Tensor, n: int, generator: torch.Generator, shift: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """n uint8 images (n, 28, 28) and labels: shifted, scaled, noisy copies of the prototypes."""
    labels = torch.arange(n) % len(protos)
    images = torch.zeros(n, 28, 28)
    shifts = torch.randint(-shift, shift + 1, (n, 2), generator=generator)
    for i in range(n):  # test-data generation only
        images[i] = torch.roll(protos[labels[i]], shifts=(int(shifts[i, 0]), int(shifts[i, 1])), dims=(0, 1))
    images = images * (0.6 + 0.4 * torch.rand(n, 1, 1, generator=generator)) + 0.15 * torch.rand(n, 28, 28, generator=generator)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels


def write_synthetic_mnist(root: Path, n_train: int = 600, n_test: int = 200, seed: int = 0, gz: bool = False) -> Path:
    """Write train/t10k IDX files into <root>/MNIST/raw; returns root."""
    generator = torch.Generator().manual_seed(seed)
    protos = class_prototypes(10, generator)
    raw = root / "MNIST" / "raw"
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = sample_digits(protos, n, generator)
        write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels.to(torch.uint8))
    return root
