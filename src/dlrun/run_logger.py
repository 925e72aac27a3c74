"""TensorBoard logging for one run dir, imported lazily (it costs seconds at start-up).
(About 320 lines: a run's event file, its figures, and the collection of a sweep job's figures after
the job has ended all write the same file, so they read in one place.)"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

SWEEP_SUFFIX = ".sweep-hparams"  # event file name suffix of a sweep's HParams column definitions
SWEEP_RUN = "sweep-hparams"  # the sweep dir's subdir (a TensorBoard run) holding them, so no run is called `.`
FINAL_GROUP = "zz_test"  # TensorBoard group of the test metrics and figures: Time Series sorts groups by tag name
EPOCH_LR_TAG = "train/lr"  # the epoch's `lr` among the training curves (per step: `train/lr_step`)
MAIN_METRIC_FIRST = ("acc",)  # preferred main metric of the training charts when the task logs it
TRAINING = "training: train vs val"  # the custom-scalars category with the lab's 2x2 plot
OTHER_METRICS = "other metrics: train vs val"


PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # a PNG's colour type (IHDR byte 25) -> its channels: grey, RGB, grey+alpha, RGBA


def tb_tag(key: str) -> str:
    """The TensorBoard tag of a metric or figure key (results.json and metrics.csv keep the keys).
    TensorBoard's Time Series orders its card groups (the tag up to the first `/`) by name and opens
    only the first two, so `test/*` (one point or figure at the end) go to FINAL_GROUP, after `train`
    and `val`, and the training pass's `lr` and `time/*` (seconds, samples/s) join its curves in
    `train/` instead of groups of their own that would come first."""
    split, slash, rest = key.partition("/")
    if slash and split == "test":
        return f"{FINAL_GROUP}/{rest}"
    if slash and split == "time":
        return f"train/{rest}"
    return EPOCH_LR_TAG if key == "lr" else key


def _both(name: str) -> list[Any]:
    return ["Multiline", [f"^train/{re.escape(name)}$", f"^val/{re.escape(name)}$"]]


def custom_scalars_layout(tags: Iterable[str]) -> dict[str, dict[str, list[Any]]]:
    """TensorBoard's custom-scalars layout for the logged `tags`: the lab's 2x2 plot (loss train +
    val, the task's main metric train + val, learning rate, gradient norm), then every other
    validation metric with its training curve. The main metric is `acc` when validated (classification,
    metric, stereo: the task's own accuracy), else the first metric logged for both splits."""
    tags = list(tags)
    val = [t.split("/", 1)[1] for t in tags if t.startswith("val/") and t != "val/loss"]
    train = {t.split("/", 1)[1] for t in tags if t.startswith("train/")}
    main = next((m for m in MAIN_METRIC_FIRST if m in val), None)
    main = main or next((m for m in val if m in train), None) or next(iter(val), None)
    charts: dict[str, list[Any]] = {"loss": _both("loss")}
    if main is not None:
        charts[main] = _both(main)
    charts["learning rate"] = ["Multiline", [f"^{re.escape(EPOCH_LR_TAG)}$"]]
    charts["gradient norm"] = ["Multiline", ["^train/grad_norm$"]]
    layout = {TRAINING: charts}
    others = [m for m in val if m != main]
    if others:
        layout[OTHER_METRICS] = {m: _both(m) for m in others}
    return layout


def _hparam_value(value: Any) -> int | float | str | bool:
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def _hparams_summaries(hparams: dict[str, Any], metrics: list[str], domains: dict[str, list[Any]] | None = None,
                       differs: Iterable[str] = ()) -> Any:
    """torch's HParams summaries (experiment, session start, session end) whose metric columns are
    the TensorBoard tags of the metric keys, each displayed as its key (`zz_test/acc` as `test/acc`,
    as in results.json and `dlrun compare`); the hyperparameters in `differs` are marked as varying
    (the HParams tab lists those first and shows the first five)."""
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    keys = {tb_tag(m): m for m in metrics}
    exp, ssi, sei = hparams_summary(hparams, dict.fromkeys(keys, 0.0), hparam_domain_discrete=domains)
    (value,) = exp.value
    data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.metric_infos:
        if keys[info.name.tag] != info.name.tag:
            info.display_name = keys[info.name.tag]
    differs = set(differs)
    for hparam in data.experiment.hparam_infos:
        hparam.differs = hparam.name in differs
    value.metadata.plugin_data.content = data.SerializeToString()
    return exp, ssi, sei


def write_sweep_hparams(sweep_dir: Path, runs_hparams: list[dict[str, Any]], metric_names: list[str]) -> None:
    """The HParams column definitions of a sweep, in the event file of <sweep dir>/SWEEP_RUN: every
    hyperparameter of any job (strings with their values as a discrete domain; those that vary
    marked, so the tab shows them first) and the metrics (the tags the runs log), so
    `tensorboard --logdir <sweep dir>` lists every job in one table.
    TensorBoard lists the subdir as a run named SWEEP_RUN (it has no data of its own)."""
    from torch.utils.tensorboard import SummaryWriter

    columns: dict[str, list[Any]] = {}
    for params in runs_hparams:
        for key, value in params.items():
            columns.setdefault(key, []).append(_hparam_value(value))
    first: dict[str, Any] = {}
    domains: dict[str, list[Any]] = {}
    varying = []  # more than one value among the jobs that have the key, as TensorBoard's own `differs`
    for key, values in columns.items():
        if all(isinstance(v, (int, float)) for v in values):  # bools too: TensorBoard stores them as numbers
            first[key], distinct = float(values[0]), {float(v) for v in values}
        else:
            first[key], distinct = str(values[0]), {str(v) for v in values}
            domains[key] = sorted(distinct)
        if len(distinct) > 1:
            varying.append(key)
    exp, _, _ = _hparams_summaries(first, metric_names, domains, varying)  # the same tags as the logged metrics
    run = Path(sweep_dir) / SWEEP_RUN
    pattern = f"events.out.tfevents.*{SWEEP_SUFFIX}"
    for old in [*run.glob(pattern), *Path(sweep_dir).glob(pattern)]:
        old.unlink()  # a resumed sweep's previous columns (in the sweep dir itself: written by older versions)
    writer = SummaryWriter(log_dir=str(run), filename_suffix=SWEEP_SUFFIX)
    writer._get_file_writer().add_summary(exp)
    writer.close()


class RunLogger:
    """Writes scalars, figures, text and hparams to one TensorBoard event file in `run_dir`, each
    under the tag `tb_tag` gives its key; figures are also saved as PNG files in the run dir."""

    def __init__(self, run_dir: Path, tensorboard: bool = True, figures: str = "all") -> None:
        self.run_dir = Path(run_dir)
        self.tensorboard = tensorboard
        self.figures = figures  # "all"; "no_duplicates": not those that redraw logged data; "none" (sweep.figures)
        self._writer: Any = None
        self._tags: dict[str, int] = {}  # scalar tag -> last step it was logged at
        self._layout_written = False
        self._pending: list[tuple[Any, ...]] = []  # figures the figure process draws (dlrun.plots.background)

    @property
    def writer(self) -> Any:
        if self._writer is None and self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.run_dir))
        return self._writer

    def scalars(self, metrics: dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                tag = tb_tag(key)
                self.writer.add_scalar(tag, value, step)
                self._tags[tag] = step
        if not self._layout_written and any(t.startswith("val/") for t in metrics):
            self.write_layout()  # once the first validation shows which metrics the task has

    def write_layout(self) -> None:
        """The custom-scalars layout (custom_scalars_layout) of the tags logged so far."""
        if self.writer is None or self._layout_written:
            return
        self.writer.add_custom_scalars(custom_scalars_layout(self._tags))
        self._layout_written = True

    def figure(self, tag: str, figure: Figure, step: int = 0, png_name: str | None = None) -> Path | None:
        """Save `figure` as <run_dir>/<png_name> (if given) and as a TensorBoard image; closes it."""
        from dlrun.plots.background import render

        path = None
        png = render(figure)  # drawn once for both outputs
        if png_name is not None:
            path = self.run_dir / png_name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        self.png(tag, png, step)
        return path

    def png(self, tag: str, png: bytes, step: int = 0) -> None:
        """A PNG file's bytes as a TensorBoard image, as they are (an image summary holds encoded
        bytes: no decoding and encoding again, which add_image of pixels would do)."""
        if self.writer is None:
            return
        from tensorboard.compat.proto.summary_pb2 import Summary

        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the IHDR chunk
        channels = PNG_CHANNELS.get(png[25], 4)
        image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=png)
        self.writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tb_tag(tag), image=image)]), step)

    def wants(self, redraws_logged: bool = False) -> bool:
        """Whether `draw` draws a figure; `redraws_logged`: one that only redraws what this event file
        already holds as scalars or text (the training plot: the custom-scalars 2x2; a table)."""
        return self.figures == "all" or (self.figures == "no_duplicates" and not redraws_logged)

    def draw(self, tag: str, draw: Any, *args: Any, step: int = 0, png_name: str | None = None,
             redraws_logged: bool = False, **kwargs: Any) -> None:
        """`figure(tag, draw(*args, **kwargs), ...)`, drawn by the figure process when one runs (tensors sent as
        numpy arrays; `draw` a module-level function) and collected when the logger closes; else drawn here.
        Nothing when the logger does not `want` it (a sweep job's figures, sweep.figures)."""
        if not self.wants(redraws_logged):
            return
        from dlrun.plots import background

        args, kwargs = background.plain(args), background.plain(kwargs)
        key = background.submit(draw, args, kwargs, self.run_dir / png_name if png_name is not None else None)
        if key is None:
            self.figure(tag, draw(*args, **kwargs), step, png_name)
        else:
            self._pending.append((key, tag, draw, args, kwargs, step, png_name))

    def wait_figures(self) -> None:
        """Collect the figures the figure process drew; one that failed there is drawn here (its error shows here)."""
        from dlrun.plots import background

        pending, self._pending = self._pending, []
        for key, tag, draw, args, kwargs, step, png_name in pending:
            png, _ = background.result(key)
            if png is None:
                self.figure(tag, draw(*args, **kwargs), step, png_name)
            else:
                self.png(tag, png, step)

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
            self.writer.add_image(tb_tag(tag), image, step, dataformats="HWC")
        return path

    def text(self, tag: str, text: str, step: int = 0) -> None:
        if self.writer is not None:
            self.writer.add_text(tb_tag(tag), text, step)

    def hparams(self, hparams: dict[str, Any], metrics: dict[str, float], experiment: bool = True) -> None:
        """An HParams session in this run's own event file whose metrics are the run's own tags
        (TensorBoard shows a tag's last value: the last epoch's val/*, and the test/* metrics,
        logged here once at the last epoch's step under FINAL_GROUP), so there is no parallel
        family of copies.
        `experiment=False` (jobs of a sweep) leaves the column definitions to the sweep-level
        summary (`write_sweep_hparams`)."""
        if self.writer is None:
            return
        clean = {k: _hparam_value(v) for k, v in hparams.items()}
        finite = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        val_steps = [step for tag, step in self._tags.items() if tag.startswith("val/")]
        last = max(val_steps or self._tags.values() or [0])  # the last epoch
        for key, value in finite.items():
            if tb_tag(key) not in self._tags:  # final metrics (test/*) not logged as curves
                self.writer.add_scalar(tb_tag(key), value, last)
                self._tags[tb_tag(key)] = last
        self.write_layout()
        exp, ssi, sei = _hparams_summaries(clean, list(finite))
        file_writer = self.writer._get_file_writer()
        for summary in ((exp, ssi, sei) if experiment else (ssi, sei)):
            file_writer.add_summary(summary)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def figures_ready(self) -> bool:
        """Whether every figure this logger sent to the helpers is drawn (no waiting)."""
        from dlrun.plots import background

        return all(background.ready(key) for key, *_ in self._pending)

    def close(self, wait_for_figures: bool = True) -> None:
        """Collect the figures and close the event file. `wait_for_figures=False` (a job of an in-process
        sweep) leaves its figures drawing beside the next jobs: a later job's close collects those that
        are drawn, and waits only while more than MAX_BEHIND jobs' figures are outstanding;
        `finish_deferred` collects the rest when the sweep (or the process) ends."""
        global _exit_hook
        if wait_for_figures:
            finish_deferred()
        elif self._pending:
            collect_deferred(MAX_BEHIND - 1)
            self.flush()  # the scalars and hparams are on disk while the figures finish
            if not _exit_hook:
                import atexit

                atexit.register(finish_deferred)  # runs before multiprocessing stops the figure helpers
                _exit_hook = True
            _deferred.append(self)
            return
        else:
            collect_deferred(MAX_BEHIND)
        self.finish()

    def finish(self) -> None:
        """Wait for this logger's figures, write them, and close its event file."""
        self.wait_figures()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


_deferred: list[RunLogger] = []  # loggers of finished sweep jobs whose figures are still being drawn
_exit_hook = False  # finish_deferred registered with atexit
MAX_BEHIND = 2  # sweep jobs whose figures may still be drawing while the next job runs (bounds memory and lag)


def collect_deferred(keep: int) -> None:
    """Close the deferred loggers whose figures are drawn, oldest first, waiting for the oldest only
    while more than `keep` remain."""
    for logger in list(_deferred):
        if logger.figures_ready():
            _deferred.remove(logger)
            logger.finish()
    while len(_deferred) > keep:
        _deferred.pop(0).finish()


def finish_deferred() -> None:
    """Collect the figures of finished sweep jobs into their event files and close those."""
    collect_deferred(0)
