"""Your own images in torchvision's ImageFolder layout: root/train/<class>/*.png, optional root/val/
and root/test/ (missing splits are drawn from train with `seed`). Decoded once into uint8 tensors and
cached like MNIST/CIFAR-10, so training runs at the same speed; class names come from the folders."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from dlrun.data.augment import AugmentOptions, ImageTransform
from dlrun.data.image_cache import load_cache, save_cache, source_signature
from dlrun.data.images import ImageClassificationData
from dlrun.data.raw_inputs import IMAGE_SUFFIXES, decode_image, image_files, read_error
from dlrun.data.splits import Size, check_size, holdout
from dlrun.errors import DlrunError

GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def scan_split(folder: Path, class_names: Sequence[str] | None) -> tuple[list[Path], list[int], list[str]]:
    """(files, labels, class names) of one split folder; classes are its sub-folders, sorted, unless
    `class_names` (the train split's) are given, which val/test folders must stay within."""
    found = sorted(d.name for d in folder.iterdir() if d.is_dir())
    names = list(class_names) if class_names is not None else found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DlrunError(f"image_folder: {folder} has class folders that train/ lacks: {', '.join(unknown)}")
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        if (folder / name).is_dir():
            batch = image_files(folder / name)
            files += batch
            labels += [label] * len(batch)
    return files, labels, names


def inspect_headers(files: Sequence[Path]) -> tuple[bool, dict[tuple[int, int], Path]]:
    """(any file in colour, one file per distinct (H, W)) from the headers alone (no decoding)."""
    from PIL import Image

    colour, sizes = False, {}
    for path in files:
        try:
            with Image.open(path) as image:
                colour = colour or image.mode not in GREY_MODES
                sizes.setdefault((image.size[1], image.size[0]), path)
        except (OSError, ValueError, SyntaxError) as err:
            raise read_error(path, "an image", err) from err
    return colour, sizes


class ImageFolder(ImageClassificationData):
    """dataset=image_folder: greyscale and RGB files are brought to one channel count (`channels`,
    null: 3 if any file is in colour), and to one size (`size` [H, W]; null: all files must agree)."""

    name = "image_folder"
    default_val_split = "random"

    def __init__(
        self,
        root: str,
        size: int | Sequence[int] | None = None,
        channels: int | None = None,
        val_size: Size = 0.1,
        test_size: Size = 0.1,
        seed: int = 0,
        normalize: str | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 500,
        drop_last: bool = False,
        augment: AugmentOptions | None = None,
        cache: bool = True,
        train_subset: int | None = None,
    ) -> None:
        super().__init__(root=root, download=False, val_size=val_size, val_split="random", seed=seed, normalize=normalize,
                         batch_size=batch_size, eval_batch_size=eval_batch_size, drop_last=drop_last, augment=augment,
                         cache=cache, search_dirs=[], train_subset=train_subset)
        check_size("test_size", test_size)
        if channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1, 3 or null, got {channels}")
        sizes = [size, size] if isinstance(size, int) else (list(size) if size is not None else None)
        if sizes is not None and (len(sizes) != 2 or min(int(s) for s in sizes) < 1):
            raise ValueError(f"size must be one positive int or [H, W], got {size}")
        self.size = (int(sizes[0]), int(sizes[1])) if sizes else None
        self.channels = channels
        self.test_size = test_size
        self.class_names: tuple[str, ...] = ()
        # known only once the folder is read: the pre-flight check builds the model from stand-ins
        for key in ("in_channels", "image_size", "input_shape", "in_features", "num_classes", "class_names"):
            self.meta.pop(key, None)
        c, (h, w) = channels or 3, self.size or (32, 32)
        self.preflight_meta = {"in_channels": c, "image_size": [h, w], "input_shape": [c, h, w], "in_features": c * h * w,
                               "num_classes": 2, "class_names": ["a", "b"]}

    def split_dirs(self) -> dict[str, Path]:
        """The split folders present under root (train is required)."""
        if not (self.root / "train").is_dir():
            raise DlrunError(f"image_folder: no {self.root / 'train'} folder (expected {self.root}/train/<class>/<image> "
                             "and optionally val/ and test/ beside it)")
        return {s: self.root / s for s in ("train", "val", "test") if (self.root / s).is_dir()}

    def load_arrays(self) -> dict[str, torch.Tensor]:
        """uint8 images and labels of each present split: from the cache when it matches, else decoded."""
        listing: dict[str, tuple[list[Path], list[int]]] = {}
        names = None
        for split, folder in self.split_dirs().items():
            files, labels, names = scan_split(folder, names)
            listing[split] = (files, labels)
        if not listing["train"][0]:
            raise DlrunError(f"image_folder: {self.root / 'train'} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.class_names = tuple(names or ())
        every = [p for files, _ in listing.values() for p in files]
        options = json.dumps([str(self.root.resolve()), self.size, self.channels, self.class_names])
        cache_path = self.root / "dlrun_cache" / f"image_folder-{hashlib.sha256(options.encode()).hexdigest()[:12]}.pt"
        signature = source_signature(every)
        cached = load_cache(cache_path, signature) if self.use_cache else None
        if cached is not None:
            return cached
        colour, sizes = inspect_headers(every)
        if self.size is None and len(sizes) > 1:
            (first, a), (second, b) = list(sizes.items())[:2]
            raise DlrunError(f"image_folder: {a} is {first[0]}x{first[1]} but {b} is {second[0]}x{second[1]}; "
                             "set dataset.size=[H,W] to resize every image to one size")
        mode = "RGB" if (self.channels or (3 if colour else 1)) == 3 else "L"
        arrays = {}
        for split, (files, labels) in listing.items():
            images = [decode_image(p, mode, self.size) for p in files]
            arrays[f"{split}_x"] = torch.stack(images) if images else torch.empty(0, 3 if mode == "RGB" else 1, *(self.size or (1, 1)), dtype=torch.uint8)
            arrays[f"{split}_y"] = torch.tensor(labels, dtype=torch.long)
        if self.use_cache:
            save_cache(cache_path, arrays, signature)
        return arrays

    def setup(self, device: torch.device) -> None:
        arrays = self.load_arrays()
        train_x, train_y = arrays["train_x"], arrays["train_y"]
        drawn = {k: v for k, v in (("test_size", self.test_size), ("val_size", self.val_size)) if f"{k[:-5]}_x" not in arrays}
        parts = holdout(len(train_x), drawn, self.seed, self.name, items="images") if drawn else {"rest": torch.arange(len(train_x))}
        train_idx = parts["rest"][: self.train_subset] if self.train_subset else parts["rest"]
        splits = {"train": (train_x[train_idx], train_y[train_idx])}
        for split in ("val", "test"):
            splits[split] = (arrays[f"{split}_x"], arrays[f"{split}_y"]) if f"{split}_x" in arrays else (
                train_x[parts[f"{split}_size"]], train_y[parts[f"{split}_size"]])
        c, h, w = train_x.shape[1:]
        mean, std = self.statistics(splits["train"][0])
        self.image_shape = (int(c), int(h), int(w))
        self.meta.update({"in_channels": int(c), "image_size": [int(h), int(w)], "input_shape": [int(c), int(h), int(w)],
                          "in_features": int(c * h * w), "num_classes": len(self.class_names),
                          "class_names": list(self.class_names), "mean": mean, "std": std,
                          "split_sizes": {k: len(v[1]) for k, v in splits.items()}})
        self.splits = {k: (x.contiguous().to(device), y.to(device)) for k, (x, y) in splits.items()}
        self.train_transform = ImageTransform(mean, std, **self.augment).to(device)
        self.eval_transform = ImageTransform(mean, std).to(device)
