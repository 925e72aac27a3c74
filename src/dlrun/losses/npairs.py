"""N-pairs loss (Sohn 2016) = InfoNCE (van den Oord et al. 2018) with a temperature (course)."""

from __future__ import annotations

import torch

from dlrun.losses.metric_base import MASKED, MetricLoss, label_masks, zero_loss


class NPairsLoss(MetricLoss):
    """For each (anchor a, positive p): -log[e^{s_ap} / (e^{s_ap} + sum_{n: y_n != y_a} e^{s_an})],
    s = a.b / temperature, averaged over the pairs.

    Equals log(1 + sum_n e^{s_an - s_ap}) (the course's form). The pairs are the triplets'
    (anchor, positive) when given, else every positive pair of the batch; the negatives are every
    sample of the batch with another label.
    """

    def __init__(self, temperature: float = 1.0, normalize: bool = False) -> None:
        super().__init__(normalize)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def compute(self, emb: torch.Tensor, labels: torch.Tensor, triplets: torch.Tensor | None) -> torch.Tensor:
        positives, negatives = label_masks(labels)
        if triplets is not None:
            anchor, positive = triplets[:, 0], triplets[:, 1]
        else:
            anchor, positive = positives.nonzero(as_tuple=True)
        if len(anchor) == 0:
            return zero_loss(emb)
        sim = emb @ emb.T / self.temperature
        negative_lse = torch.logsumexp(sim.masked_fill(~negatives, MASKED), dim=1)
        s_ap = sim[anchor, positive]
        return (torch.logaddexp(s_ap, negative_lse[anchor]) - s_ap).mean()
