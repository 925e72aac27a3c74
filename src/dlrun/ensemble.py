"""Evaluation ensembles (course lecture: bagging and model averaging, ŷ = (1/M) Σ f(x, Θ_m)) and MC
dropout (the lecture's test-time alternative to weight scaling: average M passes with random masks):
`dlrun eval ckpt=a.pt,b.pt,... mc_dropout=N`. Class probabilities are averaged; the wrapper returns their
log, which every classification task reads as logits (softmax(log p̄) = p̄, the argmax is p̄'s)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlrun.errors import DlrunError

DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def checkpoint_paths(spec: str) -> list[Path]:
    """`a.pt,b.pt,...`, or a folder (a sweep's): every `checkpoints/best.pt` below it, sorted."""
    paths: list[Path] = []
    for part in (p for p in spec.split(",") if p):
        path = Path(part)
        if path.is_dir():
            found = sorted(p for p in path.rglob("checkpoints/best.pt") if "retrain" not in p.parts)
            if not found:
                raise DlrunError(f"ckpt={part}: a folder without any */checkpoints/best.pt")
            paths += found
        else:
            paths.append(path)
    if not paths:
        raise DlrunError("ckpt= names no checkpoint")
    return paths


def average_probabilities(outputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """The log of the mean class probability of several logit tensors (B, C); for one binary logit
    (B,) or (B, 1) the logit of the mean sigmoid probability."""
    first = outputs[0]
    if not isinstance(first, torch.Tensor) or not first.is_floating_point() or first.dim() > 2:
        raise DlrunError("ensembles and MC dropout average class probabilities: classification models only")
    stacked = torch.stack([o.float() for o in outputs])
    if first.dim() == 2 and first.shape[1] > 1:
        return stacked.softmax(dim=-1).mean(dim=0).clamp_min(1e-12).log()
    return torch.logit(stacked.sigmoid().mean(dim=0), eps=1e-7)


class AveragedProbabilities(nn.Module):
    """Members' averaged class probabilities (as log-probabilities). mc_dropout=N > 0: each member runs
    N passes with its dropout layers sampling masks (everything else, e.g. BatchNorm, in eval mode)."""

    def __init__(self, models: Sequence[nn.Module], mc_dropout: int = 0) -> None:
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        if mc_dropout < 0:
            raise DlrunError(f"mc_dropout must be >= 0, got {mc_dropout}")
        self.members = nn.ModuleList(models)
        self.mc_dropout = mc_dropout
        if mc_dropout and not any(isinstance(m, DROPOUTS) for m in self.modules()):
            raise DlrunError("mc_dropout: the model has no dropout layer (set model.dropout > 0 when training)")

    def forward(self, *inputs: Any) -> torch.Tensor:
        outputs = []
        for model in self.members:
            dropouts = [m for m in model.modules() if isinstance(m, DROPOUTS)] if self.mc_dropout else []
            for layer in dropouts:
                layer.train()
            try:
                outputs += [model(*inputs) for _ in range(max(self.mc_dropout, 1))]
            finally:
                for layer in dropouts:
                    layer.eval()
        return average_probabilities(outputs)


def member_models(members: Sequence[tuple[dict[str, Any], Any]], data: Any, device: torch.device) -> list[nn.Module]:
    """A model per (checkpoint state, its config), built from its own config on the same data."""
    from dlrun import build

    models = []
    for state, cfg in members:
        model = build.build_model(cfg, data).to(device)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise DlrunError(f"checkpoint weights do not fit their model config: {str(err).splitlines()[0]}") from err
        models.append(model)
    return models


def evaluate_averaged(trainer: Any, task: Any, data: Any, split: str, models: Sequence[nn.Module],
                      mc_dropout: int) -> tuple[dict[str, float], nn.Module]:
    """(metrics, the averaged model): the average's metrics, then each model's alone as
    `model<i>/<metric>` (with MC dropout: the usual deterministic pass, weight scaling)."""
    averaged = AveragedProbabilities(models, mc_dropout)
    metrics = dict(trainer.evaluate(task, averaged, data, split))
    for i, model in enumerate(models, start=1):
        metrics.update({f"model{i}/{k}": v for k, v in trainer.evaluate(task, model, data, split).items()})
    return metrics, averaged
