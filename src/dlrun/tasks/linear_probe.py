"""task=linear_probe: classification with a saved encoder and a new linear head (model=probe,
chosen by configs/task/linear_probe.yaml): the logistic regression of the linear probe trained by
the usual Trainer (model.freeze=true), or fine-tuning of the whole encoder (model.freeze=false)."""

from __future__ import annotations

from dlrun.tasks.classification import ClassificationTask


class LinearProbeTask(ClassificationTask):
    """Cross-entropy on (image, label) batches, accuracy and F1, like task=classification; the
    encoder's frozen state is the model's business (EncoderClassifier)."""
