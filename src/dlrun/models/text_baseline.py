"""The lab's baseline: embed, pool over time (padding masked), then an MLP
(lab: mean pool -> fc(300, 150) -> ReLU -> fc(150, 150) -> ReLU -> fc(150, 1))."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.models.mlp import MLP
from dlrun.models.text_layers import POOLINGS, make_embedding, num_outputs, padding_mask, pool_over_time


class TextBaseline(nn.Module):
    """forward(tokens (B, T), lengths (B,)) -> logits (B, 1) or (B, num_classes). `init*`, `bias_init`,
    `head_init`: the MLP's (dlrun.models.init); the embedding keeps N(0, 1) or its pretrained vectors.
    layer_norm: LayerNorm before each hidden activation of the MLP."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        pretrained_embeddings: torch.Tensor | None = None,
        freeze_embeddings: bool | str = "auto",
        pooling: str = "mean",
        hidden: Sequence[int] = (150, 150),
        activation: str = "relu",
        dropout: float = 0.0,
        single_logit: bool = False,
        layer_norm: bool = False,
        init: str = "default",
        init_fan: str | None = None,
        init_gain: float | None = None,
        bias_init: float | None = None,
        head_init: str = "same",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling '{pooling}' (valid: {', '.join(POOLINGS)})")
        self.pooling = pooling
        self.embedding = make_embedding(vocab_size, embedding_dim, pretrained_embeddings, freeze_embeddings)
        self.mlp = MLP(embedding_dim, num_outputs(num_classes, single_logit), hidden, activation, dropout,
                       layer_norm=layer_norm, init=init, init_fan=init_fan, init_gain=init_gain, bias_init=bias_init, head_init=head_init)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = padding_mask(lengths, tokens.shape[1])
        return self.mlp(pool_over_time(self.embedding(tokens), mask, self.pooling))
