"""KITTI stereo (2012 and 2015 layouts) for patch-based matching: an 80/20 image split, patch
triplets for training, whole images for dense evaluation.

KITTI needs registration, so nothing is downloaded: put the unpacked 'training' folder under
dataset.root/kitti (see MISSING_HELP).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dlrun.data.base import BaseData, pick_split
from dlrun.data.files import data_root, first_dir
from dlrun.data.keys import check_batch_sizes
from dlrun.data.splits import Size, check_size, holdout
from dlrun.data.stereo_io import read_disparity, read_image
from dlrun.data.stereo_patches import StereoImages, StereoPatchBatches
from dlrun.errors import DlrunError

# layout -> (left image folders, right image folders, disparity folder); the first existing one wins
LAYOUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "2012": (("colored_0", "image_0"), ("colored_1", "image_1"), "disp_noc"),
    "2015": (("image_2",), ("image_3",), "disp_noc_0"),
}
GRAY_2012 = ("image_0", "image_1")
MISSING_HELP = (
    "KITTI stereo needs registration at cvlibs.net, so dlrun cannot download it. Unpack "
    "data_stereo_flow.zip (2012: training/colored_0, colored_1 or image_0, image_1, disp_noc) or "
    "data_scene_flow.zip (2015: training/image_2, image_3, disp_noc_0) so that <root>/kitti/training/ "
    "holds those folders (dataset.root, default $DLRUN_DATA_DIR or data). Offline alternative: dataset=synthetic_stereo"
)


def has_disparity(folder: Path) -> bool:
    """Whether `folder` holds a KITTI disparity folder (2012 or 2015)."""
    return any((folder / disp).is_dir() for _, _, disp in LAYOUTS.values())


def find_training_dir(root: Path, folder: str = "kitti") -> Path:
    """The first of <root>/<folder>/training, <root>/<folder>, <root>/training and root that holds the KITTI folders."""
    candidates = [root / folder / "training", root / folder, root / "training", root]
    found = first_dir(candidates, has_disparity)
    if found is None:
        raise DlrunError(f"no KITTI stereo data under {root} (no disp_noc or disp_noc_0 folder in {', '.join(map(str, candidates))}). {MISSING_HELP}")
    return found


def detect_layout(training: Path, layout: str) -> str:
    if layout != "auto":
        if not (training / LAYOUTS[layout][2]).is_dir():
            raise DlrunError(f"dataset.layout={layout} but {training / LAYOUTS[layout][2]} does not exist. {MISSING_HELP}")
        return layout
    return "2015" if (training / LAYOUTS["2015"][2]).is_dir() else "2012"


def image_folders(training: Path, layout: str, color: bool) -> tuple[Path, Path]:
    """The left and right image folders: colour or gray (2012 has native gray image_0/image_1)."""
    lefts, rights, _ = LAYOUTS[layout]
    if layout == "2012" and not color and all((training / f).is_dir() for f in GRAY_2012):
        return training / GRAY_2012[0], training / GRAY_2012[1]
    for left, right in zip(lefts, rights):
        if left in GRAY_2012 and color:
            continue
        if (training / left).is_dir() and (training / right).is_dir():
            return training / left, training / right
    wanted = " and ".join(f"{a}/{b}" for a, b in zip(lefts, rights) if not (color and a in GRAY_2012))
    raise DlrunError(f"KITTI {layout}: no {wanted} image folders in {training}{' for colour input' if color else ''}. {MISSING_HELP}")


class KittiStereo(BaseData):
    """Rectified pairs with 16-bit disparity ground truth, split 80/20 by image with `seed`.

    Splits: 'train' (patch triplets), 'val' and 'test' (fixed patch triplets of the held-out
    images: the patch loss; the tasks evaluate dense disparity on `dense_pairs(split)`). KITTI's
    own test set has no public ground truth, so 'test' is the held-out 20% as in the lecture.
    """

    folder = "kitti"  # the dataset's folder under root

    def __init__(
        self,
        root: str | None = None,
        layout: str = "auto",
        color: bool = False,
        val_size: Size = 0.2,
        seed: int = 0,
        patch_size: int = 9,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        batches_per_epoch: int = 1000,
        val_batches: int = 20,
        pos_jitter: int = 1,
        neg_low: int = 4,
        neg_high: int = 10,
        max_images: int | None = None,
    ) -> None:
        if layout not in ("auto", *LAYOUTS):
            raise ValueError(f"unknown layout '{layout}' (valid: auto, {', '.join(LAYOUTS)})")
        check_size("val_size", val_size)
        if patch_size < 1 or patch_size % 2 == 0:
            raise ValueError(f"patch_size must be odd, got {patch_size}")
        check_batch_sizes(batch_size, eval_batch_size)
        if batches_per_epoch < 1 or val_batches < 1:
            raise ValueError("batches_per_epoch and val_batches must be >= 1")
        if pos_jitter < 0 or not 0 < neg_low <= neg_high:
            raise ValueError(f"need pos_jitter >= 0 and 0 < neg_low <= neg_high, got {pos_jitter}, {neg_low}, {neg_high}")
        if neg_low <= pos_jitter:
            raise ValueError(f"neg_low ({neg_low}) must exceed pos_jitter ({pos_jitter}): negatives must differ from positives")
        if max_images is not None and max_images < 2:
            raise ValueError(f"max_images must be >= 2 or null, got {max_images}")
        self.root = data_root(root)
        self.layout = layout
        self.color = color
        self.val_size = val_size
        self.seed = seed
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.batches_per_epoch = batches_per_epoch
        self.val_batches = val_batches
        self.pos_jitter = pos_jitter
        self.neg_low = neg_low
        self.neg_high = neg_high
        self.max_images = max_images
        self.meta: dict[str, Any] = {"in_channels": 3 if color else 1, "patch_size": patch_size}
        self.images: StereoImages | None = None
        self.split_ids: dict[str, torch.Tensor] = {}
        self.names: list[str] = []

    def files(self) -> list[tuple[Path, Path, Path]]:
        """(left, right, disparity) paths of every pair with ground truth, sorted by name."""
        training = find_training_dir(self.root, self.folder)
        layout = detect_layout(training, self.layout)
        left_dir, right_dir = image_folders(training, layout, self.color)
        disp_files = sorted((training / LAYOUTS[layout][2]).glob("*.png"))
        if not disp_files:
            raise DlrunError(f"no disparity PNG files in {training / LAYOUTS[layout][2]}. {MISSING_HELP}")
        triples = []
        for disp in disp_files:
            left, right = left_dir / disp.name, right_dir / disp.name
            for path in (left, right):
                if not path.is_file():
                    raise DlrunError(f"{disp} has no matching image {path}")
            triples.append((left, right, disp))
        return triples[: self.max_images] if self.max_images else triples

    def setup(self, device: torch.device) -> None:
        triples = self.files()
        if len(triples) < 2:
            raise DlrunError(f"KITTI stereo: need at least 2 image pairs, found {len(triples)} under {self.root}")
        lefts, rights, disps = [], [], []
        for left, right, disp in triples:
            lefts.append(read_image(left, self.color))
            rights.append(read_image(right, self.color))
            disps.append(read_disparity(disp))
            shapes = {tuple(lefts[-1].shape[:2]), tuple(rights[-1].shape[:2]), tuple(disps[-1].shape)}
            if len(shapes) != 1:
                raise DlrunError(f"{disp.name}: left image, right image and disparity differ in size ({sorted(shapes)})")
            if min(lefts[-1].shape[:2]) < self.patch_size:
                raise DlrunError(f"{left} is smaller than a {self.patch_size}x{self.patch_size} patch")
        self.names = [d.name for _, _, d in triples]
        self.images = stack_pairs(lefts, rights, disps, device)
        parts = holdout(len(triples), {"val_size": self.val_size}, self.seed, type(self).__name__, items="image pairs")
        self.split_ids = {"train": parts["rest"], "val": parts["val_size"], "test": parts["val_size"]}

    def image_ids(self, split: str) -> torch.Tensor:
        """Indices of the image pairs of `split`; UnknownSplit for an unknown one."""
        assert self.images is not None, "setup() first"
        return pick_split(self.split_ids, split, type(self).__name__)

    def loader(self, split: str, train: bool = False) -> StereoPatchBatches:
        ids = self.image_ids(split)
        if split == "train" and train:
            size, count, seed = self.batch_size, self.batches_per_epoch, self.seed
        else:  # fixed: the same batches every time
            size, count, seed = self.eval_batch_size, self.val_batches, self.seed + 1
        assert self.images is not None
        return StereoPatchBatches(self.images, ids, size, count, self.patch_size, self.pos_jitter, self.neg_low, self.neg_high, seed=seed)

    def dense_pairs(self, split: str, limit: int | None = None) -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(name, left (1, C, h, w), right, disparity (h, w)) of up to `limit` images of a split,
        normalized to zero mean and unit variance per image."""
        ids = self.image_ids(split).tolist()[: limit or None]
        assert self.images is not None
        pairs = []
        for n in ids:
            h, w = (int(v) for v in self.images.sizes[n])
            pairs.append((self.names[n], self.images.normalized("left", n), self.images.normalized("right", n),
                          self.images.disparity[n, :h, :w]))
        return pairs

    def state_dict(self) -> dict[str, Any]:
        return {}


def image_stats(image: torch.Tensor) -> torch.Tensor:
    """(mean, std) over all pixels and channels of one uint8 image (std floored to avoid /0)."""
    values = image.double()
    return torch.stack([values.mean(), values.std().clamp_min(1e-3)]).float()


def stack_pairs(lefts: list[torch.Tensor], rights: list[torch.Tensor], disps: list[torch.Tensor], device: torch.device) -> StereoImages:
    """Pad the pairs (they differ slightly in size in KITTI) into one tensor per side."""
    sizes = torch.tensor([list(x.shape[:2]) for x in lefts], dtype=torch.long)
    height, width = int(sizes[:, 0].max()), int(sizes[:, 1].max())
    channels = lefts[0].shape[2]
    left = torch.zeros(len(lefts), height, width, channels, dtype=torch.uint8)
    right = torch.zeros_like(left)
    disparity = torch.zeros(len(lefts), height, width)
    for i, (lft, rgt, dsp) in enumerate(zip(lefts, rights, disps)):
        h, w = lft.shape[:2]
        left[i, :h, :w], right[i, :h, :w], disparity[i, :h, :w] = lft, rgt, dsp
    return StereoImages(
        left=left.to(device), right=right.to(device),
        left_stats=torch.stack([image_stats(x) for x in lefts]).to(device),
        right_stats=torch.stack([image_stats(x) for x in rights]).to(device),
        disparity=disparity.to(device), sizes=sizes,
    )
