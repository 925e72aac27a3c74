"""TensorBoard logging for one run dir, imported lazily (it costs seconds at start-up)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure


class RunLogger:
    """Writes scalars, figures, text and hparams to one TensorBoard event file in `run_dir`;
    figures are also saved as PNG files in the run dir."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.tensorboard = tensorboard
        self._writer: Any = None

    @property
    def writer(self) -> Any:
        if self._writer is None and self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.run_dir))
        return self._writer

    def scalars(self, metrics: dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for tag, value in metrics.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(tag, value, step)

    def figure(self, tag: str, figure: Figure, step: int = 0, png_name: str | None = None) -> Path | None:
        """Save `figure` as <run_dir>/<png_name> (if given) and as a TensorBoard image; closes it."""
        import io

        import matplotlib.pyplot as plt

        path = None
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=100, bbox_inches="tight")  # drawn once for both outputs
        plt.close(figure)
        if png_name is not None:
            path = self.run_dir / png_name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png.getvalue())
        if self.writer is not None:
            import numpy as np
            from PIL import Image

            png.seek(0)
            self.writer.add_image(tag, np.asarray(Image.open(png).convert("RGB")), step, dataformats="HWC")
        return path

    def image(self, tag: str, image: np.ndarray, step: int = 0, png_name: str | None = None) -> Path | None:
        """Save a uint8 (H, W, 3) array as <run_dir>/<png_name> (if given) and as a TensorBoard image
        (no matplotlib: cheap enough to call during training)."""
        path = None
        if png_name is not None:
            from PIL import Image

            path = self.run_dir / png_name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
        if self.writer is not None:
            self.writer.add_image(tag, image, step, dataformats="HWC")
        return path

    def text(self, tag: str, text: str, step: int = 0) -> None:
        if self.writer is not None:
            self.writer.add_text(tag, text, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """An HParams entry in this run's own event file, so TensorBoard's HParams tab lists the
        run once with its real final metrics."""
        if self.writer is None:
            return
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        clean = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in hparams.items()}
        finite = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        exp, ssi, sei = hparams_summary(clean, finite)
        file_writer = self.writer._get_file_writer()
        for summary in (exp, ssi, sei):
            file_writer.add_summary(summary)
        for tag, value in finite.items():
            self.writer.add_scalar(tag, value, 0)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
