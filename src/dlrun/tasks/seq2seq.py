"""task=seq2seq: teacher forcing with a ratio schedule in training; greedy and beam decoding,
sequence and token accuracy in evaluation; attention maps as TensorBoard images."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlrun.data.base import DataModule
from dlrun.errors import DlrunError
from dlrun.run_logger import RunLogger
from dlrun.tasks.base import BaseTask
from dlrun.tasks.seq_decoding import PAD, beam_search, greedy


def accuracies(predicted: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(correct tokens, target tokens, exactly right sequences) over the non-<pad> target positions
    (the answer and its </s>; a sequence is right when all of them are)."""
    valid = targets != PAD
    right = (predicted == targets) & valid
    return right.sum(), valid.sum(), (right == valid).all(dim=1).sum()


def _plain(model: nn.Module) -> Any:
    return getattr(model, "module", model)  # decoding needs the model's own methods, not a DDP wrapper's


class Seq2SeqTask(BaseTask):
    """Batches `(src, lengths, targets)` (dataset=seq_toy); the model is dlrun.models.seq2seq.Seq2Seq.

    Training: cross-entropy over the target tokens; each decoder input is the true previous token with
    probability p (teacher forcing), else the model's own previous argmax. p goes linearly from
    teacher_forcing_start to teacher_forcing_end over teacher_forcing_steps optimizer steps
    (0: constant). Evaluation: the teacher-forced loss, then greedy decoding (`token_acc`,
    `seq_acc`) and, with beam_size > 1, beam search of width beam_size (`token_acc_beam`,
    `seq_acc_beam`). After every epoch the attention map of the first validation sequence is a
    TensorBoard image (`val/attention`); at the end attention_maps.png shows `attention_examples`
    test sequences and TensorBoard text `examples` lists source, target and both decodings.
    """

    def __init__(self, loss: nn.Module, teacher_forcing_start: float = 1.0, teacher_forcing_end: float = 0.5,
                 teacher_forcing_steps: int = 0, beam_size: int = 3, attention_examples: int = 4) -> None:
        for name, value in (("teacher_forcing_start", teacher_forcing_start), ("teacher_forcing_end", teacher_forcing_end)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if teacher_forcing_steps < 0 or beam_size < 1 or attention_examples < 0:
            raise ValueError("teacher_forcing_steps and attention_examples must be >= 0, beam_size >= 1")
        self.loss = loss
        self.start, self.end, self.decay_steps = teacher_forcing_start, teacher_forcing_end, teacher_forcing_steps
        self.beam_size = beam_size
        self.attention_examples = attention_examples
        self.step = 0
        self.data: Any = None

    def setup(self, data: DataModule, device: torch.device) -> None:
        if not hasattr(data, "examples") or not hasattr(data, "decode"):
            raise DlrunError(f"task=seq2seq needs a sequence-pair dataset (dataset=seq_toy), not {type(data).__name__}")
        self.data = data

    def teacher_forcing_ratio(self, step: int | None = None) -> float:
        """p at optimizer step `step` (default: the current one)."""
        step = self.step if step is None else step
        if self.decay_steps == 0:
            return self.start
        return self.start + (self.end - self.start) * min(1.0, step / self.decay_steps)

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss(logits.reshape(-1, logits.shape[-1]).float(), targets.masked_fill(targets == PAD, -100).reshape(-1))

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        src, lengths, targets = batch
        ratio = self.teacher_forcing_ratio()
        mask = None if ratio >= 1.0 else torch.rand(targets.shape, device=targets.device) < ratio
        logits = model(src, lengths, targets, mask)
        right, total, _ = accuracies(logits.argmax(dim=-1), targets)
        return self._loss(logits, targets), {"token_acc": right / total}

    def on_train_step(self, model: nn.Module, step: int, logger: RunLogger) -> None:
        self.step = step  # also right after a resume: the trainer calls this with the steps done so far

    def metric_names(self) -> list[str]:
        """What evaluate reports (checked against trainer.monitor before training)."""
        beams = ["token_acc_beam", "seq_acc_beam"] if self.beam_size > 1 else []
        return ["loss", "token_acc", "seq_acc", *beams]

    def evaluate(self, model: nn.Module, batches: Iterable[Any], split: str) -> dict[str, float]:
        plain = _plain(model)
        sums: dict[str, torch.Tensor] = {}

        def add(key: str, value: torch.Tensor) -> None:
            sums[key] = sums.get(key, 0) + value.float()

        for src, lengths, targets in batches:
            add("loss", self._loss(model(src, lengths, targets), targets) * (targets != PAD).sum())
            add("tokens", (targets != PAD).sum())
            add("sequences", torch.tensor(len(src)))
            decoders = {"": lambda: greedy(plain, src, lengths, targets.shape[1])[0]}
            if self.beam_size > 1:
                decoders["_beam"] = lambda: beam_search(plain, src, lengths, self.beam_size, targets.shape[1])
            for suffix, decode in decoders.items():
                right, total, exact = accuracies(decode(), targets)
                add("token_right" + suffix, right)
                add("seq_right" + suffix, exact)
        if not sums:
            return {}
        out = {"loss": float(sums["loss"] / sums["tokens"])}
        for suffix in ("", "_beam") if self.beam_size > 1 else ("",):
            out["token_acc" + suffix] = float(sums["token_right" + suffix] / sums["tokens"])
            out["seq_acc" + suffix] = float(sums["seq_right" + suffix] / sums["sequences"])
        return out

    # -- attention maps and examples ----------------------------------------------------------------
    def decoded_examples(self, model: nn.Module, split: str, count: int) -> list[dict[str, Any]]:
        """The first `count` sequences of `split`: tokens of source, target, greedy and beam output,
        and the greedy decoder's attention (output steps x source steps, None without attention)."""
        plain = _plain(model)
        src, lengths, targets = self.data.examples(split, count)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            tokens, maps = greedy(plain, src, lengths, targets.shape[1])
            beams = beam_search(plain, src, lengths, self.beam_size, targets.shape[1])
        model.train(was_training)
        out = []
        for i in range(len(src)):
            n_src, n_out = int(lengths[i]), _length(tokens[i])
            out.append({
                "source": self.data.decode(src[i, :n_src]),
                "target": self.data.decode(targets[i, : _length(targets[i])]),
                "greedy": self.data.decode(tokens[i, :n_out]),
                "beam": self.data.decode(beams[i, : _length(beams[i])]),
                "attention": maps[i, :n_out, :n_src].float().cpu() if maps is not None else None,
            })
        return out

    def on_epoch_end(self, model: nn.Module, epoch: int, history: list[dict[str, float]], logger: RunLogger) -> None:
        """The teacher-forcing ratio, and the first validation sequence's attention map as an image."""
        logger.scalars({"train/teacher_forcing": self.teacher_forcing_ratio()}, epoch)
        if not self.attention_examples or getattr(_plain(model), "attention", "none") == "none":
            return
        from dlrun.plots.seq_attention import attention_image

        example = self.decoded_examples(model, "val", 1)[0]
        logger.image("val/attention", attention_image(example["attention"]), epoch)

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        if not self.attention_examples or self.data is None:
            return
        examples = self.decoded_examples(model, "test", self.attention_examples)
        from dlrun.plots.seq_attention import attention_maps_figure, examples_markdown

        logger.text("examples", examples_markdown(examples))
        if getattr(_plain(model), "attention", "none") != "none":
            logger.figure("test/attention_maps", attention_maps_figure(examples), png_name="attention_maps.png")


def _length(tokens: torch.Tensor) -> int:
    """Tokens up to and including the first </s> (all of them if there is none), <pad> excluded."""
    from dlrun.tasks.seq_decoding import EOS

    ends = (tokens == EOS).nonzero()
    return int(ends[0, 0]) + 1 if len(ends) else int((tokens != PAD).sum())
