"""Figures drawn in helper processes, so matplotlib's import and drawing do not add to a run's wall time.

`start()` forks the helpers at the start of a command, while the process is still light (before torch
is imported): they import matplotlib while the run imports torch and trains, then draw what `submit`
sends (a module-level draw function and numpy arguments), write the PNG and return its bytes for
TensorBoard. Two helpers take jobs from one queue, so a run's end-of-run figures are drawn side by side
on a machine's spare cores instead of one after another. `result` waits for one figure; the run calls
it only when its logger closes. Where there are no helpers (no fork, or a process that already holds
torch, e.g. a test session) `submit` returns None and the caller draws in its own process.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

INLINE_ENV = "DLRUN_FIGURES_INLINE"  # set (to anything but "" or "0") to draw in the run's process
HELPERS = 2  # end-of-run figures are a handful: two drawers halve the wait, more would only compete for cores

_jobs: Any = None  # queue of (key, draw, args, kwargs, png path) the helpers take from
_results: Any = None  # queue of (key, PNG bytes or None, error or None) the helpers put into
_processes: list[Any] = []
_next_key = 0
_done: dict[int, tuple[Any, str | None]] = {}  # results read from the queue before they were asked for


def start() -> bool:
    """Fork the figure helpers once per process; only from a light process (torch not imported yet)."""
    global _jobs, _results
    if _processes:
        return True
    if not hasattr(os, "fork") or "torch" in sys.modules or os.environ.get(INLINE_ENV, "") not in ("", "0"):
        return False
    import multiprocessing

    context = multiprocessing.get_context("fork")
    _jobs, _results = context.Queue(), context.Queue()  # feeder threads: a put never waits for a drawing
    _jobs.cancel_join_thread()  # exiting never waits on jobs no helper took (results are waited for instead)
    warming = context.Lock()  # one helper loads matplotlib at a time: on 2 cores the run's own start-up keeps the other
    for number in range(HELPERS):
        process = context.Process(target=_serve, args=(_jobs, _results, warming), name=f"dlrun-figures-{number}", daemon=True)
        process.start()
        _processes.append(process)
    return True


def running() -> bool:
    return any(process.is_alive() for process in _processes)


def plain(value: Any) -> Any:
    """`value` with every torch tensor turned into a numpy array (so the helper never imports torch)."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        tensor = value.detach().cpu()
        if tensor.is_floating_point() and tensor.element_size() < 4:  # bfloat16/float16: numpy has no bfloat16
            tensor = tensor.float()
        return tensor.numpy()
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def submit(draw: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], png_path: Path | None) -> int | None:
    """Queue one figure for the helpers; its key for `result`, or None when there are no helpers."""
    global _next_key
    if not running():
        return None
    _next_key += 1
    try:
        _jobs.put((_next_key, draw, args, kwargs, str(png_path) if png_path is not None else None))
    except (OSError, ValueError):
        return None
    return _next_key


def result(key: int) -> tuple[Any, str | None]:
    """Wait for figure `key`: (its PNG bytes, None), or (None, why it failed)."""
    import queue

    while key not in _done:
        try:
            got, image, error = _results.get(timeout=1.0)
        except queue.Empty:  # a helper that died may have taken this job: the caller draws it instead
            if not all(process.is_alive() for process in _processes):
                return None, "the figure process stopped"
            continue
        except (EOFError, OSError):
            return None, "the figure process stopped"
        _done[got] = (image, error)
    return _done.pop(key)


def ready(key: int) -> bool:
    """Whether figure `key` is drawn (or failed), without waiting: the results that arrived so far are read."""
    import queue

    while key not in _done:
        try:
            got, image, error = _results.get_nowait()
        except queue.Empty:
            return False
        except (EOFError, OSError):
            return True  # `result` reports the stopped helper
        _done[got] = (image, error)
    return True


def _serve(jobs: Any, results: Any, warming: Any) -> None:
    """A helper's loop: import matplotlib and warm it up (one helper at a time, under `warming`), then
    draw jobs until the run's process ends."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle; it waits for us at exit
    with warming:
        from dlrun.plots.figure import new_figure

        fig, ax = new_figure(figsize=(2, 2))  # fonts and the PNG writer loaded before the first real figure
        ax.set_title("warm-up")
        render(fig)
    while True:
        try:
            key, draw, args, kwargs, png_path = jobs.get()
        except (EOFError, OSError):
            return
        try:
            png = render(draw(*args, **kwargs))
            if png_path is not None:
                Path(png_path).parent.mkdir(parents=True, exist_ok=True)
                Path(png_path).write_bytes(png)
            results.put((key, png, None))
        except Exception as err:  # the run draws it again in its own process, where the error surfaces
            results.put((key, None, f"{type(err).__name__}: {err}"))


def render(figure: Any) -> bytes:
    """The figure as PNG bytes (drawn once for the file and TensorBoard); closes it."""
    import matplotlib.pyplot as plt

    from dlrun.plots.figure import DPI, FIXED_MARGINS

    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=DPI, bbox_inches=None if figure.get_label() == FIXED_MARGINS else "tight")
    plt.close(figure)
    return png.getvalue()

