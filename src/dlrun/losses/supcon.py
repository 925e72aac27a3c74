"""Supervised contrastive loss, the "sum-out" form (Khosla et al. 2020) as written in the course."""

from __future__ import annotations

import torch

from dlrun.losses.metric_base import MASKED, MetricLoss, label_masks, zero_loss

DENOMINATORS = ("negatives", "all")


class SupConLoss(MetricLoss):
    """L = -(1/B') sum_i (1/|P_i|) sum_{j in P_i} log[e^{s_ij} / sum_{k in A_i} e^{s_ik}], s = a.b / tau.

    P_i: the other samples with anchor i's label; B': anchors with at least one positive.
    denominator='negatives' (course): A_i = samples with another label; 'all' (Khosla et al.):
    A_i = every sample but i. Explicit triplets are ignored (the loss uses all labels of the batch).
    """

    def __init__(self, temperature: float = 0.1, denominator: str = "negatives", normalize: bool = True) -> None:
        super().__init__(normalize)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if denominator not in DENOMINATORS:
            raise ValueError(f"unknown denominator '{denominator}' (valid: {', '.join(DENOMINATORS)})")
        self.temperature = temperature
        self.denominator = denominator

    def compute(self, emb: torch.Tensor, labels: torch.Tensor, triplets: torch.Tensor | None) -> torch.Tensor:
        positives, negatives = label_masks(labels)
        others = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        in_denominator = negatives if self.denominator == "negatives" else others
        valid = positives.any(1) & in_denominator.any(1)
        if not valid.any():
            return zero_loss(emb)
        sim = emb @ emb.T / self.temperature
        lse = torch.logsumexp(sim.masked_fill(~in_denominator, MASKED), dim=1, keepdim=True)
        log_prob = torch.where(positives, sim - lse, torch.zeros_like(sim))
        per_anchor = -log_prob.sum(1) / positives.sum(1).clamp_min(1)
        return per_anchor[valid].mean()
