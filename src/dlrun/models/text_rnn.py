"""Recurrent text classifier (course lab 3): embed -> RNN/GRU/LSTM stack -> readout -> MLP head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dlrun.models.init import initialize
from dlrun.models.mlp import MLP
from dlrun.models.text_layers import make_embedding, num_outputs, padding_mask, pool_over_time

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
READOUTS = ("last", "mean", "max", "attention")


class Attention(nn.Module):
    """The lab's attention readout: a_t = w2^T tanh(W1 h_t), alpha = softmax of a over the valid
    steps, output = sum_t alpha_t h_t."""

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(in_features, hidden, bias=False)
        self.w2 = nn.Linear(hidden, 1, bias=False)

    def weights(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """alpha (B, T): zero at padding, summing to 1 over each text's steps."""
        scores = self.w2(torch.tanh(self.w1(states))).squeeze(-1)
        return scores.float().masked_fill(~mask, float("-inf")).softmax(dim=1).to(states.dtype)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (self.weights(states, mask).unsqueeze(-1) * states).sum(dim=1)


class TextRNN(nn.Module):
    """forward(tokens (B, T), lengths (B,)) -> logits (B, 1) or (B, num_classes).

    cell: rnn | gru | lstm; `num_layers` stacked, `dropout` between them (ignored with one layer),
    optionally bidirectional (readouts see both directions concatenated). packed: true runs the RNN
    on packed sequences so padding never enters it; false runs it on the padded batch, which is
    exact for a unidirectional RNN (its states at a text's steps never see the padding after them,
    and every readout uses only those steps) but not for the backward direction; auto packs only
    when bidirectional (PyTorch's packed RNNs are about 3x slower on CPU). readout:
    last (the forward state at each text's last step, plus the backward state at its first step),
    mean | max (over valid steps) or attention (attention_size units, 0 = hidden_size // 2, the
    lab's choice). head: hidden sizes of the MLP after the readout (lab: [150]); layer_norm: LayerNorm
    before each of its hidden activations. `init*`, `bias_init`,
    `head_init` (dlrun.models.init): the RNN per gate block with tanh's gain, the attention and the MLP with
    the activation's; the head is the logits layer; the embedding keeps its own init.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        pretrained_embeddings: torch.Tensor | None = None,
        freeze_embeddings: bool | str = "auto",
        cell: str = "gru",
        hidden_size: int = 150,
        num_layers: int = 2,
        dropout: float = 0.0,
        bidirectional: bool = False,
        packed: bool | str = "auto",
        readout: str = "last",
        attention_size: int = 0,
        head: Sequence[int] = (150,),
        activation: str = "relu",
        head_dropout: float = 0.0,
        single_logit: bool = False,
        layer_norm: bool = False,
        init: str = "default",
        init_fan: str | None = None,
        init_gain: float | None = None,
        bias_init: float | None = None,
        head_init: str = "same",
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell '{cell}' (valid: {', '.join(CELLS)})")
        if readout not in READOUTS:
            raise ValueError(f"unknown readout '{readout}' (valid: {', '.join(READOUTS)})")
        if hidden_size < 1 or num_layers < 1 or attention_size < 0:
            raise ValueError(f"need hidden_size >= 1, num_layers >= 1, attention_size >= 0; got {hidden_size}, {num_layers}, {attention_size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if packed not in (True, False, "auto"):
            raise ValueError(f"packed must be true, false or auto, got {packed!r}")
        self.cell = cell
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.packed = bidirectional if packed == "auto" else bool(packed)
        self.readout = readout
        self.embedding = make_embedding(vocab_size, embedding_dim, pretrained_embeddings, freeze_embeddings)
        self.rnn = CELLS[cell](embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        out_features = hidden_size * (2 if bidirectional else 1)
        self.attention = Attention(out_features, attention_size or max(1, hidden_size // 2)) if readout == "attention" else None
        self.head = MLP(out_features, num_outputs(num_classes, single_logit), head, activation, head_dropout, layer_norm=layer_norm)
        initialize(self, init, init_fan, init_gain, bias_init, head_init, activation, head=self.head.net[-1])

    def states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Top-layer outputs (B, T, hidden * directions); zeros at padding when packed."""
        embedded = self.embedding(tokens)
        if not self.packed:
            return self.rnn(embedded)[0]
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=tokens.shape[1])[0]

    def read(self, states: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.readout == "attention":
            assert self.attention is not None
            return self.attention(states, mask)
        if self.readout != "last":
            return pool_over_time(states, mask, self.readout)
        rows = torch.arange(len(states), device=states.device)
        last = states[rows, lengths - 1, : self.hidden_size]
        if not self.bidirectional:
            return last
        return torch.cat([last, states[:, 0, self.hidden_size :]], dim=1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states = self.states(tokens, lengths)
        return self.head(self.read(states, lengths, padding_mask(lengths, tokens.shape[1])))

    @torch.no_grad()
    def attention_weights(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor | None:
        """alpha (B, T) of the attention readout for these texts; None for other readouts."""
        if self.attention is None:
            return None
        return self.attention.weights(self.states(tokens, lengths), padding_mask(lengths, tokens.shape[1]))
