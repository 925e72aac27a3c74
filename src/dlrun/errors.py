"""The one exception type the user sees: a problem they can fix, printed as a single line."""

from __future__ import annotations

from collections.abc import Iterable


class DlrunError(Exception):
    """An error caused by the user's input or environment (bad config, missing file, ...).

    The CLI prints ``error: <message>`` on one line and exits with ``exit_code``; it never shows a
    traceback for these.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class TrainingDiverged(DlrunError):
    """The loss became NaN or infinite, or rose above the divergence bound; training stopped and the
    last good checkpoint was kept."""

    def __init__(self, epoch: int, step: int, bound: float | None = None) -> None:
        what = "became NaN or infinite" if bound is None else f"exceeded the divergence bound {bound:.3g} (trainer.divergence_factor x the first step's loss)"
        super().__init__(
            f"loss {what} at epoch {epoch}, step {step}; training stopped "
            "(the last good checkpoint was kept; try a lower optimizer.lr or gradient clipping)",
            exit_code=3,
        )
        self.epoch = epoch
        self.step = step


def one_line(message: object) -> str:
    """Collapse a message onto one line (exceptions from libraries often span several)."""
    return " ".join(str(message).split())


class TrainingInterrupted(DlrunError):
    """The user pressed Ctrl-C; training stopped after a step and wrote `checkpoint`."""

    def __init__(self, epoch: int, step: int, checkpoint: str | None) -> None:
        where = f"; checkpoint {checkpoint}" if checkpoint else " (no checkpoint: checkpoint.save_last is off)"
        super().__init__(f"interrupted at epoch {epoch}, step {step}{where}", exit_code=130)
        self.checkpoint = checkpoint


class UnknownSplit(DlrunError):
    """A split name a data module (or `dlrun eval`) does not have: the one error every dataset raises for it."""

    def __init__(self, split: str, valid: Iterable[str], owner: str = "") -> None:
        self.split, self.valid = split, list(valid)
        prefix = f"{owner}: " if owner else ""
        super().__init__(f"{prefix}unknown split '{split}' (valid: {', '.join(self.valid)})")


class RecordedFailure(DlrunError):
    """A failure whose results.json and error.log are already written (by torchrun workers)."""
