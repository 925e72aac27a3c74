"""What every metric-learning loss shares: one call signature, distances, pair and triplet masks.

A metric loss is called as ``loss(embeddings, labels, triplets=None)``: ``embeddings`` (N, D) of a
batch, ``labels`` (N,) its classes, and optionally ``triplets`` (T, 3) rows of (anchor, positive,
negative) indices into the batch (the lab's sampled triplets). Pair and triplet losses given no
triplets use every valid pair/triplet of the batch ("batch-all"); mining and label-based losses
(batch-hard, N-pairs, SupCon) always work from the labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SQRT_EPS = 1e-12  # inside sqrt: keeps the gradient finite when two embeddings coincide
MASKED = -1e30    # a finite "minus infinity" for masked logits (true -inf makes NaN gradients)
DISTANCES = ("l2", "dot")


def check_distance(distance: str) -> str:
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance '{distance}' (valid: {', '.join(DISTANCES)})")
    return distance


def pairwise_distances(emb: torch.Tensor, distance: str) -> torch.Tensor:
    """(N, N) distances: Euclidean ('l2') or negated dot product ('dot': smaller is closer)."""
    gram = emb @ emb.T
    if distance == "dot":
        return -gram
    squared = gram.diagonal()
    return (squared[:, None] + squared[None, :] - 2 * gram).clamp_min(0).add(SQRT_EPS).sqrt()


def pair_distances(a: torch.Tensor, b: torch.Tensor, distance: str) -> torch.Tensor:
    """Row-wise distance between a[i] and b[i]."""
    if distance == "dot":
        return -(a * b).sum(1)
    return (a - b).pow(2).sum(1).add(SQRT_EPS).sqrt()


def label_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positives, negatives) as (N, N) bool masks: same label but not itself; different label."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def hinge(x: torch.Tensor, soft: bool) -> torch.Tensor:
    """[x]_+ or its smooth version softplus(x) = ln(1 + e^x) (the course's soft hinge)."""
    return F.softplus(x) if soft else x.clamp_min(0)


def zero_loss(emb: torch.Tensor) -> torch.Tensor:
    """A zero that keeps the graph (a batch with no valid pair or triplet)."""
    return emb.sum() * 0.0


class MetricLoss(nn.Module):
    """Base: optionally L2-normalizes the embeddings, computes in float32, then `compute`."""

    def __init__(self, normalize: bool = False) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, triplets: torch.Tensor | None = None) -> torch.Tensor:
        emb = embeddings.float().flatten(1)
        if self.normalize:
            emb = F.normalize(emb, dim=1)
        return self.compute(emb, labels, triplets)

    def compute(self, emb: torch.Tensor, labels: torch.Tensor, triplets: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError
