"""Raw user inputs for `dlrun predict`, preprocessed exactly as in training: image files (decoded,
brought to the dataset's channels and size, normalised with the training statistics) and lines of
text (tokenised and numbered with the checkpoint's vocabulary)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from dlrun.errors import DlrunError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def image_files(folder: Path) -> list[Path]:
    """Image files of a folder, by name (suffix case ignored)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_error(path: Path, what: str, err: BaseException) -> DlrunError:
    """The one-line error for an input that cannot be read."""
    detail = str(err).splitlines()[0] if str(err) else type(err).__name__
    return DlrunError(f"cannot read {path} as {what} ({detail})")


def decode_image(path: Path, mode: str, size: tuple[int, int] | None) -> torch.Tensor:
    """One image as uint8 (C, H, W) in PIL `mode` (L or RGB), resized (bilinear) to `size` = (H, W)."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as err:
        raise read_error(path, "an image", err) from err
    return torch.from_numpy(array.copy()).reshape(array.shape[0], array.shape[1], -1).permute(2, 0, 1)


def image_inputs(source: Path, input_shape: Sequence[int], mean: Sequence[float], std: Sequence[float]) -> tuple[list[str], torch.Tensor]:
    """(names, float batch (N, C, H, W)) for an image file or a folder of them."""
    files = [source] if source.is_file() else image_files(source)
    if not files:
        raise DlrunError(f"no image files in {source} ({', '.join(IMAGE_SUFFIXES)})")
    c, h, w = (int(v) for v in input_shape)
    images = torch.stack([decode_image(p, "RGB" if c == 3 else "L", (h, w)) for p in files])
    scale = torch.tensor([1.0 / (255.0 * s) for s in std]).reshape(1, -1, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(mean, std)]).reshape(1, -1, 1, 1)
    return [str(p) for p in files], torch.addcmul(shift, images.float(), scale)


def text_lines(source: Path) -> list[str]:
    """Inputs of a text file (one per line, blank lines skipped) or a CSV (its `text` column, else the first)."""
    if not source.is_file():
        raise DlrunError(f"{source} is not a file: give a text file with one input per line, or a CSV with a 'text' column")
    try:
        content = source.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise read_error(source, "UTF-8 text", err) from err
    if source.suffix.lower() == ".csv":
        rows = list(csv.reader(content.splitlines()))
        if not rows:
            raise DlrunError(f"{source} holds no rows")
        column = rows[0].index("text") if "text" in rows[0] else 0
        body = rows[1:] if "text" in rows[0] else rows
        return [row[column] for row in body if len(row) > column and row[column].strip()]
    return [line for line in content.splitlines() if line.strip()]


def text_inputs(source: Path, encode: Callable[[str], list[int]]) -> tuple[list[str], tuple[torch.Tensor, torch.Tensor]]:
    """(the texts, (padded token ids (N, T), lengths (N,))) with `encode` = tokenise + vocabulary."""
    texts = text_lines(source)
    if not texts:
        raise DlrunError(f"{source} holds no inputs")
    ids = [encode(text) or [0] for text in texts]
    lengths = torch.tensor([len(i) for i in ids])
    tokens = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
    for row, sequence in enumerate(ids):
        tokens[row, : len(sequence)] = torch.tensor(sequence)
    return texts, (tokens, lengths)
