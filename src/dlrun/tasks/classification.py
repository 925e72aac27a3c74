"""Classification: batch (inputs..., y) -> logits -> loss; accuracy, F1 and a confusion matrix.

A batch is a tuple whose last element is the integer labels; the elements before it are the
model's inputs: (x, y) calls model(x), (tokens, lengths, y) calls model(tokens, lengths).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlrun.data.base import DataModule
from dlrun.run_logger import RunLogger


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """Class indices: argmax over C > 1 logits; logit > 0 for a single binary logit."""
    if logits.dim() == 2 and logits.shape[1] > 1:
        return logits.argmax(dim=1)
    return (logits.reshape(-1) > 0).long()


def f1_score(confusion: torch.Tensor) -> float:
    """F1 from a confusion matrix (rows = true class): for 2 classes the F1 of class 1 (the class a
    single positive logit predicts); for more, the unweighted mean of the per-class F1 (macro-F1).
    A class that is never true nor predicted has F1 0."""
    confusion = confusion.double()
    true_pos = confusion.diag()
    denominator = confusion.sum(0) + confusion.sum(1)  # predicted + actual = 2 TP + FP + FN
    per_class = torch.where(denominator > 0, 2 * true_pos / denominator.clamp_min(1), torch.zeros_like(true_pos))
    return float(per_class[1]) if len(per_class) == 2 else float(per_class.mean())


def split_batch(batch: Any) -> tuple[tuple[Any, ...], torch.Tensor]:
    """(model inputs, labels) of a batch tuple: the labels are its last element."""
    *inputs, targets = batch
    return tuple(inputs), targets


def confusion_matrix(targets: torch.Tensor, preds: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) counts, rows = true class, columns = predicted class."""
    index = targets.long() * num_classes + preds.long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


class ClassificationTask:
    """Cross-entropy-style training on (inputs, integer labels) batches."""

    def __init__(self, loss: nn.Module) -> None:
        self.loss = loss
        self.num_classes = 2
        self.class_names: list[str] = []
        self.confusion: dict[str, torch.Tensor] = {}

    def setup(self, data: DataModule, device: torch.device) -> None:
        self.num_classes = int(data.meta.get("num_classes", 2))
        self.class_names = list(data.meta.get("class_names") or [str(c) for c in range(self.num_classes)])
        self.loss.to(device)

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        inputs, y = split_batch(batch)
        logits = model(*inputs)
        loss = self.loss(logits, y)
        acc = (predictions(logits.detach()) == y).float().mean()
        return loss, {"acc": acc}

    def evaluate(self, model: nn.Module, batches: Iterable[Any], split: str) -> dict[str, float]:
        loss_sum, count = 0.0, 0
        confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.long)
        loss_total: torch.Tensor | None = None
        for batch in batches:
            inputs, y = split_batch(batch)
            logits = model(*inputs)
            batch_loss = self.loss(logits, y).float() * len(y)
            loss_total = batch_loss if loss_total is None else loss_total + batch_loss
            confusion += confusion_matrix(y, predictions(logits), self.num_classes).cpu()
            count += len(y)
        if count == 0:
            return {}
        loss_sum = float(loss_total) if loss_total is not None else 0.0
        self.confusion[split] = confusion
        correct = confusion.diag().sum().item()
        return {"loss": loss_sum / count, "acc": correct / count, "f1": f1_score(confusion)}

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        from dlrun.plots.confusion import confusion_figure

        if "test" in self.confusion:
            logger.figure("test/confusion_matrix", confusion_figure(self.confusion["test"], self.class_names), png_name="confusion_matrix.png")
        if data.meta.get("in_features") == 2 and hasattr(data, "splits"):
            from dlrun.plots.decision_surface import decision_surface_figure

            x, y = data.splits["test"]
            logger.figure("test/decision_surface", decision_surface_figure(model, x, y), png_name="decision_surface.png")
