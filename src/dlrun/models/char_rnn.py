"""Character-level recurrent language model (course lab 3, old): one-hot characters -> RNN -> logits."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dlrun.models.init import SCHEMES, initialize

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

Hidden = Any  # a tensor (num_layers, B, H), or for LSTM a tuple (h, c) of them


class CharRNN(nn.Module):
    """forward(inputs (B, T) ids, hidden=None) -> (logits (B, T, V), hidden).

    cell=rnn is the lab's vanilla RNN, h_t = tanh(W h_{t-1} + U x_t + b) with x_t one-hot, and
    o_t = V h_t + c: torch's nn.RNN on one-hot inputs (its two bias vectors add up to b). gru | lstm
    swap the cell. init=normal (the lab's): weights from N(0, init_std^2) (lab: 0.01), biases `bias_init`
    (null: 0, the lab's); or any scheme of dlrun.models.init (RNN per gate block with tanh's gain; the
    head is `output`).
    """

    def __init__(self, vocab_size: int, cell: str = "rnn", hidden_size: int = 100, num_layers: int = 1,
                 init_std: float = 0.01, init: str = "normal", init_fan: str | None = None,
                 init_gain: float | None = None, bias_init: float | None = None, head_init: str = "same") -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell '{cell}' (valid: {', '.join(CELLS)})")
        if vocab_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError("vocab_size, hidden_size and num_layers must be >= 1")
        if init not in ("normal", *SCHEMES):
            raise ValueError(f"unknown init '{init}' (valid: normal, {', '.join(SCHEMES)})")
        if init_std <= 0:
            raise ValueError(f"init_std must be > 0, got {init_std}")
        self.vocab_size = vocab_size
        self.rnn = CELLS[cell](vocab_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.output = nn.Linear(hidden_size, vocab_size)
        if init != "normal":
            initialize(self, init, init_fan, init_gain, bias_init, head_init, "tanh", head=self.output)
            return
        for name, param in self.named_parameters():
            if name.endswith("bias") or "bias_" in name:  # bias_init (null: 0) on bias_ih and the output's, 0 on bias_hh
                nn.init.constant_(param, 0.0 if "bias_hh" in name else bias_init or 0.0)
            else:
                nn.init.normal_(param, 0.0, init_std)

    def forward(self, inputs: torch.Tensor, hidden: Hidden | None = None) -> tuple[torch.Tensor, Hidden]:
        x = nn.functional.one_hot(inputs, self.vocab_size).to(self.output.weight.dtype)
        states, hidden = self.rnn(x, hidden)
        return self.output(states), hidden


def detach_hidden(hidden: Hidden | None) -> Hidden | None:
    """The hidden state cut from the graph (truncated BPTT: gradients stop at the batch boundary)."""
    if hidden is None:
        return None
    if isinstance(hidden, tuple):
        return tuple(h.detach() for h in hidden)
    return hidden.detach()
