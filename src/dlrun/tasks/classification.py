"""Classification: batch (inputs..., y) -> logits -> loss; accuracy, F1, a confusion matrix,
per-class precision and recall, and for images the largest-loss test images and the first-layer filters.

A batch is a tuple whose last element is the integer labels; the elements before it are the
model's inputs: (x, y) calls model(x), (tokens, lengths, y) calls model(tokens, lengths).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlrun.data.base import DataModule, TensorSplits
from dlrun.errors import DlrunError
from dlrun.run_logger import RunLogger
from dlrun.tasks.base import BaseTask


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


def per_class_metrics(confusion: torch.Tensor, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Precision (diagonal / column sum), recall (diagonal / row sum), F1 and support per class;
    0 where a class was never predicted or never occurs."""
    cm = confusion.double()
    hits, predicted, actual = cm.diag(), cm.sum(0), cm.sum(1)
    precision = torch.where(predicted > 0, hits / predicted.clamp(min=1), torch.zeros_like(hits))
    recall = torch.where(actual > 0, hits / actual.clamp(min=1), torch.zeros_like(hits))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(hits))
    return [
        {"class": name, "precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]), "support": int(actual[c])}
        for c, name in enumerate(list(class_names)[: len(hits)])
    ]


class TopLosses:
    """The k samples with the largest cross-entropy seen so far, merged batch by batch on the device
    (one topk per batch, no per-sample Python)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.losses: torch.Tensor | None = None
        self.inputs: torch.Tensor | None = None
        self.targets: torch.Tensor | None = None
        self.probs: torch.Tensor | None = None

    def update(self, inputs: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Merge one batch: keep the k largest -log p(true class) over everything seen."""
        log_probs = logits.float().log_softmax(dim=1)
        losses = -log_probs.gather(1, targets.long()[:, None]).squeeze(1)
        parts = [losses, inputs, targets, log_probs.exp()]
        if self.losses is not None:
            parts = [torch.cat([old, new]) for old, new in zip((self.losses, self.inputs, self.targets, self.probs), parts)]
        keep = parts[0].topk(min(self.k, len(parts[0]))).indices
        self.losses, self.inputs, self.targets, self.probs = (p[keep] for p in parts)


class ClassificationTask(BaseTask):
    """Cross-entropy-style training on (inputs, integer labels) batches.

    top_losses: how many largest-loss test images to draw (image inputs only; 0: off).
    filters_every_n_steps: draw the first conv layer's filters at init and every N optimizer steps
    (models with a Conv2d only; null or 0: only at the end).
    """

    def __init__(self, loss: nn.Module, top_losses: int = 20, filters_every_n_steps: int | None = 100) -> None:
        if top_losses < 0:
            raise ValueError(f"top_losses must be >= 0, got {top_losses}")
        if filters_every_n_steps is not None and filters_every_n_steps < 0:
            raise ValueError(f"filters_every_n_steps must be >= 0 or null, got {filters_every_n_steps}")
        self.loss = loss
        self.top_losses = top_losses
        self.filters_every = filters_every_n_steps or 0
        self.num_classes = 2
        self.class_names: list[str] = []
        self.confusion: dict[str, torch.Tensor] = {}
        self.worst: dict[str, TopLosses] = {}
        self.history: list[dict[str, float]] = []
        self.last_step = 0

    def setup(self, data: DataModule, device: torch.device) -> None:
        self.num_classes = int(data.meta.get("num_classes", 2))
        self.class_names = list(data.meta.get("class_names") or [str(c) for c in range(self.num_classes)])
        self.loss.to(device)
        if hasattr(self.loss, "setup"):  # a loss that needs the data, e.g. distillation's teacher
            self.loss.setup(data, device)

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        inputs, y = split_batch(batch)
        logits = model(*inputs)
        loss = self.loss(logits, y, *inputs) if getattr(self.loss, "takes_inputs", False) else self.loss(logits, y)
        acc = (predictions(logits.detach()) == y).float().mean()
        return loss, {"acc": acc}

    def metric_names(self) -> list[str]:
        """What evaluate reports (checked against trainer.monitor before training)."""
        return ["loss", "acc", "f1"]

    def evaluate(self, model: nn.Module, batches: Iterable[Any], split: str) -> dict[str, float]:
        count = 0
        confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.long)
        loss_total: torch.Tensor | None = None
        worst = TopLosses(self.top_losses) if split == "test" and self.top_losses else None
        for batch in batches:
            inputs, y = split_batch(batch)
            logits = model(*inputs)
            if logits.dim() == 2 and logits.shape[1] not in (1, self.num_classes):  # predictions must index the confusion matrix
                raise DlrunError(f"model: outputs {logits.shape[1]} class scores but the dataset has {self.num_classes} classes "
                                 "(leave model.num_classes null to take it from the dataset)")
            batch_loss = self.loss(logits, y).float() * len(y)
            loss_total = batch_loss if loss_total is None else loss_total + batch_loss
            confusion += confusion_matrix(y, predictions(logits), self.num_classes).cpu()
            count += len(y)
            if worst is not None and len(inputs) == 1 and inputs[0].dim() == 4 and logits.dim() == 2 and logits.shape[1] > 1:
                worst.update(inputs[0], logits, y)
        if count == 0:
            return {}
        self.confusion[split] = confusion
        if worst is not None and worst.losses is not None:
            self.worst[split] = worst
        correct = confusion.diag().sum().item()
        return {"loss": float(loss_total) / count, "acc": correct / count, "f1": f1_score(confusion)}

    # -- optional trainer hooks --------------------------------------------------------------
    def on_train_step(self, model: nn.Module, step: int, logger: RunLogger) -> None:
        """At init (step 0) and every filters_every_n_steps steps: the first conv layer's filters."""
        self.last_step = step
        if self.filters_every and step % self.filters_every == 0:
            self.draw_filters(model, logger, step, f"filters/step_{step:06d}.png")

    def on_epoch_end(self, model: nn.Module, epoch: int, history: list[dict[str, float]], logger: RunLogger) -> None:
        """Keep the per-epoch metrics for the training plot."""
        self.history = history

    # -- artifacts ---------------------------------------------------------------------------
    def draw_filters(self, model: nn.Module, logger: RunLogger, step: int, png_name: str) -> None:
        from dlrun.plots.filters import filter_grid, first_conv

        conv = first_conv(model)
        if conv is not None:
            logger.image("filters/conv1", filter_grid(conv.weight), step, png_name=png_name)

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        from dlrun.plots.confusion import confusion_figure

        if self.history:  # the two slowest figures first, so the two figure helpers draw them side by side
            from dlrun.plots.training import training_plot_figure

            logger.draw("training_plot", training_plot_figure, self.history, png_name="training_plot.png", redraws_logged=True)
        if "test" in self.worst:
            self.draw_top_losses(self.worst["test"], data, logger)
        if "test" in self.confusion:
            logger.draw("test/confusion_matrix", confusion_figure, self.confusion["test"], self.class_names, png_name="confusion_matrix.png")
            self.write_class_table(self.confusion["test"], run_dir, logger)
        self.draw_filters(model, logger, self.last_step, "filters/final.png")
        if logger.wants() and data.meta.get("in_features") == 2 and isinstance(data, TensorSplits):  # the grid is only for the figure
            from dlrun.plots.decision_surface import decision_grid, decision_surface_plot

            x, y = data.split_tensors("test")
            if len(x) == 0:  # test_size=0: nothing to draw
                return
            logger.draw("test/decision_surface", decision_surface_plot, *decision_grid(model, x, predictions), x, y, png_name="decision_surface.png")

    def write_class_table(self, confusion: torch.Tensor, run_dir: Path, logger: RunLogger) -> None:
        """per_class_metrics.csv, a PNG table and a markdown table in TensorBoard's text tab."""
        from dlrun.plots.class_table import class_table_figure

        rows = per_class_metrics(confusion, self.class_names)
        with open(run_dir / "per_class_metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["class", "precision", "recall", "f1", "support"])
            writer.writeheader()
            writer.writerows(rows)
        lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        lines += [f"| {r['class']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |" for r in rows]
        logger.text("test/per_class_metrics", "\n".join(lines))
        logger.draw("test/per_class_metrics", class_table_figure, rows, png_name="per_class_metrics.png", redraws_logged=True)

    def draw_top_losses(self, worst: TopLosses, data: DataModule, logger: RunLogger) -> None:
        from dlrun.plots.top_losses import denormalize, top_losses_figure

        assert worst.inputs is not None and worst.targets is not None and worst.probs is not None and worst.losses is not None
        channels = worst.inputs.shape[1]
        mean = data.meta.get("mean") or [0.0] * channels
        std = data.meta.get("std") or [1.0] * channels
        images = denormalize(worst.inputs, mean, std)
        logger.draw("test/top_losses", top_losses_figure, images, worst.targets, worst.probs, worst.losses, self.class_names,
                    png_name="top_losses.png")
