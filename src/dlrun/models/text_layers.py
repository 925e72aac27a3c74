"""Pieces shared by the text classifiers: the token embedding, padding masks, pooling over time and
the output size rule."""

from __future__ import annotations

import torch
from torch import nn

from dlrun.data.vocab import PAD_INDEX

POOLINGS = ("mean", "max", "sum")


def make_embedding(vocab_size: int, embedding_dim: int, pretrained: torch.Tensor | None, freeze: bool | str) -> nn.Embedding:
    """Token embedding with a zero, gradient-free `<PAD>` row.

    pretrained: a (vocab_size, embedding_dim) matrix from the dataset (None: random N(0, 1)).
    freeze: True | False | "auto" (frozen when pretrained vectors are given, trained when random,
    as in the lab).
    """
    if vocab_size < 1 or embedding_dim < 1:
        raise ValueError(f"vocab_size and embedding_dim must be >= 1, got {vocab_size} and {embedding_dim}")
    if freeze not in (True, False, "auto"):
        raise ValueError(f"freeze_embeddings must be true, false or auto, got {freeze!r}")
    if freeze == "auto":
        freeze = pretrained is not None
    if pretrained is None:
        embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_INDEX)
    else:
        if tuple(pretrained.shape) != (vocab_size, embedding_dim):
            raise ValueError(f"pretrained embeddings have shape {tuple(pretrained.shape)}, expected ({vocab_size}, {embedding_dim})")
        embedding = nn.Embedding.from_pretrained(pretrained.float().clone(), freeze=False, padding_idx=PAD_INDEX)
    embedding.weight.requires_grad_(not freeze)
    return embedding


def num_outputs(num_classes: int, single_logit: bool) -> int:
    """One logit for a binary problem trained with BCE (the lab's fc(150, 1)), else one per class."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if single_logit and num_classes != 2:
        raise ValueError(f"single_logit needs 2 classes, the dataset has {num_classes} (set model.single_logit=false)")
    return 1 if single_logit else num_classes


def padding_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B, width) bool, True at the valid (non-padding) steps."""
    return torch.arange(width, device=lengths.device) < lengths.unsqueeze(1)


def pool_over_time(x: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool (B, T, D) over time ignoring padding: mean, max or sum of the valid steps -> (B, D)."""
    if mode == "max":
        return x.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
    total = (x * mask.unsqueeze(-1).to(x.dtype)).sum(dim=1)
    if mode == "sum":
        return total
    if mode == "mean":
        return total / mask.sum(dim=1, keepdim=True).clamp_min(1).to(x.dtype)
    raise ValueError(f"unknown pooling '{mode}' (valid: {', '.join(POOLINGS)})")
