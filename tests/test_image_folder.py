"""dataset=image_folder on real image files (PNG, JPEG, BMP written with PIL), read by the real decoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlrun.data import image_folder as image_folder_module
from dlrun.data.image_folder import ImageFolder
from dlrun.errors import DlrunError
from image_files import write_tree


def test_layout_classes_channels_and_drawn_splits(tmp_path: Path) -> None:
    write_tree(tmp_path, per_class=10)
    data = ImageFolder(str(tmp_path), val_size=4, test_size=0.2, seed=1)
    data.setup(torch.device("cpu"))
    assert data.meta["class_names"] == ["cat", "dog"] and data.meta["num_classes"] == 2
    assert data.meta["input_shape"] == [3, 8, 8]  # RGB present: every image has 3 channels
    assert data.meta["split_sizes"] == {"train": 12, "val": 4, "test": 4}
    x, y = data.split_tensors("train")
    assert x.dtype == torch.uint8 and torch.all(x[y == 0] < 60) and torch.all(x[y == 1] >= 200)
    again = ImageFolder(str(tmp_path), val_size=4, test_size=0.2, seed=1)
    again.setup(torch.device("cpu"))
    assert torch.equal(again.split_tensors("val")[1], data.split_tensors("val")[1])


def test_greyscale_only_gives_one_channel_and_folders_give_splits(tmp_path: Path) -> None:
    write_tree(tmp_path, per_class=4, colour=False, splits=("train", "val", "test"))
    data = ImageFolder(str(tmp_path))
    data.setup(torch.device("cpu"))
    assert data.meta["input_shape"] == [1, 8, 8]
    assert data.meta["split_sizes"] == {"train": 8, "val": 8, "test": 8}


def test_resize_and_the_two_sizes_error(tmp_path: Path) -> None:
    write_tree(tmp_path, per_class=2)
    Image.fromarray(np.zeros((12, 10), np.uint8)).save(tmp_path / "train" / "dog" / "big.png")
    with pytest.raises(DlrunError, match=r"image_folder: .*cat/000\.png is 8x8 but .*dog/big\.png is 12x10; set dataset\.size"):
        ImageFolder(str(tmp_path), val_size=1, test_size=1).setup(torch.device("cpu"))
    data = ImageFolder(str(tmp_path), size=[6, 5], val_size=1, test_size=1)
    data.setup(torch.device("cpu"))
    assert data.meta["input_shape"] == [3, 6, 5]


@pytest.mark.fault("image_folder with a file that is not a readable image", "one-line error naming the file, before training")
def test_unreadable_image_is_named(tmp_path: Path) -> None:
    write_tree(tmp_path, per_class=2)
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DlrunError, match=r"cannot read .*cat/broken\.png as an image"):
        ImageFolder(str(tmp_path), val_size=1, test_size=1).setup(torch.device("cpu"))


def test_cache_skips_decoding_and_state_carries_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, per_class=4)
    first = ImageFolder(str(tmp_path), val_size=1, test_size=1)
    first.setup(torch.device("cpu"))

    def no_decoding(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("decoded again although the cache matches")

    monkeypatch.setattr(image_folder_module, "decode_image", no_decoding)
    second = ImageFolder(str(tmp_path), val_size=1, test_size=1)
    second.setup(torch.device("cpu"))
    assert torch.equal(second.split_tensors("train")[0], first.split_tensors("train")[0])
    blank = ImageFolder(str(tmp_path / "nowhere"))
    blank.load_state_dict(first.state_dict())
    assert blank.meta["class_names"] == ["cat", "dog"] and blank.meta["input_shape"] == [3, 8, 8]
    assert blank.meta["mean"] == first.meta["mean"]


def test_missing_train_folder(tmp_path: Path) -> None:
    with pytest.raises(DlrunError, match=r"image_folder: no .*/train folder"):
        ImageFolder(str(tmp_path)).setup(torch.device("cpu"))


def test_trains_from_the_command_line(train_run, tmp_path: Path) -> None:
    write_tree(tmp_path / "imgs", per_class=12)
    code, run = train_run("dataset=image_folder", f"dataset.root={tmp_path / 'imgs'}", "model=cnn", "model.channels=[4]", "model.fc=[8]",
                          "dataset.val_size=4", "dataset.test_size=4", "dataset.batch_size=8")
    assert code == 0
    import json
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "completed" and "test" in results
