"""NT-Xent, SimCLR's contrastive loss (course lecture on self-supervision, Chen et al. 2020)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NTXentLoss(nn.Module):
    """The lecture's algorithm over the 2N views of N images: s_ij = cosine(z_i, z_j),
    l(i, j) = -log[e^{s_ij/tau} / sum_{k != i} e^{s_ik/tau}] and L = 1/(2N) sum_k [l(2k-1, 2k) + l(2k, 2k-1)].

    Called as loss(z1, z2) with z1[k], z2[k] the projections of the two views of image k: every view's
    positive is its partner, its 2(N-1) negatives are the other images' views. One (2N, 2N) similarity
    matrix and a cross-entropy over its rows, the diagonal (k = i) masked out.
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        if z1.shape != z2.shape or z1.dim() != 2:
            raise ValueError(f"nt_xent needs two (N, D) tensors of one shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
        n = len(z1)
        z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        logits = (z @ z.T / self.temperature).fill_diagonal_(float("-inf"))
        rows = torch.arange(n, device=z.device)
        partner = torch.cat([rows + n, rows])
        return F.cross_entropy(logits, partner)

    @staticmethod
    def pair_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """Share of the 2N views whose most similar other view is their partner (contrastive top-1)."""
        n = len(z1)
        z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        sim = (z @ z.T).fill_diagonal_(float("-inf"))
        rows = torch.arange(n, device=z.device)
        return (sim.argmax(dim=1) == torch.cat([rows + n, rows])).float().mean()
