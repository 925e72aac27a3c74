"""task=language_model: next-character prediction with a hidden state carried across batches
(truncated BPTT), cross-entropy and bits per character, and text samples during training."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlrun.data.base import DataModule
from dlrun.errors import DlrunError
from dlrun.models.char_rnn import Hidden, detach_hidden
from dlrun.run_logger import RunLogger
from dlrun.tasks.base import BaseTask

SAMPLES_FILE = "samples.txt"


def _to(hidden: Hidden | None, device: torch.device) -> Hidden | None:
    if hidden is None:
        return None
    if isinstance(hidden, (tuple, list)):
        return tuple(h.to(device) for h in hidden)
    return hidden.to(device)


class LanguageModelTask(BaseTask):
    """Batches `(inputs, targets, t)` from dataset=char_text; the model maps (inputs, hidden) to
    (logits, hidden).

    The hidden state of one batch, detached, is the initial state of the next (row i of batch t+1
    continues row i of batch t); it is reset to zero at t = 0, the start of every epoch, and
    travels in checkpoints (`state_dict`) so a run resumed mid-epoch continues with it. Metrics:
    `loss` = cross-entropy per character (nats), `bpc` = loss / ln 2. Every `sample_every`
    optimizer steps, `n_sample` characters drawn after `seed_text` (temperature `temperature`,
    generator seeded from (sample_seed, step), so a resumed run draws the same samples) go to
    TensorBoard text `samples` and to samples.txt in the run dir.
    """

    def __init__(self, loss: nn.Module, sample_every: int | None = 100, n_sample: int = 300,
                 seed_text: str = "HAN:\nIs that good or bad?\n\n", temperature: float = 1.0, sample_seed: int = 0) -> None:
        if sample_every is not None and sample_every < 0:
            raise ValueError(f"sample_every must be >= 0 or null, got {sample_every}")
        if n_sample < 0 or temperature < 0:
            raise ValueError("n_sample and temperature must be >= 0")
        if not seed_text:
            raise ValueError("seed_text must not be empty")
        self.loss = loss
        self.sample_every = sample_every or 0
        self.n_sample = n_sample
        self.seed_text = seed_text
        self.temperature = temperature
        self.sample_seed = sample_seed
        self.data: Any = None
        self.hidden: Hidden | None = None

    def setup(self, data: DataModule, device: torch.device) -> None:
        if not hasattr(data, "encode") or not hasattr(data, "decode"):
            raise DlrunError(f"task=language_model needs a character dataset (dataset=char_text), not {type(data).__name__}")
        self.data = data
        try:
            data.encode(self.seed_text)
        except DlrunError as err:
            raise DlrunError(f"task.seed_text: {err}") from None

    # -- training and evaluation -------------------------------------------------------------------
    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        inputs, targets, t = batch
        hidden = None if t == 0 else _to(self.hidden, inputs.device)
        logits, hidden = model(inputs, hidden)
        self.hidden = detach_hidden(hidden)
        loss = self._loss(logits, targets)
        return loss, {"bpc": loss.detach() / math.log(2)}

    def metric_names(self) -> list[str]:
        """What evaluate reports (checked against trainer.monitor before training)."""
        return ["loss", "bpc"]

    def evaluate(self, model: nn.Module, batches: Iterable[Any], split: str) -> dict[str, float]:
        """Cross-entropy per character over the whole split, the state carried across its batches."""
        hidden = None
        total, count = None, 0
        for inputs, targets, t in batches:
            logits, hidden = model(inputs, None if t == 0 else hidden)
            part = self._loss(logits, targets) * targets.numel()
            total = part if total is None else total + part
            count += targets.numel()
        loss = float(total) / count if count else math.nan
        return {"loss": loss, "bpc": loss / math.log(2)}

    # -- the carried state in checkpoints ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The hidden state carried into the next batch (None at the start of an epoch)."""
        return {"hidden": self.hidden}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        hidden = state.get("hidden")
        self.hidden = tuple(hidden) if isinstance(hidden, list) else hidden

    # -- samples -------------------------------------------------------------------------------------
    def sample(self, model: nn.Module, step: int) -> str:
        """seed_text followed by n_sample drawn characters (the same for the same step and sample_seed)."""
        from dlrun.tasks.text_generation import generate

        generator = torch.Generator().manual_seed(self.sample_seed * 1_000_003 + step)
        ids = generate(model, self.data.encode(self.seed_text), self.n_sample, self.temperature, generator)
        return self.seed_text + self.data.decode(ids)

    def _write_sample(self, text: str, label: str, step: int, run_dir: Path, logger: RunLogger) -> None:
        logger.text("samples", "    " + text.replace("\n", "\n    "), step)  # indented: TensorBoard keeps the newlines
        with open(Path(run_dir) / SAMPLES_FILE, "a", encoding="utf-8") as f:
            f.write(f"=== {label} ===\n{text}\n\n")

    def on_train_step(self, model: nn.Module, step: int, logger: RunLogger) -> None:
        """Every sample_every optimizer steps: a sample to TensorBoard and samples.txt (main process)."""
        from dlrun import distributed

        if self.sample_every and step > 0 and step % self.sample_every == 0 and distributed.is_main():
            self._write_sample(self.sample(model, step), f"step {step}", step, logger.run_dir, logger)

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        if self.n_sample and self.data is not None:
            self._write_sample(self.sample(model, 0), "final", 0, run_dir, logger)
