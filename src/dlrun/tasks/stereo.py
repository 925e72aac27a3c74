"""Stereo matching as metric learning (Žbontar & LeCun, course lecture): a siamese patch embedding
trained with a metric loss on (anchor, positive, negative) patch triplets, evaluated by dense
winner-takes-all matching on whole images."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlrun.data.base import DataModule, DenseStereo
from dlrun.errors import DlrunError
from dlrun.run_logger import RunLogger
from dlrun.tasks.base import BaseTask
from dlrun.tasks.stereo_matching import disparity_errors, wta_disparity


def patch_triplets(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """3B patches, labels (anchor and positive share label i, negative i gets B + i) and triplet rows."""
    if len(batch) != 3:
        raise DlrunError(f"stereo task: a batch must be (anchor, positive, negative) patches, got {len(batch)} tensors")
    anchor, positive, negative = batch
    b = len(anchor)
    rows = torch.arange(b, device=anchor.device)
    labels = torch.cat([rows, rows, rows + b])
    return torch.cat([anchor, positive, negative]), labels, torch.stack([rows, rows + b, rows + 2 * b], dim=1)


class StereoTask(BaseTask):
    """Training: the metric loss on patch triplets. Evaluation of a split: the patch loss and the
    share of triplets ranked right ('patch_acc') on the split's fixed patch batches, then dense
    disparity on the data's whole images of that split (the `batches` only carry patches, so the
    task keeps the data module from `setup` for this): 'acc' = share of ground-truth pixels within
    ±tolerance px, 'epe' = mean absolute error. At the test split 'train_acc' is the same dense
    accuracy on up to train_images training images (the lecture's train column)."""

    def __init__(self, loss: nn.Module, max_disparity: int = 128, tolerance: float = 3.0, max_eval_images: int | None = None,
                 train_images: int = 0, artifact_images: int = 2) -> None:
        if max_disparity < 1:
            raise ValueError(f"max_disparity must be >= 1, got {max_disparity}")
        if tolerance < 0 or train_images < 0 or artifact_images < 0:
            raise ValueError("tolerance, train_images and artifact_images must be >= 0")
        if max_eval_images is not None and max_eval_images < 1:
            raise ValueError(f"max_eval_images must be >= 1 or null, got {max_eval_images}")
        self.loss = loss
        self.max_disparity = max_disparity
        self.tolerance = tolerance
        self.max_eval_images = max_eval_images
        self.train_images = train_images
        self.artifact_images = artifact_images
        self.data: DenseStereo | None = None
        self.device = torch.device("cpu")
        self.examples: list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def setup(self, data: DataModule, device: torch.device) -> None:
        if not isinstance(data, DenseStereo):
            raise DlrunError("task=stereo needs a stereo dataset (dataset=kitti_stereo or synthetic_stereo)")
        self.data = data
        self.device = device
        self.loss.to(device)

    def _patch_scores(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, labels, triplets = patch_triplets(batch)
        emb = model(inputs)
        loss = self.loss(emb, labels, triplets)
        e = F.normalize(emb.detach().float().flatten(1), dim=1)
        ranked = (e[triplets[:, 0]] * e[triplets[:, 1]]).sum(1) > (e[triplets[:, 0]] * e[triplets[:, 2]]).sum(1)
        return loss, ranked.float().mean()

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, patch_acc = self._patch_scores(model, batch)
        return loss, {"patch_acc": patch_acc}

    def predict(self, model: nn.Module, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """(h, w) WTA disparity of one normalized pair: each image embedded once, padded convs."""
        features = model(torch.cat([left, right]).to(self.device), dense=True).float()
        return wta_disparity(features[:1], features[1:], self.max_disparity)[0]

    def dense_metrics(self, model: nn.Module, split: str, limit: int | None, keep: int = 0) -> dict[str, float]:
        correct = counted = 0
        abs_error = 0.0
        assert self.data is not None, "setup() first"
        for i, (name, left, right, truth) in enumerate(self.data.dense_pairs(split, limit)):
            predicted = self.predict(model, left, right)
            c, n, e = disparity_errors(predicted, truth.to(predicted.device), self.tolerance)
            correct, counted, abs_error = correct + c, counted + n, abs_error + e
            if i < keep:
                self.examples.append((name, left[0].cpu(), truth.cpu(), predicted.cpu()))
        return {"acc": correct / max(counted, 1), "epe": abs_error / max(counted, 1)}

    def metric_names(self) -> list[str]:
        """What evaluate reports for validation (checked against trainer.monitor before training)."""
        return ["loss", "patch_acc", "acc", "epe"]

    def evaluate(self, model: nn.Module, batches: Iterable[Any], split: str) -> dict[str, float]:
        loss_sum, acc_sum, count = 0.0, 0.0, 0
        for batch in batches:
            loss, patch_acc = self._patch_scores(model, batch)
            loss_sum, acc_sum, count = loss_sum + float(loss), acc_sum + float(patch_acc), count + 1
        metrics = {"loss": loss_sum / max(count, 1), "patch_acc": acc_sum / max(count, 1)}
        if split == "test":
            self.examples = []
        limit = self.max_eval_images if split == "val" else None
        metrics.update(self.dense_metrics(model, split, limit, keep=self.artifact_images if split == "test" else 0))
        if split == "test" and self.train_images:
            metrics["train_acc"] = self.dense_metrics(model, "train", self.train_images)["acc"]
        return metrics

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        """Left image, ground truth, prediction and error map of the first test images (PNG + TensorBoard)."""
        from dlrun.plots.disparity import disparity_figure

        for name, left, truth, predicted in self.examples:
            stem = Path(name).stem
            fig = disparity_figure(left, truth, predicted, self.tolerance, self.max_disparity, title=stem)
            logger.figure(f"test/disparity/{stem}", fig, png_name=f"disparity_{stem}.png")
