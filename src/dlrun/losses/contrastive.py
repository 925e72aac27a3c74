"""Contrastive loss (Hadsell et al. 2006; course): pull positives together, push negatives past a margin."""

from __future__ import annotations

import torch

from dlrun.losses.metric_base import MetricLoss, label_masks, zero_loss

NEGATIVE_TERMS = ("hinge_squared", "squared_margin")


class ContrastiveLoss(MetricLoss):
    """L = mean_pos ||f_q - f_p||^2 + mean_neg [max(0, m - ||f_q - f_n||)]^2.

    negative='squared_margin' is the course's homework variant max(0, m^2 - ||f_q - f_n||^2). With
    triplets, the pairs are (anchor, positive) and (anchor, negative) of each triplet; without,
    every positive and every negative pair of the batch.
    """

    def __init__(self, margin: float = 1.0, negative: str = "hinge_squared", normalize: bool = False) -> None:
        super().__init__(normalize)
        if margin <= 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        if negative not in NEGATIVE_TERMS:
            raise ValueError(f"unknown negative term '{negative}' (valid: {', '.join(NEGATIVE_TERMS)})")
        self.margin = margin
        self.negative = negative

    def _negative_term(self, squared: torch.Tensor) -> torch.Tensor:
        if self.negative == "squared_margin":
            return (self.margin**2 - squared).clamp_min(0)
        return (self.margin - squared.add(1e-12).sqrt()).clamp_min(0).pow(2)

    def compute(self, emb: torch.Tensor, labels: torch.Tensor, triplets: torch.Tensor | None) -> torch.Tensor:
        if triplets is not None:
            anchor, positive, negative = emb[triplets[:, 0]], emb[triplets[:, 1]], emb[triplets[:, 2]]
            pos_sq = (anchor - positive).pow(2).sum(1)
            neg_sq = (anchor - negative).pow(2).sum(1)
            return (pos_sq + self._negative_term(neg_sq)).mean()
        positives, negatives = label_masks(labels)
        if not positives.any() and not negatives.any():
            return zero_loss(emb)
        gram = emb @ emb.T
        norms = gram.diagonal()
        sq = (norms[:, None] + norms[None, :] - 2 * gram).clamp_min(0)
        loss = zero_loss(emb)
        if positives.any():
            loss = loss + sq[positives].mean()
        if negatives.any():
            loss = loss + self._negative_term(sq[negatives]).mean()
        return loss
