"""How gradients flow back through time (course lecture on vanishing gradients): ‖∂L/∂h_t‖ for each
step t of a recurrent layer, from one training batch. `trainer.log_grad_flow=true` draws it once per
epoch (TensorBoard image `train/grad_flow`, grad_flow.png and grad_flow.csv in the run dir), to compare cells
(rnn / gru / lstm) and initialisations: where the norms fall off towards the early steps, the gradient
vanishes."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from dlrun import distributed
from dlrun.callbacks import Callback, Fit
from dlrun.devices import to_device

Trainer = Any  # dlrun.trainer.Trainer (it imports this module)


@contextlib.contextmanager
def stepwise(model: nn.Module, states: list[torch.Tensor]) -> Iterator[None]:
    """While active, the first unidirectional batch-first RNN/GRU/LSTM that `model` runs on a padded
    batch is re-run one step at a time, so each step's top-layer hidden state h_t (B, H) is a node of the
    graph; each step appends its output (B, 1, H) and its hidden state (layers, B, H) to `states` (the
    same numbers as the fused kernel's)."""

    def hook(module: nn.RNNBase, args: tuple[Any, ...], output: Any) -> Any:
        x = args[0]
        if states or isinstance(x, PackedSequence) or module.bidirectional or not module.batch_first or x.shape[1] < 2:
            return None
        state = args[1] if len(args) > 1 else None
        outputs = []
        for t in range(x.shape[1]):
            out, state = type(module).forward(module, x[:, t : t + 1], state)  # forward, not __call__: no hook
            # h_t reaches the loss twice: as this step's output and, inside the state, through later steps
            states.extend([out, state[0] if isinstance(state, tuple) else state])
            outputs.append(out)
        return torch.cat(outputs, dim=1), state

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.RNNBase)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def hidden_grad_norms(task: Any, model: nn.Module, batch: Any) -> torch.Tensor | None:
    """(T,) mean over the batch of ‖∂L/∂h_t‖₂, L = the task's training loss on `batch`; None when the
    model runs no unidirectional padded-batch RNN. Parameter gradients are left untouched."""
    states: list[torch.Tensor] = []
    with torch.enable_grad(), stepwise(model, states):
        loss, _ = task.training_step(model, batch)
    if not states:
        return None
    grads = [g if g is not None else torch.zeros_like(s) for g, s in zip(torch.autograd.grad(loss, states, allow_unused=True), states)]
    # dL/dh_t = the gradient at step t's output (B, 1, H) + at the top layer of its state (layers, B, H)
    total = torch.stack([out[:, 0] + state[-1] for out, state in zip(grads[0::2], grads[1::2])])  # (T, B, H)
    return total.norm(dim=-1).mean(dim=1).detach()


def grad_flow_figure(norms: list[float], epoch: int) -> Any:
    """‖∂L/∂h_t‖ against t on a log scale."""
    from dlrun.plots.figure import new_figure

    fig, ax = new_figure(figsize=(7, 4))
    ax.semilogy(range(1, len(norms) + 1), [max(n, 1e-30) for n in norms], marker="o", markersize=2)
    ax.set_xlabel("time step t")
    ax.set_ylabel("mean ‖∂L/∂h_t‖")
    ax.set_title(f"Gradient flow through time (epoch {epoch})")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


class GradFlow(Callback):
    """trainer.log_grad_flow: after each epoch, ‖∂L/∂h_t‖ on the first validation batch (eval mode: no
    dropout), drawn and appended to grad_flow.csv (epoch, t, norm). A decoder run one step per call
    (seq2seq without full teacher forcing) records nothing that epoch."""

    def on_epoch_end(self, trainer: Trainer, fit: Fit) -> None:
        if not distributed.is_main():
            return
        model, task = fit.model, fit.task
        batch = to_device(next(iter(fit.data.loader("val"))), trainer.device)
        carried = task.state_dict()  # e.g. a language model's hidden state between batches
        devices = [trainer.device] if trainer.device.type == "cuda" else []
        model.eval()
        try:  # its own RNG stream: the run (and its resume) draws the same numbers with or without it
            with torch.random.fork_rng(devices=devices):
                norms = hidden_grad_norms(task, model, batch)
        finally:
            model.train()
            task.load_state_dict(carried)
        if norms is None:
            return
        values = norms.float().cpu().tolist()
        trainer.logger.figure("train/grad_flow", grad_flow_figure(values, trainer.epoch), trainer.epoch, png_name="grad_flow.png")
        path = trainer.run_dir / "grad_flow.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["epoch", "t", "grad_norm"])
            writer.writerows([trainer.epoch, t, v] for t, v in enumerate(values, start=1))
