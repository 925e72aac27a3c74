"""The figure process (dlrun.plots.background): figures drawn there equal the same figures drawn in the run."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np

from dlrun.plots import background

ROOT = Path(__file__).resolve().parents[1]


def pixels(png: bytes) -> np.ndarray:
    """PNG bytes as an (H, W, C) uint8 array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)))

SCRIPT = r"""
import sys
from pathlib import Path
import numpy as np
from dlrun.plots import background
from dlrun.plots.confusion import confusion_figure
out = Path(sys.argv[1])
assert background.start() and background.running()
confusion = np.array([[5, 1], [2, 7]])
good = background.submit(confusion_figure, (confusion, ["a", "b"]), {}, out / "sub" / "confusion.png")
bad = background.submit(confusion_figure, (np.zeros(3), ["a"]), {}, None)   # 1-D: the drawing fails
png, error = background.result(good)
assert error is None and png[:8] == b"\x89PNG\r\n\x1a\n", (error, png[:8])
(out / "returned.png").write_bytes(png)
image, error = background.result(bad)
assert image is None and "TypeError" in error, error
print("torch" in sys.modules)
"""


def test_figures_drawn_by_the_helper_match_the_same_figure_drawn_here(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"  # neither process needed torch for the figure
    png = (tmp_path / "sub" / "confusion.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from dlrun.plots.confusion import confusion_figure

    here = pixels(background.render(confusion_figure(np.array([[5, 1], [2, 7]]), ["a", "b"])))
    assert np.array_equal(pixels((tmp_path / "returned.png").read_bytes()), here)
    assert np.array_equal(pixels(png), here)


def test_no_helper_in_a_process_that_holds_torch() -> None:
    import torch  # noqa: F401  (a test session has it; forking such a process is what start() avoids)

    assert background.start() is False
    assert background.submit(print, (), {}, None) is None  # callers then draw in their own process


def test_plain_turns_tensors_into_arrays() -> None:
    import torch

    value = background.plain((torch.tensor([1.5, 2.0], dtype=torch.bfloat16), {"k": [torch.arange(3)]}, "s"))
    assert isinstance(value, tuple) and value[2] == "s"
    assert np.array_equal(value[0], np.array([1.5, 2.0], dtype=np.float32))
    assert isinstance(value[1]["k"][0], np.ndarray) and value[1]["k"][0].tolist() == [0, 1, 2]


SIDE_BY_SIDE = r"""
import os, signal, sys, time
from pathlib import Path
import numpy as np
from dlrun.plots import background
from dlrun.plots.confusion import confusion_figure
out = Path(sys.argv[1])
assert background.start() and len(background._processes) == background.HELPERS == 2
matrices = [np.array([[k, 1], [2, 7]]) for k in range(1, 7)]
keys = [background.submit(confusion_figure, (m, ["a", "b"]), {}, None) for m in matrices]
for k, key in reversed(list(enumerate(keys))):          # asked for in the opposite order they were queued
    png, error = background.result(key)
    assert error is None, error
    (out / f"returned{k}.png").write_bytes(png)
pids = {int(line.split()[0]) for line in os.popen(f"ps -o pid= --ppid {os.getpid()}")}
assert {p.pid for p in background._processes} <= pids    # two live helper processes of this one
for p in background._processes:
    os.kill(p.pid, signal.SIGKILL)
for p in background._processes:
    p.join()
late = background.submit(confusion_figure, (matrices[0], ["a", "b"]), {}, None)
print(late)
"""


def test_two_helpers_return_each_figure_under_its_own_key_and_a_dead_helper_does_not_hang(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", SIDE_BY_SIDE, str(tmp_path)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None"  # no live helper: the caller draws in its own process
    from dlrun.plots.confusion import confusion_figure

    for k in range(6):  # each key's pixels are its own matrix's figure, not a neighbour's
        here = pixels(background.render(confusion_figure(np.array([[k + 1, 1], [2, 7]]), ["a", "b"])))
        assert np.array_equal(pixels((tmp_path / f"returned{k}.png").read_bytes()), here), k


DIES_WHILE_WAITED_FOR = r"""
import os, signal, sys, threading
import numpy as np
from dlrun.plots import background
from dlrun.plots.confusion import confusion_figure
assert background.start()
key = background.submit(confusion_figure, (np.array([[1, 2], [3, 4]]), ["a", "b"]), {}, None)
for p in background._processes:  # both helpers die before (or while) drawing it
    os.kill(p.pid, signal.SIGKILL)
print(background.result(key))
"""


def test_waiting_for_a_figure_whose_helpers_died_returns_an_error_instead_of_hanging() -> None:
    proc = subprocess.run([sys.executable, "-c", DIES_WHILE_WAITED_FOR], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(None, 'the figure process stopped')"
