"""1-D convolutional text classifier (Kim 2014 style): parallel convolutions over time, max over
the valid steps, dropout, linear layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.models.activations import make_activation
from dlrun.models.init import initialize
from dlrun.models.text_layers import make_embedding, num_outputs, padding_mask, pool_over_time


class TextCNN(nn.Module):
    """forward(tokens (B, T), lengths (B,)) -> logits (B, 1) or (B, num_classes).

    Each kernel size k has `channels` filters. Convolutions are padded by k - 1 on both sides, so a
    text of length L has L + k - 1 outputs, all of which see at least one real token; the max runs
    over exactly those, so a text's logits do not depend on how much padding its batch has.
    `init*`, `bias_init`, `head_init`: dlrun.models.init (fan_in of a conv = embedding_dim x k; the head is
    the output layer; the embedding keeps its own init).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        pretrained_embeddings: torch.Tensor | None = None,
        freeze_embeddings: bool | str = "auto",
        kernel_sizes: Sequence[int] = (3, 4, 5),
        channels: int = 100,
        activation: str = "relu",
        dropout: float = 0.5,
        single_logit: bool = False,
        init: str = "default",
        init_fan: str | None = None,
        init_gain: float | None = None,
        bias_init: float | None = None,
        head_init: str = "same",
    ) -> None:
        super().__init__()
        if not kernel_sizes or any(int(k) < 1 for k in kernel_sizes) or channels < 1:
            raise ValueError(f"need kernel sizes >= 1 and channels >= 1, got {list(kernel_sizes)} and {channels}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.embedding = make_embedding(vocab_size, embedding_dim, pretrained_embeddings, freeze_embeddings)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, channels, k, padding=k - 1) for k in self.kernel_sizes)
        self.activation = make_activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(channels * len(self.kernel_sizes), num_outputs(num_classes, single_logit))
        initialize(self, init, init_fan, init_gain, bias_init, head_init, activation, head=self.out)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(1, 2)  # (B, E, T)
        pooled = []
        for k, conv in zip(self.kernel_sizes, self.convs):
            features = self.activation(conv(x)).transpose(1, 2)  # (B, T + k - 1, C)
            pooled.append(pool_over_time(features, padding_mask(lengths + k - 1, features.shape[1]), "max"))
        return self.out(self.dropout(torch.cat(pooled, dim=1)))
