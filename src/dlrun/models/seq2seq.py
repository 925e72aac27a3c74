"""Encoder-decoder RNN with optional attention (course lecture on advanced RNNs: seq2seq, Bahdanau
and scaled dot-product attention)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dlrun.models.init import initialize

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
ATTENTIONS = ("none", "bahdanau", "dot")
PAD, SOS = 0, 1

State = Any  # (num_layers, B, H), or (h, c) for LSTM


class Memory(NamedTuple):
    """What the decoder reads from the encoder: its states (B, S, H), their valid mask (B, S), and
    the keys the attention compares queries with (B, S, A) (the states themselves for dot)."""

    states: torch.Tensor
    mask: torch.Tensor
    keys: torch.Tensor


class BahdanauScore(nn.Module):
    """a(q, k) = w2^T tanh(W1 [q; k]); W1 [q; k] is computed as W_q q + W_k k so the keys' half is
    done once per source sequence."""

    def __init__(self, hidden_size: int, attention_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(hidden_size, attention_size, bias=False)
        self.key = nn.Linear(hidden_size, attention_size)
        self.w2 = nn.Linear(attention_size, 1, bias=False)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Scores (B, T, S) of queries (B, T, H) against projected keys (B, S, A)."""
        return self.w2(torch.tanh(self.query(queries)[:, :, None] + keys[:, None])).squeeze(-1)


class Seq2Seq(nn.Module):
    """forward(src (B, S), lengths (B,), targets (B, T), teacher_mask=None) -> logits (B, T, V).

    The encoder RNN reads the source; its final state is the decoder's initial state (identity map).
    The decoder starts from <s>; at step t its input is targets[t-1] where teacher_mask is true
    (teacher forcing) and its own previous argmax elsewhere; teacher_mask None forces every step
    (then the decoder runs over the whole sequence in one call). attention: none | bahdanau |
    dot (q^T k / sqrt(H)); alpha = softmax over the valid source steps, context = sum alpha_s h_s,
    and [h_dec; context] feeds only the output layer, not the cell (as in the lecture). `init*`,
    `bias_init`, `head_init`: dlrun.models.init (RNNs per gate block, tanh's gain; the head is `output`;
    embeddings keep N(0, 1)).
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 32, hidden_size: int = 64, cell: str = "gru",
                 attention: str = "bahdanau", attention_size: int | None = None, init: str = "default",
                 init_fan: str | None = None, init_gain: float | None = None, bias_init: float | None = None,
                 head_init: str = "same") -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell '{cell}' (valid: {', '.join(CELLS)})")
        if attention not in ATTENTIONS:
            raise ValueError(f"unknown attention '{attention}' (valid: {', '.join(ATTENTIONS)})")
        if min(vocab_size, embedding_dim, hidden_size, attention_size or 1) < 1:
            raise ValueError("vocab_size, embedding_dim, hidden_size and attention_size must be >= 1")
        self.attention = attention
        self.hidden_size = hidden_size
        self.src_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.tgt_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.encoder = CELLS[cell](embedding_dim, hidden_size, batch_first=True)
        self.decoder = CELLS[cell](embedding_dim, hidden_size, batch_first=True)
        self.score = BahdanauScore(hidden_size, attention_size or hidden_size) if attention == "bahdanau" else None
        self.output = nn.Linear(hidden_size * (1 if attention == "none" else 2), vocab_size)
        initialize(self, init, init_fan, init_gain, bias_init, head_init, "tanh", head=self.output)

    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> tuple[Memory, State]:
        """Encoder states (padding never enters the RNN) and the decoder's initial state."""
        packed = pack_padded_sequence(self.src_embedding(src), lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, final = self.encoder(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=src.shape[1])
        mask = torch.arange(src.shape[1], device=src.device) < lengths[:, None]
        keys = self.score.key(states) if self.score is not None else states
        return Memory(states, mask, keys), final

    def readout(self, hidden: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) and attention weights (B, T, S) (None without attention) of decoder states (B, T, H)."""
        if self.attention == "none":
            return self.output(hidden), None
        if self.score is not None:
            scores = self.score(hidden, memory.keys)
        else:
            scores = hidden @ memory.keys.transpose(1, 2) / math.sqrt(self.hidden_size)
        alpha = scores.float().masked_fill(~memory.mask[:, None], float("-inf")).softmax(dim=-1).to(hidden.dtype)
        context = alpha @ memory.states
        return self.output(torch.cat([hidden, context], dim=-1)), alpha

    def step(self, tokens: torch.Tensor, state: State, memory: Memory) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """One decoder step: tokens (B,) -> logits (B, V), the new state, attention (B, S) or None."""
        hidden, state = self.decoder(self.tgt_embedding(tokens)[:, None], state)
        logits, alpha = self.readout(hidden, memory)
        return logits[:, 0], state, (alpha[:, 0] if alpha is not None else None)

    def forward(self, src: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                teacher_mask: torch.Tensor | None = None) -> torch.Tensor:
        memory, state = self.encode(src, lengths)
        start = torch.full_like(targets[:, :1], SOS)
        if teacher_mask is None:
            hidden, _ = self.decoder(self.tgt_embedding(torch.cat([start, targets[:, :-1]], dim=1)), state)
            return self.readout(hidden, memory)[0]
        tokens, steps = start[:, 0], []
        for t in range(targets.shape[1]):
            logits, state, _ = self.step(tokens, state, memory)
            steps.append(logits)
            tokens = torch.where(teacher_mask[:, t], targets[:, t], logits.argmax(dim=-1))
        return torch.stack(steps, dim=1)


def reorder_state(state: State, index: torch.Tensor) -> State:
    """The decoder state of the batch rows `index` (beam search: expand and follow beams)."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)


def reorder_memory(memory: Memory, index: torch.Tensor) -> Memory:
    return Memory(*(t.index_select(0, index) for t in memory))
