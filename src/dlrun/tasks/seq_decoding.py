"""Greedy and beam-search decoding of a dlrun.models.seq2seq model (course: greedy vs beam of width k)."""

from __future__ import annotations

import torch
from torch import nn

from dlrun.models.seq2seq import SOS, reorder_memory, reorder_state

PAD, EOS = 0, 2


def greedy(model: nn.Module, src: torch.Tensor, lengths: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Tokens (B, max_len): the argmax at every step fed back as the next input, <pad> after </s>;
    and the attention weights (B, max_len, S) (None for a model without attention)."""
    memory, state = model.encode(src, lengths)
    tokens = torch.full((len(src),), SOS, dtype=torch.long, device=src.device)
    finished = torch.zeros(len(src), dtype=torch.bool, device=src.device)
    out, maps = [], []
    for _ in range(max_len):
        logits, state, alpha = model.step(tokens, state, memory)
        tokens = logits.argmax(dim=-1).masked_fill(finished, PAD)
        finished = finished | (tokens == EOS)
        out.append(tokens)
        if alpha is not None:
            maps.append(alpha)
    return torch.stack(out, dim=1), (torch.stack(maps, dim=1) if maps else None)


def beam_search(model: nn.Module, src: torch.Tensor, lengths: torch.Tensor, k: int, max_len: int) -> torch.Tensor:
    """Tokens (B, max_len) of the most probable of the k hypotheses kept per step (summed log
    probabilities; a finished hypothesis keeps its score and emits <pad>). k = 1 is greedy decoding."""
    if k < 1:
        raise ValueError(f"beam size must be >= 1, got {k}")
    batch = len(src)
    memory, state = model.encode(src, lengths)
    expand = torch.arange(batch, device=src.device).repeat_interleave(k)
    memory, state = reorder_memory(memory, expand), reorder_state(state, expand)
    scores = torch.full((batch, k), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # one live hypothesis at the start
    tokens = torch.full((batch * k,), SOS, dtype=torch.long, device=src.device)
    finished = torch.zeros(batch * k, dtype=torch.bool, device=src.device)
    history = torch.empty((batch * k, 0), dtype=torch.long, device=src.device)
    base = torch.arange(batch, device=src.device)[:, None] * k
    for _ in range(max_len):
        logits, state, _ = model.step(tokens, state, memory)
        logp = torch.log_softmax(logits.float(), dim=-1)
        vocab = logp.shape[-1]
        done = torch.full_like(logp, float("-inf"))
        done[:, PAD] = 0.0
        logp = torch.where(finished[:, None], done, logp)
        top, index = (scores.view(-1, 1) + logp).view(batch, k * vocab).topk(k, dim=1)
        origin = (base + torch.div(index, vocab, rounding_mode="floor")).view(-1)
        tokens = (index % vocab).view(-1)
        history = torch.cat([history[origin], tokens[:, None]], dim=1)
        finished = finished[origin] | (tokens == EOS)
        state = reorder_state(state, origin)
        scores = top
        if bool(finished.all()):
            break
    best = history.view(batch, k, -1)[:, 0]
    return torch.nn.functional.pad(best, (0, max_len - best.shape[1]), value=PAD)
