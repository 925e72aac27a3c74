"""Text classification: the classification task plus text artifacts (attention over validation
reviews for models with an attention readout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlrun.data.base import DataModule, TextSplits
from dlrun.run_logger import RunLogger
from dlrun.tasks.classification import ClassificationTask


class TextClassificationTask(ClassificationTask):
    """ClassificationTask on (tokens, lengths, labels) batches. At the end of a run, a model with
    `attention_weights(tokens, lengths)` gets its attention over the first `attention_examples`
    validation texts written as TensorBoard text (tokens with weights) and a figure."""

    def __init__(self, loss: nn.Module, attention_examples: int = 4, attention_max_tokens: int = 60) -> None:
        super().__init__(loss)
        if attention_examples < 0 or attention_max_tokens < 1:
            raise ValueError("attention_examples must be >= 0 and attention_max_tokens >= 1")
        self.attention_examples = attention_examples
        self.attention_max_tokens = attention_max_tokens

    def write_artifacts(self, model: nn.Module, data: DataModule, run_dir: Path, logger: RunLogger) -> None:
        super().write_artifacts(model, data, run_dir, logger)
        if self.attention_examples and hasattr(model, "attention_weights") and isinstance(data, TextSplits):
            examples = attention_examples(model, data, "val", self.attention_examples)
            if examples:
                from dlrun.plots.attention import attention_figure, attention_markdown

                logger.text("val/attention", attention_markdown(examples, self.class_names))
                logger.figure("val/attention", attention_figure(examples, self.class_names, self.attention_max_tokens),
                              png_name="attention.png")


def attention_examples(model: Any, data: TextSplits, split: str, count: int) -> list[dict[str, Any]]:
    """The first `count` texts of `split` with their tokens, attention weights, label and prediction."""
    sequences = data.sequences(split)
    count = min(count, len(sequences))
    if count == 0:
        return []
    tokens, lengths, labels = sequences.batch(torch.arange(count))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        weights = model.attention_weights(tokens, lengths)
        logits = model(tokens, lengths)
    model.train(was_training)
    if weights is None:
        return []
    from dlrun.tasks.classification import predictions

    predicted = predictions(logits).cpu().tolist()
    out = []
    for i in range(count):
        n = int(lengths[i])
        out.append({
            "tokens": data.decode(split, i)[:n] or ["<PAD>"],
            "weights": weights[i, :n].float().cpu().tolist(),
            "label": int(labels[i]),
            "predicted": int(predicted[i]),
        })
    return out
