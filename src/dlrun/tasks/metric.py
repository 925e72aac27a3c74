"""Metric learning: a model maps images to embeddings, a metric loss shapes the space, and the
evaluation is retrieval-style (nearest class mean accuracy, mean average precision, recall@k)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlrun.data.base import Batches, DataModule
from dlrun.errors import DlrunError, UnknownSplit
from dlrun.run_logger import RunLogger
from dlrun.tasks.base import BaseTask
from dlrun.tasks.retrieval import class_means, nearest_class_mean, retrieval_metrics


def triplet_batch(batch: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(inputs, labels, triplet indices) from a batch: (anchor, positive, negative, anchor label,
    negative label) becomes 3B inputs with rows (i, B+i, 2B+i); (inputs, labels) has no triplets."""
    if len(batch) == 5:
        anchor, positive, negative, label, negative_label = batch
        b = len(anchor)
        rows = torch.arange(b, device=anchor.device)
        triplets = torch.stack([rows, rows + b, rows + 2 * b], dim=1)
        return torch.cat([anchor, positive, negative]), torch.cat([label, label, negative_label]), triplets
    if len(batch) == 2:
        return batch[0], batch[1], None
    raise DlrunError(f"metric task: a batch must be (inputs, labels) or a 5-tuple of triplets, got {len(batch)} tensors")


class MetricTask(BaseTask):
    """Trains an embedding with a metric loss (dlrun.losses.metric_base); evaluates on a split with
    embeddings of its images and class means from the data's reference split ('traineval')."""

    def __init__(self, loss: nn.Module, normalize: bool = True, recall_at: Sequence[int] = (1,),
                 reference_split: str = "traineval", projector_samples: int = 2000) -> None:
        if any(int(k) < 1 for k in recall_at):
            raise ValueError(f"recall_at values must be >= 1, got {list(recall_at)}")
        if projector_samples < 0:
            raise ValueError(f"projector_samples must be >= 0, got {projector_samples}")
        self.loss = loss
        self.normalize = normalize
        self.recall_at = [int(k) for k in recall_at]
        self.reference_split = reference_split
        self.projector_samples = projector_samples
        self.data: DataModule | None = None
        self.device = torch.device("cpu")
        self.num_classes = 0

    def setup(self, data: DataModule, device: torch.device) -> None:
        self.data = data
        self.device = device
        self.num_classes = int(data.meta["num_classes"])
        self.loss.to(device)

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        inputs, labels, triplets = triplet_batch(batch)
        emb = model(inputs)
        loss = self.loss(emb, labels, triplets)
        stats: dict[str, torch.Tensor] = {}
        if triplets is not None:  # share of triplets already ordered: anchor closer to positive
            e = emb.detach().float()
            d_ap = (e[triplets[:, 0]] - e[triplets[:, 1]]).pow(2).sum(1)
            d_an = (e[triplets[:, 0]] - e[triplets[:, 2]]).pow(2).sum(1)
            stats["triplet_acc"] = (d_ap < d_an).float().mean()
        return loss, stats

    def embed(self, model: nn.Module, batches: Iterable[Any], with_loss: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Embeddings (float32), labels and the mean per-batch loss (pair and triplet losses use every
        valid pair/triplet of an eval batch: an estimate of the loss under random sampling)."""
        embs, labels, loss_sum, count = [], [], None, 0
        for batch in batches:
            x, y = batch[0].to(self.device), batch[1].to(self.device)
            emb = model(x).float().flatten(1)
            if with_loss:
                batch_loss = self.loss(emb, y) * len(y)
                loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
            embs.append(emb)
            labels.append(y)
            count += len(y)
        if not embs:
            raise DlrunError("metric task: the evaluated split is empty")
        return torch.cat(embs), torch.cat(labels), None if loss_sum is None else loss_sum / count

    def _reference(self) -> Batches:
        assert self.data is not None, "setup() first"
        try:
            return self.data.loader(self.reference_split)
        except UnknownSplit:  # a dataset without the lab's 'traineval' split: class means from 'train'
            return self.data.loader("train")

    def metric_names(self) -> list[str]:
        """What evaluate reports (checked against trainer.monitor before training)."""
        return ["loss", "acc", "map", *(f"recall@{k}" for k in self.recall_at)]

    def evaluate(self, model: nn.Module, batches: Iterable[Any], split: str) -> dict[str, float]:
        emb, labels, loss = self.embed(model, batches)
        ref_emb, ref_labels, _ = self.embed(model, self._reference(), with_loss=False)
        if self.normalize:
            emb, ref_emb = F.normalize(emb, dim=1), F.normalize(ref_emb, dim=1)
        means, seen = class_means(ref_emb, ref_labels, self.num_classes)
        predicted = nearest_class_mean(emb, means, seen)
        metrics = {"loss": float(loss) if loss is not None else float("nan"),
                   "acc": float((predicted == labels).float().mean())}
        metrics.update(retrieval_metrics(emb, labels, self.recall_at))
        return metrics

    @torch.no_grad()
    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        """PCA scatter of raw test images and of their embeddings (PNG + TensorBoard), and the test
        embeddings with labels (and thumbnails) for TensorBoard's projector."""
        from dlrun.plots.pca_scatter import pca_scatter_figure

        was_training = model.training
        model.eval()
        images, labels, embs = [], [], []
        for batch in data.loader("test"):
            x, y = batch[0].to(self.device), batch[1].to(self.device)
            images.append(x.float().cpu())
            labels.append(y.cpu())
            embs.append(model(x).float().flatten(1).cpu())
        model.train(was_training)
        x, y, emb = torch.cat(images), torch.cat(labels), torch.cat(embs)
        if self.normalize:
            emb = F.normalize(emb, dim=1)
        logger.figure("test/pca_images", pca_scatter_figure(x.flatten(1), y, "PCA of raw test images"), png_name="pca_images.png")
        logger.figure("test/pca_embeddings", pca_scatter_figure(emb, y, "PCA of test embeddings"), png_name="pca_embeddings.png")
        if logger.writer is not None and self.projector_samples:
            n = min(self.projector_samples, len(y))
            thumbnails = x[:n] if x.dim() == 4 and x.shape[1] in (1, 3) else None
            logger.writer.add_embedding(emb[:n], metadata=y[:n].tolist(), label_img=thumbnails, tag="test_embeddings")
