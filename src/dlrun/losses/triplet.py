"""Triplet margin loss (Schroff et al. 2015; course), with L2 or dot-product distance and an
optional soft hinge."""

from __future__ import annotations

import torch

from dlrun.losses.metric_base import MetricLoss, check_distance, hinge, label_masks, pair_distances, pairwise_distances, zero_loss


class TripletLoss(MetricLoss):
    """L = mean over triplets of h(D(a, p) - D(a, n) + margin), h = [.]_+ or softplus (soft=true).

    distance='l2': D = ||a - b|| (like torch's TripletMarginLoss with p=2); distance='dot':
    D = -a.b, i.e. the course's max(0, f_a.f_n - f_a.f_p + alpha). Without explicit triplets the
    mean runs over every valid triplet of the batch (batch-all).
    """

    def __init__(self, margin: float = 1.0, distance: str = "l2", soft: bool = False, normalize: bool = False) -> None:
        super().__init__(normalize)
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin
        self.distance = check_distance(distance)
        self.soft = soft

    def compute(self, emb: torch.Tensor, labels: torch.Tensor, triplets: torch.Tensor | None) -> torch.Tensor:
        if triplets is not None:
            anchor, positive, negative = emb[triplets[:, 0]], emb[triplets[:, 1]], emb[triplets[:, 2]]
            d_ap = pair_distances(anchor, positive, self.distance)
            d_an = pair_distances(anchor, negative, self.distance)
            return hinge(d_ap - d_an + self.margin, self.soft).mean()
        positives, negatives = label_masks(labels)
        valid = positives[:, :, None] & negatives[:, None, :]  # [a, p, n]
        if not valid.any():
            return zero_loss(emb)
        dist = pairwise_distances(emb, self.distance)
        losses = hinge(dist[:, :, None] - dist[:, None, :] + self.margin, self.soft)
        return losses[valid].mean()
