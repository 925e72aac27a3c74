"""KITTI's 16-bit PNG disparity format: exact round trip, header bit depth, wrong files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dlrun.data.stereo_io import read_disparity, read_image, write_disparity, write_image
from dlrun.errors import DlrunError


def test_disparity_round_trip_is_exact_in_steps_of_1_256(tmp_path: Path) -> None:
    disparity = torch.tensor([[0.0, 1 / 256, 3.25], [100.5, 255.99609375, 0.0]])
    path = tmp_path / "000000_10.png"
    write_disparity(path, disparity)
    header = path.read_bytes()
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert header[24] == 16 and header[25] == 0  # IHDR: bit depth 16, grayscale
    read = read_disparity(path)
    assert read.dtype == torch.float32 and torch.equal(read, disparity)
    assert (read == 0).sum() == 2  # 0 = no ground truth survives


def test_disparity_reads_a_png_written_by_another_library(tmp_path: Path) -> None:
    from PIL import Image

    raw = np.array([[0, 256 * 7 + 128, 65535]], dtype=np.uint16)  # 7.5 px and the largest value
    Image.fromarray(raw).save(tmp_path / "d.png")
    assert read_disparity(tmp_path / "d.png").tolist() == [[0.0, 7.5, 65535 / 256]]


def test_8bit_png_is_not_a_disparity_map(tmp_path: Path) -> None:
    write_image(tmp_path / "gray.png", torch.zeros(4, 5, 1, dtype=torch.uint8))
    with pytest.raises(DlrunError, match="not a 16-bit disparity PNG"):
        read_disparity(tmp_path / "gray.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DlrunError, match="cannot read image .*broken.png"):
        read_disparity(tmp_path / "broken.png")


def test_images_colour_and_gray(tmp_path: Path) -> None:
    rgb = torch.randint(0, 256, (6, 7, 3), dtype=torch.uint8)
    write_image(tmp_path / "c.png", rgb)
    assert torch.equal(read_image(tmp_path / "c.png", color=True), rgb)
    gray = read_image(tmp_path / "c.png", color=False)
    assert gray.shape == (6, 7, 1)
    expected = (rgb.double() @ torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)).round()  # ITU-R 601 luma
    assert (gray[..., 0].double() - expected).abs().max() <= 1
    write_image(tmp_path / "g.png", gray)
    with pytest.raises(DlrunError, match="colour input was asked for"):
        read_image(tmp_path / "g.png", color=True)
