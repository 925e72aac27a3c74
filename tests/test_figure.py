"""dlrun.plots.figure: fixed-margin figures hold all their text (nothing cut off when saved as laid out)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dlrun.plots.background import render
from dlrun.plots.class_table import class_table_figure
from dlrun.plots.confusion import confusion_figure
from dlrun.plots.decision_surface import decision_surface_plot
from dlrun.plots.figure import FIXED_MARGINS, margins_in_inches, new_figure, text_inches
from dlrun.plots.top_losses import top_losses_figure
from dlrun.plots.training import training_plot_figure

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PIXEL = 1 / 100  # inches at the dpi figures are saved with


def drawn_extent(fig: Any) -> tuple[float, float, float, float]:
    """Where the figure's artists ended up once drawn, in inches: (x0, y0, x1, y1)."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    return box.x0, box.y0, box.x1, box.y1


def rows_of(names: list[str]) -> list[dict[str, Any]]:
    return [{"class": n, "precision": 0.9123, "recall": 0.8, "f1": 0.85, "support": 10000} for n in names]


def top_losses_args(count: int, names: list[str]) -> tuple[Any, ...]:
    rng = np.random.default_rng(0)
    return (rng.random((count, 1, 28, 28)), rng.integers(0, len(names), count), rng.random((count, len(names))),
            rng.random(count) * 20, names)


FIGURES = {
    "confusion, Fashion-MNIST": lambda: confusion_figure(np.arange(100).reshape(10, 10) * 101, FASHION),
    "confusion, two long names": lambda: confusion_figure(np.array([[9000, 3], [5, 9999]]), ["a rather long class name", "WWWWWWWW"]),
    "confusion, 30 classes (no counts)": lambda: confusion_figure(np.eye(30) * 50, [f"class {i}" for i in range(30)]),
    "class table, 10 rows": lambda: class_table_figure(rows_of(FASHION)),
    "class table, 2 rows": lambda: class_table_figure(rows_of(["cat", "dog"])),
    "top losses, 20": lambda: top_losses_figure(*top_losses_args(20, FASHION)),
    "top losses, 3": lambda: top_losses_figure(*top_losses_args(3, FASHION)),
    "decision surface, wide ticks": lambda: decision_surface_plot(
        *np.meshgrid(np.linspace(-12345.5, 12345.5, 20), np.linspace(-12345.5, 12345.5, 20)), np.zeros((20, 20)),
        np.array([[0.0, 0.0], [1.0, -1.0]]), np.array([0, 1])),
    "training plot": lambda: training_plot_figure([{"epoch": e, "train/loss": 1 / e, "val/loss": 1.2 / e, "train/acc": 0.9,
                                                    "val/acc": 0.88, "lr": 1e-3, "time/epoch_s": 1234567.0} for e in range(1, 9)]),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_a_fixed_margin_figure_holds_all_its_text(name: str) -> None:
    fig = FIGURES[name]()
    assert fig.get_label() == FIXED_MARGINS  # saved as laid out: render draws it once
    width, height = fig.get_size_inches()
    x0, y0, x1, y1 = drawn_extent(fig)
    assert x0 >= -PIXEL and y0 >= -PIXEL and x1 <= width + PIXEL and y1 <= height + PIXEL, (x0, y0, x1, y1, width, height)
    png = render(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_inches_is_the_drawn_width_of_the_text() -> None:
    fig, _ = new_figure(figsize=(4, 2))
    fig.canvas.draw()
    for text, size in [("Ankle boot", 10), ("T-shirt/top", 8), ("WWWW iiii", 14)]:
        artist = fig.text(0.1, 0.5, text, fontsize=size)
        drawn = artist.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
        assert text_inches(text, size)[0] == pytest.approx(drawn, abs=PIXEL)
    assert text_inches("Ankle boot", 20)[0] == pytest.approx(2 * text_inches("Ankle boot", 10)[0], rel=0.02)


def test_margins_in_inches_are_fractions_of_the_figure() -> None:
    assert margins_in_inches(8.0, 4.0, left=1.0, right=0.5, bottom=1.0, top=0.2, hspace=0.3) == {
        "left": 0.125, "right": 0.9375, "bottom": 0.25, "top": 0.95, "hspace": 0.3}
