"""Sampling text from a recurrent language model (dlrun.models.char_rnn interface)."""

from __future__ import annotations

import torch
from torch import nn


def generate(model: nn.Module, prompt: torch.Tensor, length: int, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """`length` ids drawn after `prompt` (1-D ids, not empty): the prompt sets the hidden state, then
    each id is drawn from softmax(logits / temperature) with `generator` (a CPU generator; the same
    generator state gives the same text). temperature 0 takes the most probable id every step."""
    if prompt.dim() != 1 or len(prompt) == 0:
        raise ValueError("the prompt must be a non-empty 1-D tensor of ids")
    if length < 0 or temperature < 0:
        raise ValueError(f"length and temperature must be >= 0, got {length}, {temperature}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = torch.empty(length, dtype=torch.long)
    try:
        with torch.no_grad():
            logits, hidden = model(prompt.to(device).unsqueeze(0))
            for i in range(length):
                last = logits[0, -1].float().cpu()
                if temperature == 0:
                    nxt = last.argmax()
                else:
                    nxt = torch.multinomial(torch.softmax(last / temperature, dim=0), 1, generator=generator)[0]
                out[i] = nxt
                logits, hidden = model(nxt.view(1, 1).to(device), hidden)
    finally:
        model.train(was_training)
    return out
