"""Synthetic 2-D Gaussian mixture from the course's first lab: the embedded default dataset."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dlrun.data.base import BaseData, pick_split
from dlrun.data.keys import check_batch_sizes
from dlrun.data.splits import Size, check_size, count_of, holdout
from dlrun.data.tensor_batches import TensorBatches

BOX = 10.0  # component centres are uniform in [0, BOX]^2, as in the lab's Random2DGaussian


def sample_gmm_2d(
    num_components: int, num_classes: int, samples_per_component: int, spread: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The lab's `sample_gmm_2d(K, C, N)`: K random Gaussians, each labelled with a random class.

    Each component has a uniform random mean in the box, axis variances (U(0,1) * spread * BOX)^2 and
    a uniform random rotation. Returns points (K*N, 2) float32 and labels (K*N,) int64.
    """
    points, labels = [], []
    for _ in range(num_components):
        mean = rng.random(2) * BOX
        eigvals = (rng.random(2) * spread * BOX) ** 2
        theta = rng.random() * 2 * np.pi
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        cov = rotation.T @ np.diag(eigvals) @ rotation
        points.append(rng.multivariate_normal(mean, cov, samples_per_component))
        labels.append(np.full(samples_per_component, rng.integers(num_classes)))
    return np.vstack(points).astype(np.float32), np.concatenate(labels).astype(np.int64)


def check_train_count(total: int, val_size: Size, test_size: Size, standardize: bool) -> None:
    """The training points the split leaves (known from the config, so checked before any run): at
    least 1, and 2 to standardize (one point has no spread: its std is NaN, and so would every input be)."""
    held = sum(count_of(size, total) for size in (val_size, test_size) if size)
    train = total - held
    given = f"{total} points (num_components x samples_per_component) less val_size {val_size} and test_size {test_size}"
    if train < 1:
        raise ValueError(f"{given} leave no training points")
    if train < 2 and standardize:
        raise ValueError(f"{given} leave 1 training point, and standardize needs 2 (its std); add points or set "
                         f"dataset.standardize=false")


class GMM2D(BaseData):
    """Train/val/test splits of one seeded mixture; the whole dataset lives in tensors. `seed`
    draws the mixture and the split; val_size and test_size are counts or fractions in (0, 1)."""

    def __init__(
        self,
        num_components: int = 6,
        num_classes: int = 3,
        samples_per_component: int = 300,
        spread: float = 0.2,
        val_size: Size = 0.2,
        test_size: Size = 0.2,
        standardize: bool = True,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        seed: int = 112,
    ) -> None:
        if num_components < 1 or num_classes < 2 or samples_per_component < 1:
            raise ValueError("need num_components >= 1, num_classes >= 2 and samples_per_component >= 1")
        if num_classes > num_components:  # each component carries one class: more classes could never all occur
            raise ValueError(f"num_classes ({num_classes}) must be <= num_components ({num_components}): each component has one class")
        check_size("val_size", val_size, allow_zero=True)
        check_size("test_size", test_size, allow_zero=True)
        if isinstance(val_size, float) and isinstance(test_size, float) and val_size + test_size >= 1:
            raise ValueError(f"val_size and test_size fractions must sum to less than 1, got {val_size} + {test_size}")
        if spread <= 0:
            raise ValueError(f"spread must be > 0, got {spread}")
        check_batch_sizes(batch_size, eval_batch_size)
        check_train_count(num_components * samples_per_component, val_size, test_size, standardize)
        self.num_components = num_components
        self.num_classes = num_classes
        self.samples_per_component = samples_per_component
        self.spread = spread
        self.val_size = val_size
        self.test_size = test_size
        self.standardize = standardize
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.seed = seed
        self.meta: dict[str, Any] = {
            "in_features": 2,
            "input_shape": [2],
            "num_classes": num_classes,
            "class_names": [str(c) for c in range(num_classes)],
        }
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def setup(self, device: torch.device) -> None:
        rng = np.random.default_rng(self.seed)
        x, y = sample_gmm_2d(self.num_components, self.num_classes, self.samples_per_component, self.spread, rng)
        sizes = {key: size for key, size in (("test_size", self.test_size), ("val_size", self.val_size)) if size}
        parts = holdout(len(x), sizes, self.seed, "gmm2d")
        empty = torch.zeros(0, dtype=torch.long)
        index = {"train": parts["rest"], "val": parts.get("val_size", empty), "test": parts.get("test_size", empty)}
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        if self.standardize:
            train_x = xt[index["train"]]
            self.meta["mean"] = train_x.mean(0).tolist()
            self.meta["std"] = train_x.std(0).tolist()
            xt = (xt - train_x.mean(0)) / train_x.std(0)
        self.splits = {k: (xt[idx].to(device), yt[idx].to(device)) for k, idx in index.items()}

    def split_tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(points, labels) of `split` (TensorSplits)."""
        return pick_split(self.splits, split, "gmm2d")

    def loader(self, split: str, train: bool = False) -> TensorBatches:
        return TensorBatches(self.split_tensors(split), self.batch_size if train else self.eval_batch_size, shuffle=train)

    def state_dict(self) -> dict[str, Any]:
        return {}
