"""dlrun predict: new image files and lines of text labelled from the checkpoint alone."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from image_files import write_tree


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def image_checkpoint(train_run, tmp_path: Path) -> Path:
    """A CNN trained on dark 'cat' vs bright 'dog' images (trivially separable)."""
    write_tree(tmp_path / "imgs", per_class=16)
    code, run = train_run("dataset=image_folder", f"dataset.root={tmp_path / 'imgs'}", "model=cnn", "model.channels=[4]", "model.fc=[8]",
                          "dataset.val_size=4", "dataset.test_size=4", "dataset.batch_size=8", "trainer.max_epochs=8", "optimizer.lr=0.01")
    assert code == 0
    return run / "checkpoints" / "best.pt"


def test_predict_a_folder_of_new_images_without_the_dataset(image_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    new = tmp_path / "new"
    new.mkdir()
    for i, level in enumerate((30, 45, 210, 235)):
        Image.fromarray(np.full((20, 16), level, np.uint8)).save(new / f"{i}_{'cat' if level < 100 else 'dog'}.png")  # other size: resized
    shutil.rmtree(tmp_path / "imgs")  # the training images are gone: all comes from the checkpoint
    out = tmp_path / "preds.csv"
    assert main(["predict", f"ckpt={image_checkpoint}", f"inputs={new}", f"out={out}", "top_k=2"]) == 0
    rows = read_rows(out)
    assert list(rows[0]) == ["input", "label", "probability", "label_2", "probability_2"]
    assert [Path(r["input"]).name.split("_")[1].removesuffix(".png") for r in rows] == [r["label"] for r in rows]
    assert all(0.5 <= float(r["probability"]) <= 1 and abs(float(r["probability"]) + float(r["probability_2"]) - 1) < 1e-5 for r in rows)
    printed = capsys.readouterr().out
    assert f"predicted 4 inputs -> {out}" in printed and "cat 2" in printed and "dog 2" in printed


@pytest.mark.fault("dlrun predict on an unreadable or wrong kind of input", "one-line error naming the input")
def test_bad_inputs_are_one_line_errors(image_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    text = tmp_path / "review.txt"
    text.write_text("a lovely film\n")
    for inputs, message in ((broken, f"cannot read {broken} as an image"), (text, f"cannot read {text} as an image"),
                            (tmp_path / "nope", f"inputs not found: {tmp_path / 'nope'}")):
        assert main(["predict", f"ckpt={image_checkpoint}", f"inputs={inputs}"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {message}") and len(err.splitlines()) == 1
    assert main(["predict", f"ckpt={image_checkpoint}"]) == 2
    assert "missing inputs=" in capsys.readouterr().err


def test_predict_lines_of_text(train_run, tmp_path: Path) -> None:
    from dlrun.cli import main

    root = tmp_path / "text"
    root.mkdir()
    good, bad = ["great fun", "great film", "fun and great"], ["awful bore", "awful film", "a bore"]
    lines = [f"{t}, positive" for t in good] + [f"{t}, negative" for t in bad]
    for name in ("train.csv", "valid.csv", "test.csv"):
        (root / name).write_text("\n".join(lines * 4) + "\n")
    code, run = train_run("experiment=lab3_baseline", "dataset=text_csv", f"dataset.root={root}", "dataset.embeddings.path=null",
                          "model.embedding_dim=8", "trainer.max_epochs=30", "optimizer.lr=0.05")
    assert code == 0
    inputs = tmp_path / "new.txt"
    inputs.write_text("great great fun\n\nawful bore\n")
    out = tmp_path / "text_preds.csv"
    assert main(["predict", f"ckpt={run / 'checkpoints' / 'last.pt'}", f"inputs={inputs}", f"out={out}"]) == 0
    rows = read_rows(out)
    assert [(r["input"], r["label"]) for r in rows] == [("great great fun", "positive"), ("awful bore", "negative")]
