"""Figures drawn in a helper process, so matplotlib's import and drawing do not add to a run's wall time.

`start()` forks the helper at the start of a command, while the process is still light (before torch
is imported): it imports matplotlib while the run imports torch and trains, then draws what
`submit` sends (a module-level draw function and numpy arguments), writes the PNG and returns its
pixels for TensorBoard. `result` waits for one figure; the run calls it only when its logger closes.
Where there is no helper (no fork, or a process that already holds torch, e.g. a test session)
`submit` returns None and the caller draws in its own process.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

INLINE_ENV = "DLRUN_FIGURES_INLINE"  # set (to anything but "" or "0") to draw in the run's process

_conn: Any = None  # our end of the pipe to the helper
_process: Any = None
_next_key = 0


def start() -> bool:
    """Fork the figure helper once per process; only from a light process (torch not imported yet)."""
    global _conn, _process
    if _process is not None:
        return True
    if not hasattr(os, "fork") or "torch" in sys.modules or os.environ.get(INLINE_ENV, "") not in ("", "0"):
        return False
    import multiprocessing

    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs, ours), name="dlrun-figures", daemon=True)
    process.start()
    theirs.close()
    _conn, _process = ours, process
    return True


def running() -> bool:
    return _process is not None and _process.is_alive()


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
    """Send one figure to the helper; its key for `result`, or None when there is no helper."""
    global _next_key
    if not running():
        return None
    _next_key += 1
    try:
        _conn.send((_next_key, draw, args, kwargs, str(png_path) if png_path is not None else None))
    except (OSError, ValueError):
        return None
    return _next_key


def result(key: int) -> tuple[Any, str | None]:
    """Wait for figure `key`: (RGB pixels as an (H, W, 3) uint8 array, None), or (None, why it failed).
    The helper sends only when asked, so neither side blocks writing into a full pipe."""
    try:
        _conn.send(key)
        return _conn.recv()
    except (EOFError, OSError):
        return None, "the figure process stopped"


def _serve(conn: Any, parent_end: Any) -> None:
    """The helper's loop: import matplotlib, warm it up, then draw each job until the pipe closes. A
    thread reads the pipe all the time, so the run's sends never wait for a drawing to finish."""
    import queue
    import signal
    import threading

    parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle; it waits for us at exit
    inbox: queue.Queue[Any] = queue.Queue()

    def read() -> None:
        while True:
            try:
                inbox.put(conn.recv())
            except (EOFError, OSError):
                inbox.put(None)
                return

    threading.Thread(target=read, daemon=True).start()
    from dlrun.plots.figure import new_figure

    fig, ax = new_figure(figsize=(2, 2))  # fonts and the PNG writer loaded before the first real figure
    ax.set_title("warm-up")
    render(fig)
    done: dict[int, tuple[Any, str | None]] = {}
    while True:
        message = inbox.get()
        if message is None:
            return
        if isinstance(message, int):  # a request for a result (jobs arrive in order: it is drawn by now)
            conn.send(done.pop(message, (None, "unknown figure")))
            continue
        key, draw, args, kwargs, png_path = message
        try:
            png = render(draw(*args, **kwargs))
            if png_path is not None:
                Path(png_path).parent.mkdir(parents=True, exist_ok=True)
                Path(png_path).write_bytes(png)
            done[key] = (pixels(png), None)
        except Exception as err:  # the run draws it again in its own process, where the error surfaces
            done[key] = (None, f"{type(err).__name__}: {err}")


def render(figure: Any) -> bytes:
    """The figure as PNG bytes (drawn once for the file and TensorBoard); closes it."""
    import matplotlib.pyplot as plt

    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return png.getvalue()


def pixels(png: bytes) -> Any:
    """PNG bytes as an (H, W, 3) uint8 array."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
