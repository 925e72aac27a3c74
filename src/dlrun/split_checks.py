"""Checks of the prepared splits against what training needs, made before the first step so a tiny
dataset fails in one clear line instead of deep inside a layer (BatchNorm's "Expected more than 1
value per channel when training")."""

from __future__ import annotations

from typing import Any

from torch import nn

from dlrun.errors import DlrunError


def check_training_batches(model: nn.Module, data: Any, limit: int | float | None = None) -> None:
    """BatchNorm1d in training mode needs >= 2 values per channel, so a model with one cannot train on
    a batch of one sample: refuse a training split whose batches (all of an epoch, or the first
    `limit` as trainer.limit_train_batches keeps) include one, naming the sizes and the ways out."""
    from dlrun.trainer import limited

    if not any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
        return
    loader = data.loader("train", train=True)
    n, size = getattr(loader, "num_samples", None), getattr(loader, "batch_size", None)
    if not isinstance(n, int) or not isinstance(size, int) or n == 0:
        return
    last = n % size
    whole_epoch = limited(len(loader), limit) == len(loader)
    if n == 1:
        why = "the train split has 1 sample"
    elif size == 1:
        why = "dataset.batch_size is 1"
    elif last == 1 and whole_epoch and not getattr(loader, "drop_last", False):
        why = f"the last batch of each epoch holds 1 sample ({n} training samples, batch size {size})"
    else:
        return
    fixes = ["more training samples" if n == 1 else "another dataset.batch_size"]
    if n > 1 and hasattr(data, "drop_last"):
        fixes.append("dataset.drop_last=true")
    fixes.append("model.layer_norm=true instead of batch norm" if hasattr(model, "net") else "no batch norm in the model")
    raise DlrunError(f"model: batch norm needs at least 2 samples in every training batch, but {why}; use {' or '.join(fixes)}")


def check_val_split(cfg: Any, data: Any) -> None:
    """An empty validation split (dataset.val_size=0, where the dataset `data` declares that this leaves none)
    has nothing for a `val/` trainer.monitor to measure: refuse it before the run (a `train/` monitor works)."""
    if getattr(type(data), "val_size_zero_validates_on_test", False):  # BaseData's declaration (default False)
        return
    size = cfg.dataset.get("val_size") if "dataset" in cfg else None
    monitor = str(cfg.trainer.get("monitor", "")) if "trainer" in cfg else ""
    if size is not None and not isinstance(size, bool) and size == 0 and monitor.startswith("val/"):
        raise DlrunError(f"dataset.val_size=0 leaves no validation split, so trainer.monitor={monitor} has nothing to "
                         f"measure: set dataset.val_size >= 1 (a count or a fraction) or monitor a training metric "
                         f"(trainer.monitor=train/loss)")
