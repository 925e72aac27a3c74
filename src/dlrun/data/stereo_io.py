"""Reading and writing KITTI stereo files: 8-bit PNG images and 16-bit PNG disparity maps
(value / 256 = disparity in pixels, 0 = no ground truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlrun.errors import DlrunError

DISPARITY_SCALE = 256.0


def _open(path: Path):  # noqa: ANN202 - a PIL image
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
        return image
    except FileNotFoundError as err:
        raise DlrunError(f"file not found: {path}") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DlrunError(f"cannot read image {path}: corrupt or not a PNG ({err})") from err


def read_image(path: Path, color: bool) -> torch.Tensor:
    """(H, W, C) uint8: RGB when `color`, else one luminance channel (a colour file is converted)."""
    image = _open(path)
    if color and image.mode not in ("RGB", "RGBA", "P"):
        raise DlrunError(f"{path} is a {image.mode} image but colour input was asked for (dataset.color=true)")
    array = np.asarray(image.convert("RGB" if color else "L"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).reshape(array.shape[0], array.shape[1], -1)


def read_disparity(path: Path) -> torch.Tensor:
    """(H, W) float32 disparity in pixels from a KITTI 16-bit PNG; 0 where there is no ground truth."""
    image = _open(path)
    array = np.asarray(image)
    if image.mode not in ("I;16", "I;16B", "I;16L", "I") or array.dtype not in (np.uint16, np.int32, np.dtype(">u2"), np.dtype("<u2")):
        raise DlrunError(f"{path} is not a 16-bit disparity PNG (PIL mode {image.mode}); KITTI disparities are uint16 PNG files")
    return torch.from_numpy(array.astype(np.float32) / DISPARITY_SCALE)


def write_disparity(path: Path, disparity: torch.Tensor) -> None:
    """Save (H, W) disparities as a KITTI 16-bit PNG: round(d * 256), 0 = no ground truth."""
    from PIL import Image

    scaled = (disparity.detach().cpu().double() * DISPARITY_SCALE).round().clamp(0, 65535)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(scaled.numpy().astype(np.uint16)).save(path, format="PNG")


def write_image(path: Path, image: torch.Tensor) -> None:
    """Save an (H, W, C) uint8 tensor (C = 1 or 3) as an 8-bit PNG."""
    from PIL import Image

    array = image.detach().cpu().numpy().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path, format="PNG")
