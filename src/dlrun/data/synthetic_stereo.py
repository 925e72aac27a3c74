"""Synthetic rectified stereo pairs with known dense disparity, written in the KITTI 2015 layout, so
the whole stereo pipeline runs offline.

A scene is a slanted background plane and a few planar objects (ellipses and rectangles) in front
of it, each with its own texture fixed to the surface. Both views are rendered exactly from the
planes; the ground truth keeps only left pixels whose surface point is visible in the right view
(occluded and out-of-view pixels are 0, as in KITTI's disp_noc).

Run `python -m dlrun.data.synthetic_stereo OUT_DIR` to write a data set by hand.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dlrun.data.kitti_stereo import KittiStereo
from dlrun.data.stereo_io import write_disparity, write_image

MANIFEST = "synthetic_stereo.json"


@dataclass
class SceneSpec:
    """What the generator makes; stored next to the files so a changed spec regenerates them."""

    num_pairs: int = 40
    height: int = 128
    width: int = 384
    min_disparity: float = 2.0
    max_disparity: float = 40.0
    max_objects: int = 4
    noise: float = 0.02
    seed: int = 0


@dataclass
class Plane:
    """d(x, y) = a + b * x + c * y (x, y in left-image pixels), inside a region (or everywhere)."""

    a: float
    b: float
    c: float
    shape: str = "all"  # all | ellipse | rect
    cx: float = 0.0
    cy: float = 0.0
    rx: float = 1.0
    ry: float = 1.0

    def disparity(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * x + self.c * y

    def covers(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.shape == "ellipse":
            return ((x - self.cx) / self.rx) ** 2 + ((y - self.cy) / self.ry) ** 2 <= 1
        if self.shape == "rect":
            return ((x - self.cx).abs() <= self.rx) & ((y - self.cy).abs() <= self.ry)
        return torch.ones_like(x, dtype=torch.bool)

    def left_x(self, xr: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The left-image column whose surface point projects to right-image column xr (xr = x - d)."""
        return (xr + self.a + self.c * y) / (1 - self.b)


def random_planes(spec: SceneSpec, g: torch.Generator) -> list[Plane]:
    """Background (far, tilted like a ground plane) then objects nearer than anything behind them."""
    h, w, lo, hi = spec.height, spec.width, spec.min_disparity, spec.max_disparity

    def u(a: float, b: float) -> float:
        return a + (b - a) * float(torch.rand((), generator=g))

    span = hi - lo
    background_top = u(lo, lo + 0.25 * span)
    rise = u(0.0, 0.2 * span)  # disparity grows towards the bottom rows
    planes = [Plane(a=background_top, b=u(-0.01, 0.01) * span / 40, c=rise / h)]
    for _ in range(int(torch.randint(1, spec.max_objects + 1, (), generator=g))):
        rx, ry = u(0.06, 0.2) * w, u(0.15, 0.4) * h
        cx, cy = u(0.1, 0.9) * w, u(0.25, 0.85) * h
        b, c = u(-0.03, 0.03) * span / 40, u(-0.05, 0.05) * span / 40
        base = u(lo + 0.35 * span, hi - 0.1 * span)
        planes.append(Plane(a=base - b * cx - c * cy, b=b, c=c, shape="ellipse" if torch.rand((), generator=g) < 0.5 else "rect",
                            cx=cx, cy=cy, rx=rx, ry=ry))
    return planes


def random_texture(height: int, width: int, g: torch.Generator) -> torch.Tensor:
    """(3, H, W) texture in [0, 1]: coarse colour blobs plus fine, slightly smoothed grain."""
    coarse = F.interpolate(torch.rand(1, 3, height // 8 + 2, width // 8 + 2, generator=g), size=(height, width), mode="bilinear", align_corners=True)
    fine = F.avg_pool2d(torch.rand(1, 3, height + 2, width + 2, generator=g), 3, stride=1)
    base = torch.rand(1, 3, 1, 1, generator=g)
    texture = 0.35 * base + 0.35 * coarse + 0.6 * (fine - 0.5) + 0.15
    return texture[0].clamp(0, 1)


def sample_texture(texture: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear texture values (3, H, W) at left-image coordinates (x, y) of the surface."""
    _, th, tw = texture.shape
    grid = torch.stack([2 * x / (tw - 1) - 1, 2 * y / (th - 1) - 1], dim=-1)[None]
    return F.grid_sample(texture[None], grid, mode="bilinear", padding_mode="border", align_corners=True)[0]


def render_pair(spec: SceneSpec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(left, right) uint8 (H, W, 3) and the non-occluded disparity (H, W) float, 0 = none."""
    h, w = spec.height, spec.width
    planes = random_planes(spec, g)
    margin = int(spec.max_disparity * 1.5) + 4  # surface points seen by the right camera lie right of x
    textures = [random_texture(h, w + margin, g) for _ in planes]
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")

    def render(view: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        depth = torch.full((h, w), -1.0)
        front = torch.zeros(h, w, dtype=torch.long)
        image = torch.zeros(3, h, w)
        for k, (plane, texture) in enumerate(zip(planes, textures)):
            px = x if view == "left" else plane.left_x(x, y)  # the surface point seen at this pixel
            d = plane.disparity(px, y)
            wins = plane.covers(px, y) & (d > depth)
            depth = torch.where(wins, d, depth)
            front = torch.where(wins, k, front)
            image = torch.where(wins, sample_texture(texture, px, y), image)
        return image, depth, front

    left, disparity, left_front = render("left")
    right, _, right_front = render("right")
    gain = 1.0 + 0.1 * (torch.rand((), generator=g) - 0.5)  # a small exposure difference between cameras
    right = right * gain
    left = left + spec.noise * torch.randn(left.shape, generator=g)
    right = right + spec.noise * torch.randn(right.shape, generator=g)
    xr = torch.round(x - disparity).long()
    inside = xr >= 0
    seen = right_front.gather(1, xr.clamp(0, w - 1)) == left_front
    ground_truth = torch.where(inside & seen, disparity, torch.zeros_like(disparity))

    def to_uint8(image: torch.Tensor) -> torch.Tensor:
        return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)

    return to_uint8(left), to_uint8(right), ground_truth


def generate(root: Path, spec: SceneSpec) -> None:
    """Write spec.num_pairs pairs as <root>/training/{image_2,image_3,disp_noc_0}/NNNNNN_10.png."""
    g = torch.Generator().manual_seed(spec.seed)
    training = root / "training"
    for i in range(spec.num_pairs):
        left, right, disparity = render_pair(spec, g)
        name = f"{i:06d}_10.png"
        write_image(training / "image_2" / name, left)
        write_image(training / "image_3" / name, right)
        write_disparity(training / "disp_noc_0" / name, disparity)
    (root / MANIFEST).write_text(json.dumps(asdict(spec), indent=1))


def ensure_generated(root: Path, spec: SceneSpec) -> None:
    """Generate the data set unless `root` already holds one made from the same spec."""
    manifest = root / MANIFEST
    if manifest.is_file():
        try:
            if json.loads(manifest.read_text()) == asdict(spec):
                return
        except (OSError, json.JSONDecodeError):
            pass
    generate(root, spec)


class SyntheticStereo(KittiStereo):
    """KITTI-2015-layout synthetic stereo: generated into root/synthetic_stereo on first use (and
    whenever the generator settings change), then read by the real KITTI reader. `seed` draws
    the scenes and the image split."""

    folder = "synthetic_stereo"

    def __init__(self, root: str | None = None, num_pairs: int = 40, height: int = 128, width: int = 384,
                 min_disparity: float = 2.0, max_disparity: float = 40.0, max_objects: int = 4, noise: float = 0.02,
                 seed: int = 0, **kitti: Any) -> None:
        if num_pairs < 2 or height < 16 or width < 16:
            raise ValueError(f"need num_pairs >= 2 and images of at least 16x16, got {num_pairs} pairs of {height}x{width}")
        if not 0 < min_disparity < max_disparity < width / 2:
            raise ValueError(f"need 0 < min_disparity < max_disparity < width / 2, got {min_disparity}, {max_disparity}")
        if max_objects < 0 or noise < 0:
            raise ValueError("max_objects and noise must be >= 0")
        super().__init__(root=root, layout="2015", seed=seed, **kitti)
        self.spec = SceneSpec(num_pairs, height, width, min_disparity, max_disparity, max_objects, noise, seed)

    def setup(self, device: torch.device) -> None:
        ensure_generated(self.root / self.folder, self.spec)
        super().setup(device)


def main(argv: list[str]) -> int:
    """`python -m dlrun.data.synthetic_stereo OUT_DIR [num_pairs]`."""
    if not argv:
        print("usage: python -m dlrun.data.synthetic_stereo OUT_DIR [NUM_PAIRS]", file=sys.stderr)
        return 2
    spec = SceneSpec(num_pairs=int(argv[1]) if len(argv) > 1 else SceneSpec.num_pairs)
    generate(Path(argv[0]), spec)
    print(f"wrote {spec.num_pairs} synthetic pairs in the KITTI 2015 layout to {argv[0]}/training")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
