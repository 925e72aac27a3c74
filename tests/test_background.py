"""The figure process (dlrun.plots.background): figures drawn there equal the same figures drawn in the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from dlrun.plots import background

ROOT = Path(__file__).resolve().parents[1]

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
image, error = background.result(good)
assert error is None and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, (error, image)
np.save(out / "pixels.npy", image)
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

    here = background.pixels(background.render(confusion_figure(np.array([[5, 1], [2, 7]]), ["a", "b"])))
    assert np.array_equal(np.load(tmp_path / "pixels.npy"), here)
    assert np.array_equal(background.pixels(png), here)


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
