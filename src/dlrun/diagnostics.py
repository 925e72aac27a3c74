"""The course's sanity check at step 0: a classifier whose softmax starts near uniform has a loss of
about ln C (C classes; ln 2 for a single-logit BCE head). The Trainer logs and prints the first batch's
loss next to ln C, so a bad init scale or unnormalised inputs show before any time is spent."""

from __future__ import annotations

import math
from typing import Any

from dlrun import distributed
from dlrun.callbacks import Callback, Fit

Trainer = Any  # dlrun.trainer.Trainer (it imports this module)
FAR = 0.5  # |loss - ln C| above this fraction of ln C is flagged


def expected_initial_loss(task: Any) -> tuple[float, int] | None:
    """(ln C, C) for a classification task trained with cross-entropy or BCE-with-logits, else None."""
    from dlrun.losses.bce_with_logits import BCEWithLogits
    from dlrun.losses.cross_entropy import CrossEntropy

    classes = getattr(task, "num_classes", None)
    loss = getattr(task, "loss", None)
    if not isinstance(classes, int) or classes < 2:
        return None
    if isinstance(loss, BCEWithLogits):
        return math.log(2), 2
    if isinstance(loss, CrossEntropy):
        return math.log(classes), classes
    return None


def initial_loss_line(loss: float, ln_c: float, classes: int) -> str:
    """The line printed at step 0, flagged when the loss is far from ln C."""
    far = abs(loss - ln_c) > FAR * ln_c
    note = "  far from ln C: check the init scale (model.init) and the input normalisation" if far else ""
    return f"step 0: loss {loss:.4f}  ln C {ln_c:.4f} (C = {classes}){note}"


class InitialLoss(Callback):
    """Logs train/initial_loss and train/ln_C at step 0 of a fresh run (one host sync)."""

    def __init__(self) -> None:
        self.value: float | None = None

    def on_train_batch_end(self, trainer: Trainer, fit: Fit) -> None:
        if trainer.epoch or trainer.global_step or trainer.batch_in_epoch != 1 or fit.loss is None:
            return
        expected = expected_initial_loss(fit.task)
        if expected is None:
            return
        ln_c, classes = expected
        self.value = float(fit.loss.item())
        trainer.logger.scalars({"train/initial_loss": self.value, "train/ln_C": ln_c}, 0)
        if distributed.is_main():
            print(initial_loss_line(self.value, ln_c, classes))
