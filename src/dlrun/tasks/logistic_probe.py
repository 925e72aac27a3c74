"""The linear probe of self-supervised learning: multinomial logistic regression on frozen encoder
features of the training split (standardized, L2-penalized, full-batch L-BFGS: deterministic and
free of any global RNG, so probing mid-run never changes what training draws next)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

Encode = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def embed_batches(encode: Encode, batches: Iterable[Any], device: torch.device, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 features (N, D) and labels (N,) of (x, y, ...) batches, at most `limit` samples."""
    features, labels, count = [], [], 0
    for batch in batches:
        x, y = batch[0].to(device), batch[1].to(device)
        if limit is not None:
            x, y = x[: limit - count], y[: limit - count]
        features.append(encode(x).float().flatten(1))
        labels.append(y)
        count += len(y)
        if limit is not None and count >= limit:
            break
    return torch.cat(features), torch.cat(labels)


class LogisticProbe:
    """softmax(W standardize(h) + b) fitted on (features, labels) by minimising mean cross-entropy
    + weight_decay/2 * ||W||^2 with L-BFGS (strong Wolfe line search) from zero weights."""

    def __init__(self, num_classes: int, steps: int = 100, weight_decay: float = 1e-4) -> None:
        if steps < 1 or weight_decay < 0:
            raise ValueError(f"probe steps must be >= 1 and weight_decay >= 0, got {steps} and {weight_decay}")
        self.num_classes = num_classes
        self.steps = steps
        self.weight_decay = weight_decay
        self.mean = self.std = self.weight = self.bias = torch.zeros(0)

    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> LogisticProbe:
        features = features.float()
        self.mean = features.mean(0)
        self.std = features.std(0).clamp_min(1e-6)
        x = (features - self.mean) / self.std
        weight = torch.zeros(self.num_classes, x.shape[1], device=x.device, requires_grad=True)
        bias = torch.zeros(self.num_classes, device=x.device, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=self.steps, history_size=20, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(x @ weight.T + bias, labels.long()) + 0.5 * self.weight_decay * weight.pow(2).sum()
            loss.backward()
            return loss

        with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):
            optimizer.step(closure)
        self.weight, self.bias = weight.detach(), bias.detach()
        return self

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Class indices."""
        return (((features.float() - self.mean) / self.std) @ self.weight.T + self.bias).argmax(1)

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        return float((self.predict(features) == labels).float().mean()) if len(labels) else float("nan")
