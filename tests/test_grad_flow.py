"""‖∂L/∂h_t‖ over time (dlrun.grad_flow) against a hand-unrolled RNN, the lecture's bound
‖∂L/∂h_t‖ ≤ ‖W‖^(T−t) ‖∂L/∂h_T‖ for a tanh RNN, and the trainer.log_grad_flow outputs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import train_in_process
from dlrun.grad_flow import hidden_grad_norms
from dlrun.models.char_rnn import CharRNN


class LastStepLoss:
    """A task whose loss is the cross-entropy of the last step only (the vanishing-gradient setting)."""

    def training_step(self, model, batch):  # type: ignore[no-untyped-def]
        x, y = batch
        logits, _ = model(x)
        return F.cross_entropy(logits[:, -1], y), {}


def manual_norms(model: CharRNN, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh) unrolled by hand, ‖∂L/∂h_t‖ from retain_grad."""
    rnn = model.rnn
    onehot = F.one_hot(x, model.vocab_size).float()
    h = torch.zeros(x.shape[0], rnn.hidden_size)
    states = []
    for t in range(x.shape[1]):
        h = torch.tanh(onehot[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0)
        h.retain_grad()
        states.append(h)
    F.cross_entropy(model.output(h), y).backward()
    return torch.stack([s.grad.norm(dim=-1).mean() for s in states])


def test_norms_match_a_hand_unrolled_rnn_and_leave_parameter_grads_alone() -> None:
    torch.manual_seed(0)
    model = CharRNN(12, cell="rnn", hidden_size=16, init="xavier_normal")
    x, y = torch.randint(0, 12, (5, 9)), torch.randint(0, 12, (5,))
    norms = hidden_grad_norms(LastStepLoss(), model, (x, y))
    assert norms is not None and norms.shape == (9,)
    assert all(p.grad is None for p in model.parameters())
    assert torch.allclose(norms, manual_norms(model, x, y), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_the_stepwise_rerun_changes_no_number(cell: str) -> None:
    torch.manual_seed(0)
    model = CharRNN(12, cell=cell, hidden_size=16, num_layers=2, init="xavier_normal")
    x, _ = torch.randint(0, 12, (4, 7)), torch.randint(0, 12, (4,))
    states: list[torch.Tensor] = []
    from dlrun.grad_flow import stepwise

    with stepwise(model, states):
        stepped = model(x)[0]
    assert len(states) == 2 * 7 and torch.allclose(stepped, model(x)[0], atol=1e-6)


def test_a_tanh_rnn_obeys_the_vanishing_bound() -> None:
    torch.manual_seed(0)
    model = CharRNN(12, cell="rnn", hidden_size=32, init_std=0.05)  # the lab's small N(0, std^2) weights
    x, y = torch.randint(0, 12, (8, 20)), torch.randint(0, 12, (8,))
    norms = hidden_grad_norms(LastStepLoss(), model, (x, y))
    w = torch.linalg.matrix_norm(model.rnn.weight_hh_l0.detach(), ord=2).item()  # |tanh'| <= 1
    assert w < 1
    for t in range(20):
        assert norms[t].item() <= w ** (19 - t) * norms[-1].item() * (1 + 1e-4)
    assert norms[0].item() < 1e-6 * norms[-1].item()  # vanished


def test_log_grad_flow_writes_a_row_per_step_each_epoch(tmp_path: Path) -> None:
    run = tmp_path / "run"
    overrides = ["experiment=lab3_char_lm", "trainer.max_epochs=2", "trainer.limit_train_batches=2", "trainer.limit_eval_batches=1",
                 "trainer.log_grad_flow=true", "trainer.progress_bar=false"]
    assert train_in_process(overrides, run) == 0
    rows = list(csv.DictReader((run / "grad_flow.csv").open()))
    epochs = sorted({int(r["epoch"]) for r in rows})
    steps = [int(r["t"]) for r in rows if r["epoch"] == "1"]
    assert epochs == [1, 2] and steps == list(range(1, len(steps) + 1)) and len(steps) > 1
    assert all(float(r["grad_norm"]) >= 0 for r in rows) and (run / "grad_flow.png").is_file()
