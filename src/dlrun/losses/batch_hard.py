"""Batch-hard triplet loss (Hermans et al. 2017; course): each anchor with its hardest positive and
hardest negative in the batch. Use with class-balanced P x K batches."""

from __future__ import annotations

import torch

from dlrun.losses.metric_base import hinge, label_masks, pairwise_distances, zero_loss
from dlrun.losses.triplet import TripletLoss


class BatchHardTripletLoss(TripletLoss):
    """L = mean_a h(margin + max_{p: y_p = y_a} D(a, p) - min_{n: y_n != y_a} D(a, n)).

    Anchors without a positive or a negative in the batch are skipped. Explicit triplets are
    ignored: the positives and negatives are mined from the labels of the whole batch.
    """

    def __init__(self, margin: float = 0.2, distance: str = "l2", soft: bool = False, normalize: bool = False) -> None:
        super().__init__(margin, distance, soft, normalize)

    def hardest(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per anchor: index of the hardest positive, of the hardest negative, and validity."""
        positives, negatives = label_masks(labels)
        dist = pairwise_distances(emb, self.distance)
        hardest_pos = dist.masked_fill(~positives, float("-inf")).argmax(1)
        hardest_neg = dist.masked_fill(~negatives, float("inf")).argmin(1)
        return hardest_pos, hardest_neg, positives.any(1) & negatives.any(1)

    def compute(self, emb: torch.Tensor, labels: torch.Tensor, triplets: torch.Tensor | None) -> torch.Tensor:
        positive, negative, valid = self.hardest(emb, labels)
        if not valid.any():
            return zero_loss(emb)
        dist = pairwise_distances(emb, self.distance)
        anchors = torch.arange(len(emb), device=emb.device)[valid]
        d_ap = dist[anchors, positive[valid]]
        d_an = dist[anchors, negative[valid]]
        return hinge(self.margin + d_ap - d_an, self.soft).mean()
