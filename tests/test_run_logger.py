"""RunLogger's TensorBoard output: the custom-scalars layout (the lab's 2x2 training plot) chosen from
the logged tags, HParams metrics that are the run's own tags (no `hparams/*` copies), the tags of
test metrics and the learning rate, and the sweep's HParams columns in a run of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dlrun.run_logger import OTHER_METRICS, TRAINING, RunLogger, custom_scalars_layout, tb_tag, write_sweep_hparams

CLASSIFICATION = ["train/loss", "train/acc", "train/loss_step", "train/grad_norm", "train/lr", "train/lr_step",
                  "train/epoch_s", "train/samples_per_s", "val/loss", "val/acc", "val/f1"]
STEREO = ["train/loss", "train/patch_acc", "train/grad_norm", "train/lr", "train/lr_step", "val/loss", "val/patch_acc",
          "val/acc", "val/epe"]


def png_of(pixels: np.ndarray) -> bytes:
    """An (H, W, C) uint8 array as PNG bytes (PIL: independent of the code under test)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_a_png_goes_into_tensorboard_as_it_is(tmp_path: Path) -> None:
    """RunLogger.png writes the PNG's bytes unchanged with its size and channels from its header."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rng = np.random.default_rng(0)
    rgb, rgba, grey = (rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(3, 5, 3), (4, 2, 4), (6, 7)])
    logger = RunLogger(tmp_path)
    for tag, pixels in [("rgb", rgb), ("rgba", rgba), ("grey", grey)]:
        logger.png(tag, png_of(pixels), step=3)
    logger.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    for tag, pixels, channels in [("rgb", rgb, 3), ("rgba", rgba, 4), ("grey", grey, 1)]:
        (image,) = events.Images(tag)
        assert (image.step, image.height, image.width) == (3, pixels.shape[0], pixels.shape[1])
        assert image.encoded_image_string == png_of(pixels)
    colorspaces = {v.tag: v.image.colorspace for e in tmp_path.glob("events.*") for v in image_summaries(e)}
    assert colorspaces == {"rgb": 3, "rgba": 4, "grey": 1}


def image_summaries(path: Path) -> list[Any]:
    """The image summaries of an event file as written (no conversion to TensorBoard's tensor form)."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    return [value for event in LegacyEventFileLoader(str(path)).Load() for value in event.summary.value if value.HasField("image")]


def test_classification_layout_is_the_labs_2x2_plot() -> None:
    layout = custom_scalars_layout(CLASSIFICATION)
    assert list(layout) == [TRAINING, OTHER_METRICS]
    assert layout[TRAINING] == {
        "loss": ["Multiline", ["^train/loss$", "^val/loss$"]],
        "acc": ["Multiline", ["^train/acc$", "^val/acc$"]],
        "learning rate": ["Multiline", ["^train/lr$"]],  # the epoch's lr, not the per-step train/lr_step
        "gradient norm": ["Multiline", ["^train/grad_norm$"]],
    }
    assert layout[OTHER_METRICS] == {"f1": ["Multiline", ["^train/f1$", "^val/f1$"]]}


def test_stereo_gets_its_own_main_metric_and_the_rest_below() -> None:
    """Stereo validates dense 3-px accuracy `acc` (no training counterpart) plus patch_acc and epe."""
    layout = custom_scalars_layout(STEREO)
    assert list(layout[TRAINING]) == ["loss", "acc", "learning rate", "gradient norm"]
    assert list(layout[OTHER_METRICS]) == ["patch_acc", "epe"]


def test_without_acc_the_main_metric_is_one_logged_for_both_splits() -> None:
    """A metric-learning run validating only recall@k: the first metric also trained on wins,
    else the first validated one; regex characters in names are escaped."""
    layout = custom_scalars_layout(["train/loss", "train/recall@1", "val/loss", "val/map", "val/recall@1"])
    assert list(layout[TRAINING]) == ["loss", "recall@1", "learning rate", "gradient norm"]
    assert list(layout[OTHER_METRICS]) == ["map"]
    only_val = custom_scalars_layout(["train/loss", "val/loss", "val/r2(x)"])
    assert only_val[TRAINING]["r2(x)"] == ["Multiline", ["^train/r2\\(x\\)$", "^val/r2\\(x\\)$"]]
    assert list(custom_scalars_layout(["train/loss", "val/loss"])) == [TRAINING]  # loss only: no second category


def read_events(run_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], list[str]]:
    """(scalar tag -> [(step, value)], custom-scalars layout category titles) of a run's event file."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    titles: list[str] = []
    if metadata.CONFIG_SUMMARY_TAG in acc.Tags()["tensors"]:
        (event,) = acc.Tensors(metadata.CONFIG_SUMMARY_TAG)
        layout = layout_pb2.Layout()
        layout.ParseFromString(event.tensor_proto.string_val[0])
        titles = [c.title for c in layout.category]
    return scalars, titles


def read_experiment(run_dir: Path) -> Any:
    """The HParams experiment (column definitions) in a run's event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return metadata.parse_experiment_plugin_data(acc.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.EXPERIMENT_TAG])


def experiment_metrics(run_dir: Path) -> list[tuple[str, str]]:
    """(tag, display name) of the metric columns of the HParams experiment in a run's event files."""
    return [(m.name.tag, m.display_name) for m in read_experiment(run_dir).metric_infos]


def test_tensorboard_tags_of_test_metrics_and_the_learning_rate() -> None:
    """Test metrics and figures (`test/...`) share one group named to sort after `train` and `val`;
    the epoch's `lr` and the training pass's times join the training curves; other keys keep their names."""
    assert tb_tag("test/acc") == "zz_test/acc"
    assert tb_tag("test/disparity/000000_10") == "zz_test/disparity/000000_10"
    assert tb_tag("lr") == "train/lr"
    assert tb_tag("time/epoch_s") == "train/epoch_s" and tb_tag("time/samples_per_s") == "train/samples_per_s"
    for key in ("val/acc", "train/loss", "train/lr_step", "testing/acc", "test", "probe/acc", "val/lr", "time", "timer/x"):
        assert tb_tag(key) == key


def test_figures_and_text_of_the_test_split_share_the_final_group(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = RunLogger(tmp_path / "run")
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    logger.image("test/confusion_matrix", image, png_name="cm.png")
    logger.image("val/attention", image, step=2)
    logger.text("test/per_class_metrics", "| class | acc |")
    logger.close()
    acc = EventAccumulator(str(tmp_path / "run"))
    acc.Reload()
    assert sorted(acc.Tags()["images"]) == ["val/attention", "zz_test/confusion_matrix"]
    assert list(acc.PluginTagToContent("text")) == ["zz_test/per_class_metrics/text_summary"]  # torch adds the suffix
    assert (tmp_path / "run" / "cm.png").is_file()  # the PNG's name is the caller's


def test_sweep_columns_are_a_run_of_their_own_named_for_them(tmp_path: Path) -> None:
    """The sweep's HParams columns go to <sweep>/sweep-hparams, not the sweep dir (TensorBoard's
    run `.`); writing them again (a resumed sweep) replaces the old file there and in the sweep dir."""
    from dlrun.run_logger import SWEEP_RUN, SWEEP_SUFFIX

    legacy = tmp_path / f"events.out.tfevents.1.host.1.0{SWEEP_SUFFIX}"
    legacy.write_bytes(b"")
    runs = [{"optimizer": "sgd", "seed": 1, "model": "mlp", "lr": 0.1}, {"optimizer": "adam", "seed": 2, "model": "mlp", "lr": 0.1},
            {"optimizer": "adam", "seed": 1, "model": "mlp", "lr": 0.1, "dropout": 0.5, "epochs": 3},
            {"optimizer": "adam", "seed": 1, "model": "mlp", "lr": 0.1, "epochs": 3.0}]
    write_sweep_hparams(tmp_path, runs, ["val/acc", "test/acc"])
    write_sweep_hparams(tmp_path, runs, ["val/acc", "test/acc", "test/loss"])
    assert SWEEP_RUN == "sweep-hparams" and not legacy.exists()
    assert not list(tmp_path.glob("events.out.tfevents.*"))
    assert len(list((tmp_path / SWEEP_RUN).glob("events.out.tfevents.*"))) == 1
    assert experiment_metrics(tmp_path / SWEEP_RUN) == [("val/acc", ""), ("zz_test/acc", "test/acc"),
                                                         ("zz_test/loss", "test/loss")]
    differs = {h.name: h.differs for h in read_experiment(tmp_path / SWEEP_RUN).hparam_infos}
    assert differs == {"optimizer": True, "seed": True, "model": False, "lr": False, "dropout": False,  # dropout: one value
                       "epochs": False}  # 3 and 3.0: one number


def test_layout_written_at_first_validation_and_final_metrics_at_the_last_epoch(tmp_path: Path) -> None:
    run = tmp_path / "run"
    logger = RunLogger(run)
    logger.scalars({"train/loss": 1.0, "lr": 0.1, "time/epoch_s": 2.5}, 1)
    assert not logger._layout_written  # no validation yet: the main metric is unknown
    logger.scalars({"val/loss": 0.9, "val/acc": 0.5}, 1)
    assert logger._layout_written
    logger.scalars({"train/loss": 0.8, "val/loss": 0.7, "val/acc": 0.6}, 2)
    logger.hparams({"seed": 1}, {"val/loss": 0.7, "val/acc": 0.6, "test/acc": 0.55, "test/loss": float("nan")})
    logger.close()
    scalars, titles = read_events(run)
    assert titles == [TRAINING]
    assert not any(t.startswith("hparams/") for t in scalars)
    assert scalars["val/loss"] == [(1, pytest.approx(0.9)), (2, pytest.approx(0.7))]  # the curve, not duplicated
    assert scalars["zz_test/acc"] == [(2, pytest.approx(0.55))]  # test/acc, in the group sorted after the curves
    assert "zz_test/loss" not in scalars  # not finite: not logged
    assert not any(t.startswith("test/") for t in scalars)
    assert scalars["train/lr"] == [(1, pytest.approx(0.1))] and "lr" not in scalars  # the epoch's lr among the curves
    assert scalars["train/epoch_s"] == [(1, pytest.approx(2.5))] and not any(t.startswith("time/") for t in scalars)
    assert experiment_metrics(run) == [("val/loss", ""), ("val/acc", ""), ("zz_test/acc", "test/acc")]


def test_run_without_validation_gets_its_layout_with_hparams(tmp_path: Path) -> None:
    logger = RunLogger(tmp_path / "run")
    logger.scalars({"train/loss": 1.0}, 1)
    logger.hparams({"seed": 1}, {"test/acc": 0.5})
    logger.close()
    scalars, titles = read_events(tmp_path / "run")
    assert titles == [TRAINING] and scalars["zz_test/acc"] == [(1, pytest.approx(0.5))]


def test_no_tensorboard_writes_nothing(tmp_path: Path) -> None:
    logger = RunLogger(tmp_path / "run", tensorboard=False)
    logger.scalars({"val/loss": 1.0}, 1)
    logger.hparams({"seed": 1}, {"test/acc": 0.5})
    logger.close()
    assert not (tmp_path / "run").exists()


def test_a_sweep_jobs_figures_are_collected_once_drawn_and_waited_for_only_when_too_far_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """close(wait_for_figures=False) leaves a job's figures drawing while the next jobs run. A later job's
    close writes the figures that are drawn into their own job's event file without waiting, and waits
    (oldest first) only while more than MAX_BEHIND jobs' figures are outstanding; finish_deferred at the
    sweep's end collects the rest."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from dlrun import run_logger
    from dlrun.plots import background

    assert run_logger.MAX_BEHIND == 2
    sizes = {key: (key + 3, key + 4) for key in range(1, 5)}
    drawn = {key: png_of(np.full((*size, 3), 10 * key, np.uint8)) for key, size in sizes.items()}
    ready: set[int] = set()
    waited: list[int] = []  # figures asked for before they were drawn
    keys = iter(drawn)
    monkeypatch.setattr(background, "submit", lambda *args: next(keys))
    monkeypatch.setattr(background, "ready", lambda key: key in ready)
    monkeypatch.setattr(background, "result", lambda key: (key in ready or waited.append(key), (drawn[key], None))[1])
    jobs = [RunLogger(tmp_path / f"job{n}") for n in range(4)]

    def finish_job(n: int) -> None:
        jobs[n].draw(f"figure{n}", print)
        jobs[n].close(wait_for_figures=False)

    finish_job(0)
    finish_job(1)
    assert waited == [] and run_logger._deferred == [jobs[0], jobs[1]]  # two jobs behind: nobody waits
    finish_job(2)
    assert waited == [1] and run_logger._deferred == [jobs[1], jobs[2]]  # a third: the oldest is waited for
    ready.add(3)  # job 2's figure is drawn, job 1's is not
    finish_job(3)
    assert waited == [1] and run_logger._deferred == [jobs[1], jobs[3]]  # job 2 collected without waiting
    run_logger.finish_deferred()
    assert waited == [1, 2, 4] and run_logger._deferred == []
    for n, key in enumerate(sizes):
        events = EventAccumulator(str(tmp_path / f"job{n}"), size_guidance={"images": 0})
        events.Reload()
        assert events.Tags()["images"] == [f"figure{n}"]
        (image,) = events.Images(f"figure{n}")
        assert (image.height, image.width) == sizes[key]


def test_a_single_run_waits_for_its_figures_at_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlrun import run_logger
    from dlrun.plots import background

    asked: list[int] = []
    monkeypatch.setattr(background, "submit", lambda *args: 7)
    monkeypatch.setattr(background, "result", lambda key: (asked.append(key), (png_of(np.zeros((2, 2, 3), np.uint8)), None))[1])
    logger = RunLogger(tmp_path)
    logger.draw("training_plot", print)
    logger.close()
    assert asked == [7] and run_logger._deferred == []


@pytest.mark.parametrize(("figures", "drawn"), [("all", ["curves", "picture"]), ("no_duplicates", ["picture"]), ("none", [])])
def test_figures_choice_decides_which_figures_are_drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        figures: str, drawn: list[str]) -> None:
    """no_duplicates leaves out a figure that redraws logged scalars or text; none draws nothing."""
    from dlrun.plots import background

    submitted: list[str] = []
    monkeypatch.setattr(background, "submit", lambda draw, args, kwargs, path: (submitted.append(args[0]), None)[1])
    logger = RunLogger(tmp_path, tensorboard=False, figures=figures)
    monkeypatch.setattr(logger, "figure", lambda *args, **kwargs: None)  # drawn here (no helpers): nothing to render
    logger.draw("curves", str, "curves", redraws_logged=True)
    logger.draw("picture", str, "picture")
    assert submitted == drawn
    assert logger.wants() == (figures != "none") and logger.wants(redraws_logged=True) == (figures == "all")
