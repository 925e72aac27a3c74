"""Stop requests for training: Ctrl-C, SIGTERM (kill, timeout, docker stop, Slurm) and, inside a Slurm
job, submitit's time-limit signal all ask for a clean stop after the current step; a second Ctrl-C
quits at once."""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

# the signal that stopped the last training run, and one that came before training began
_received: dict[str, int | None] = {"signum": None, "pending": None}


def preempt_signal() -> int | None:
    """submitit's time-limit/preemption signal (SIGUSR2 unless SUBMITIT_PREEMPT_SIGNAL names
    another) when this process is a Slurm job; None elsewhere, where USR2 keeps its default."""
    if "SLURM_JOB_ID" not in os.environ:
        return None
    sig = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)
    return int(sig) if sig is not None else None


def stop_signals() -> list[int]:
    """The signals that ask a training run to stop cleanly."""
    signals = [int(signal.SIGINT), int(signal.SIGTERM)]
    extra = preempt_signal()
    return signals + ([extra] if extra is not None and extra not in signals else [])


def received() -> int | None:
    """The signal that stopped the last training run of this process (or one kept by DeferredStop
    while its workers trained), or None."""
    return _received["signum"] if _received["signum"] is not None else _received["pending"]


def exit_code(signum: int | None) -> int:
    """The shell's convention for a process ended by `signum` (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + int(signum if signum is not None else signal.SIGINT)


def signal_name(signum: int | None) -> str:
    return "Ctrl-C" if signum in (None, signal.SIGINT) else signal.Signals(signum).name


class StopRequest:
    """While active, a stop signal sets `requested` (the loop then checkpoints and stops after the
    current step); a second SIGINT raises KeyboardInterrupt immediately, a repeated SIGTERM or
    preemption signal changes nothing (Slurm may send both; the step must finish). Atomic
    checkpoint writes make a hard stop safe at any moment. Only the main thread can own signal
    handlers; elsewhere it is inert."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.requested = True
        self.signum = _received["signum"] = signum
        if signum == signal.SIGINT:
            message = "Ctrl-C: stopping after this step and saving a checkpoint (press again to quit at once)"
        else:
            message = f"{signal_name(signum)}: stopping after this step and saving a checkpoint"
        print("\n" + message, file=sys.stderr, flush=True)

    def __enter__(self) -> StopRequest:
        _received["signum"] = None  # (a pending signal is taken over below)
        if threading.current_thread() is threading.main_thread():
            for signum in stop_signals():
                self._previous[signum] = signal.signal(signum, self._handle)
        pending, _received["pending"] = _received["pending"], None
        if pending is not None:  # signalled while the run was being set up: stop after the first step
            self._handle(pending, None)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()


class TerminateAsInterrupt:
    """Outside the training loop (set-up, testing, between sweep jobs) SIGTERM acts like Ctrl-C: it
    raises KeyboardInterrupt, so the run or sweep records `interrupted` and prints how to resume
    instead of dying silently; `received()` then names SIGTERM for the exit code (143)."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        _received["signum"] = signum
        raise KeyboardInterrupt

    def __enter__(self) -> TerminateAsInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False


class DeferredStop:
    """Around a whole Slurm job: SIGTERM or the time-limit signal arriving before training starts
    (imports, data set-up) is kept, and training then stops after its first step and writes last.pt
    (so the requeue path is the same); after training it is ignored (the job ends by itself)."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if _received["pending"] is None:
            _received["pending"] = signum
            print(f"\n{signal_name(signum)}: will stop after the first training step and save a checkpoint",
                  file=sys.stderr, flush=True)

    def __enter__(self) -> DeferredStop:
        _received["pending"] = None
        if threading.current_thread() is threading.main_thread():
            for signum in stop_signals():
                if signum != signal.SIGINT:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
