"""Several regularizers at once (course: L2 with max-norm, dropout with noise, ...): a dict of named
entries, each with its own options, applied in order; penalties add up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dlrun.regularizers.base import Regularizer


class Combined(Regularizer):
    """regularizers: {name: Regularizer} (Hydra builds each entry from its own `_target_`)."""

    def __init__(self, regularizers: Mapping[str, Any]) -> None:
        bad = [name for name, reg in regularizers.items() if not isinstance(reg, Regularizer)]
        if bad:
            raise ValueError(f"regularizers: entries {', '.join(bad)} are not regularizers (each needs a _target_)")
        self.regularizers = dict(regularizers)

    def setup(self, meta: dict[str, Any]) -> None:
        for reg in self.regularizers.values():
            reg.setup(meta)

    def before_forward(self, model: nn.Module, batch: Any) -> Any:
        for reg in self.regularizers.values():
            batch = reg.before_forward(model, batch)
        return batch

    def after_backward(self, model: nn.Module) -> None:
        for reg in reversed(self.regularizers.values()):
            reg.after_backward(model)

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        terms = [t for t in (reg.penalty(model) for reg in self.regularizers.values()) if t is not None]
        return sum(terms[1:], terms[0]) if terms else None

    def after_step(self, model: nn.Module) -> None:
        for reg in self.regularizers.values():
            reg.after_step(model)
