"""Image datasets: file lookup, splits, normalization statistics, the uint8 cache, and the errors a
user sees when files are missing or the download fails."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from dlrun.data.cifar10 import CIFAR10
from dlrun.data.fashion_mnist import FashionMNIST
from dlrun.data.images import pixel_statistics
from dlrun.data.mnist import MNIST
from dlrun.errors import DlrunError
from image_files import write_cifar_archive, write_cifar_folder, write_mnist

CPU = torch.device("cpu")


def mnist(tmp_path: Path, **kwargs) -> MNIST:  # type: ignore[no-untyped-def]
    write_mnist(tmp_path / "MNIST" / "raw", n_train=40, n_test=30)
    return MNIST(root=str(tmp_path), download=False, val_size=8, **kwargs)


def test_mnist_tail_split_and_scalar_mean(tmp_path: Path) -> None:
    data = mnist(tmp_path, normalize="scalar")
    data.setup(CPU)
    assert data.meta["split_sizes"] == {"train": 32, "val": 8, "test": 30}
    # Image i has every pixel (i % 4) * 60; train = images 0..31 (8 each of 0, 60, 120, 180).
    assert data.meta["mean"] == [pytest.approx(90 / 255)] and data.meta["std"] == [1.0]
    val_x, val_y = data.splits["val"]
    assert val_y.tolist() == [i % 10 for i in range(32, 40)]  # validation = the last 8 training images
    assert val_x[:, 0, 0, 0].tolist() == [(i % 4) * 60 for i in range(32, 40)]
    x, y = next(iter(data.loader("val")))
    assert x.dtype == torch.float32 and x.shape == (8, 1, 28, 28)
    assert x[1, 0, 5, 5].item() == pytest.approx((60 - 90) / 255)  # image 33: x / 255 - mean


def test_channel_statistics_come_from_the_train_split_only(tmp_path: Path) -> None:
    data = mnist(tmp_path, normalize="channel")
    data.setup(CPU)
    # Pixel values 0, 60, 120, 180 equally often: mean 90, population variance (90^2 + 30^2) / 2 = 4500.
    assert data.meta["mean"][0] == pytest.approx(90 / 255)
    assert data.meta["std"][0] == pytest.approx(math.sqrt(4500) / 255)
    x = torch.cat([b[0] for b in data.loader("train")])
    assert x.mean().item() == pytest.approx(0.0, abs=1e-5) and x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)


def test_pixel_statistics_match_numpy_per_channel() -> None:
    images = torch.randint(0, 256, (7, 3, 5, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = pixel_statistics(images)
    arr = images.numpy().astype(np.float64) / 255
    assert mean == pytest.approx(arr.mean(axis=(0, 2, 3)).tolist(), rel=1e-12)
    assert std == pytest.approx(arr.std(axis=(0, 2, 3)).tolist(), rel=1e-12)


def test_train_subset_takes_the_first_images(tmp_path: Path) -> None:
    data = mnist(tmp_path, train_subset=5)
    data.setup(CPU)
    assert data.meta["split_sizes"] == {"train": 5, "val": 8, "test": 30}
    assert data.splits["train"][1].tolist() == [0, 1, 2, 3, 4]


def test_uncompressed_files_and_search_dirs(tmp_path: Path) -> None:
    write_mnist(tmp_path / "elsewhere", compress=False)
    data = MNIST(root=str(tmp_path / "empty"), download=False, val_size=8, search_dirs=[str(tmp_path / "elsewhere")])
    data.setup(CPU)
    assert len(data.splits["test"][0]) == 30


def test_cache_is_written_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = mnist(tmp_path)
    data.setup(CPU)
    cache = tmp_path / "dlrun_cache" / "mnist.pt"
    assert cache.is_file() and not list(cache.parent.glob(".*.tmp"))  # atomic: no temp file left behind
    calls = []
    monkeypatch.setattr(MNIST, "parse", lambda self, sources: calls.append(sources))
    again = MNIST(root=str(tmp_path), download=False, val_size=8)
    again.setup(CPU)
    assert calls == [] and torch.equal(again.splits["train"][0], data.splits["train"][0])


def test_cache_is_rebuilt_when_a_source_file_changes(tmp_path: Path) -> None:
    mnist(tmp_path).setup(CPU)
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw, n_train=50, n_test=30)
    os.utime(raw / "train-images-idx3-ubyte.gz", ns=(1, 1))  # a different mtime even on coarse clocks
    data = MNIST(root=str(tmp_path), download=False, val_size=8)
    data.setup(CPU)
    assert data.meta["split_sizes"]["train"] == 42


@pytest.mark.fault('corrupt decoded-data cache file', 'ignored and rebuilt from the source files')
def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    mnist(tmp_path).setup(CPU)
    (tmp_path / "dlrun_cache" / "mnist.pt").write_bytes(b"garbage")
    data = MNIST(root=str(tmp_path), download=False, val_size=8)
    data.setup(CPU)
    assert data.meta["split_sizes"]["test"] == 30


@pytest.mark.fault('image dataset files missing, download off or offline', 'one-line error naming the expected files and folders')
def test_missing_files_without_download_name_files_and_folders(tmp_path: Path) -> None:
    data = MNIST(root=str(tmp_path), download=False)
    with pytest.raises(DlrunError) as err:
        data.setup(CPU)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert str(tmp_path / "MNIST" / "raw") in message and "dataset.download=false" in message


def test_failed_download_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error
    import urllib.request

    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    data = FashionMNIST(root=str(tmp_path), download=True, search_dirs=[])
    with pytest.raises(DlrunError, match=r"fashion_mnist: cannot find train-images-idx3-ubyte.gz.* in .*FashionMNIST/raw \(download of train-images-idx3-ubyte.gz failed: .*name resolution"):
        data.setup(CPU)
    assert not list((tmp_path / "FashionMNIST" / "raw").glob("*.gz"))  # no partial file left to trip the parser


@pytest.mark.fault('MNIST/Fashion-MNIST source file truncated', 'one-line error naming the file')
def test_truncated_source_file_is_a_clear_error(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw)
    path = raw / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DlrunError, match="t10k-images-idx3-ubyte.gz: corrupt or truncated gzip data"):
        MNIST(root=str(tmp_path), download=False, val_size=8).setup(CPU)


@pytest.mark.fault('MNIST/Fashion-MNIST source file with a wrong magic number', 'one-line error naming the file')
def test_wrong_magic_number_names_the_file(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw)
    (raw / "train-labels-idx1-ubyte.gz").unlink()
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 60)
    with pytest.raises(DlrunError, match=r"train-labels-idx1-ubyte is not an IDX file \(bad magic number 12340801"):
        MNIST(root=str(tmp_path), download=False, val_size=8).setup(CPU)


def test_labels_under_an_images_name_are_refused(tmp_path: Path) -> None:
    from image_files import write_idx

    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw)
    write_idx(raw / "t10k-images-idx3-ubyte", np.zeros(30, np.uint8))
    with pytest.raises(DlrunError, match=r"t10k-images-idx3-ubyte.gz: expected uint8 images \(N, H, W\), found torch.uint8 of shape \[30\]"):
        MNIST(root=str(tmp_path), download=False, val_size=8).setup(CPU)


def test_label_out_of_range_is_an_error(tmp_path: Path) -> None:
    from image_files import write_idx

    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.full(30, 12, np.uint8))
    with pytest.raises(DlrunError, match=r"mnist: test labels must be in 0..9"):
        MNIST(root=str(tmp_path), download=False, val_size=8).setup(CPU)


def test_fashion_mnist_looks_in_the_debian_folder_by_default(tmp_path: Path) -> None:
    import dlrun.data.fashion_mnist as fm

    data = FashionMNIST(root=str(tmp_path), download=False)
    assert data.look_dirs() == [tmp_path / "FashionMNIST" / "raw", Path(fm.DEBIAN_DIR)]
    assert data.meta["class_names"][0] == "T-shirt/top" and data.meta["class_names"][9] == "Ankle boot"


def test_fashion_mnist_prefers_root_over_the_debian_folder(tmp_path: Path) -> None:
    write_mnist(tmp_path / "deb", n_train=40)
    write_mnist(tmp_path / "data" / "FashionMNIST" / "raw", n_train=50)
    data = FashionMNIST(root=str(tmp_path / "data"), download=False, val_size=8, search_dirs=[str(tmp_path / "deb")])
    data.setup(CPU)
    assert data.meta["split_sizes"]["train"] == 42


def test_cifar10_seeded_random_split(tmp_path: Path) -> None:
    arrays = write_cifar_folder(tmp_path, per_batch=10)
    first = CIFAR10(root=str(tmp_path), download=False, val_size=10, seed=3)
    first.setup(CPU)
    second = CIFAR10(root=str(tmp_path), download=False, val_size=10, seed=3, cache=False)
    second.setup(CPU)
    other = CIFAR10(root=str(tmp_path), download=False, val_size=10, seed=4, cache=False)
    other.setup(CPU)
    assert first.meta["split_sizes"] == {"train": 40, "val": 10, "test": 10}
    assert torch.equal(first.splits["val"][0], second.splits["val"][0])
    assert not torch.equal(first.splits["val"][0], other.splits["val"][0])
    # train + val is a permutation of the 50 training images
    all_train = np.concatenate([arrays[f"data_batch_{i}"][0] for i in range(1, 6)])
    together = torch.cat([first.splits["train"][0], first.splits["val"][0]]).numpy()
    assert sorted(map(bytes, together)) == sorted(map(bytes, all_train))
    # per-channel statistics of the 40 train images only
    train = first.splits["train"][0].numpy().astype(np.float64) / 255
    assert first.meta["mean"] == pytest.approx(train.mean(axis=(0, 2, 3)).tolist())
    assert first.meta["std"] == pytest.approx(train.std(axis=(0, 2, 3)).tolist())


def test_cifar10_reads_the_tarball(tmp_path: Path) -> None:
    arrays = write_cifar_archive(tmp_path, per_batch=6)
    data = CIFAR10(root=str(tmp_path), download=False, val_size=5)
    data.setup(CPU)
    assert np.array_equal(data.splits["test"][0].numpy(), arrays["test_batch"][0])


def test_cifar10_missing_files_error(tmp_path: Path) -> None:
    with pytest.raises(DlrunError, match=r"cifar10: cannot find cifar-10-batches-py/\{data_batch_1,.*test_batch\} or cifar-10-python.tar.gz in "):
        CIFAR10(root=str(tmp_path), download=False).setup(CPU)


def test_val_size_larger_than_train_is_an_error(tmp_path: Path) -> None:
    write_mnist(tmp_path / "MNIST" / "raw", n_train=40)
    with pytest.raises(DlrunError, match="val_size 40 leaves no training images"):
        MNIST(root=str(tmp_path), download=False, val_size=40).setup(CPU)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"normalize": "zscore"}, "unknown normalize 'zscore'"),
        ({"val_split": "head"}, "unknown val_split 'head'"),
        ({"augment": {"rotate": 10}}, "unknown augment keys"),
        ({"batch_size": 0}, "batch_size and eval_batch_size must be >= 1"),
    ],
)
def test_bad_arguments_fail_in_the_constructor(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MNIST(**kwargs)


def test_constructor_does_no_io(tmp_path: Path) -> None:
    MNIST(root=str(tmp_path / "nope"), download=True)
    assert not (tmp_path / "nope").exists()


def test_cifar10_failed_download_names_the_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlrun.data import download

    def offline(filename: str, dest_dir: Path, mirrors: list[str], **checksums: str) -> Path:
        raise DlrunError("Network is unreachable")

    monkeypatch.setattr(download, "fetch", offline)
    with pytest.raises(DlrunError, match=r"cifar10: cannot find .*cifar-10-python.tar.gz in .*download of cifar-10-python.tar.gz failed: Network is unreachable"):
        CIFAR10(root=str(tmp_path), download=True).setup(CPU)


def _md5(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


def test_mnist_downloads_from_the_first_mirror_that_serves_verifies_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from image_files import write_mnist

    mirror = tmp_path / "mirror"
    write_mnist(mirror, n_train=40, n_test=30)
    resources = [(f"{n}.gz", _md5(mirror / f"{n}.gz")) for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    monkeypatch.setattr(MNIST, "resources", lambda self: resources)
    mirrors = [(tmp_path / "gone").as_uri(), mirror.as_uri() + "/"]  # the first mirror fails for every file
    data = MNIST(root=str(tmp_path / "data"), mirrors=mirrors, val_size=8)
    data.setup(CPU)
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(name for name, _ in resources)  # no temp files left
    assert data.meta["split_sizes"] == {"train": 32, "val": 8, "test": 30}
    assert (tmp_path / "data" / "dlrun_cache" / "mnist.pt").is_file()


def test_a_download_with_the_wrong_md5_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from image_files import write_mnist

    mirror = tmp_path / "mirror"
    write_mnist(mirror)
    monkeypatch.setattr(MNIST, "resources", lambda self: [("train-images-idx3-ubyte.gz", "0" * 32)])
    with pytest.raises(DlrunError, match=r"mnist: cannot find .*\(download of train-images-idx3-ubyte.gz failed: tried .*checksum mismatch"):
        MNIST(root=str(tmp_path / "data"), mirrors=[mirror.as_uri()]).setup(CPU)
    assert not list((tmp_path / "data" / "MNIST" / "raw").iterdir())


def test_official_mirrors_and_md5s_come_from_torchvision() -> None:
    from torchvision import datasets

    assert MNIST().default_mirrors() == datasets.MNIST.mirrors and MNIST().resources() == datasets.MNIST.resources
    assert FashionMNIST().resources() == datasets.FashionMNIST.resources
    cifar = CIFAR10()
    assert [m + "/" + cifar.resources()[0][0] for m in cifar.default_mirrors()] == [datasets.CIFAR10.url]
    assert cifar.resources()[0][1] == datasets.CIFAR10.tgz_md5


def test_cifar10_downloads_its_archive_through_fetch(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    write_cifar_archive(mirror, per_batch=6)
    archive = mirror / "cifar-10-python.tar.gz"
    data = CIFAR10(root=str(tmp_path / "data"), mirrors=[mirror.as_uri()], val_size=0.1)
    data.resources = lambda: [(archive.name, _md5(archive))]  # type: ignore[method-assign]
    data.setup(CPU)
    assert (tmp_path / "data" / archive.name).read_bytes() == archive.read_bytes()
    assert data.meta["split_sizes"] == {"train": 27, "val": 3, "test": 6}  # val_size 0.1 of 30 training images


def test_root_defaults_to_dlrun_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLRUN_DATA_DIR", str(tmp_path))
    write_mnist(tmp_path / "MNIST" / "raw", n_train=20, n_test=10)
    data = MNIST(download=False, val_size=0.25)
    data.setup(CPU)
    assert data.root == tmp_path and data.meta["split_sizes"] == {"train": 15, "val": 5, "test": 10}
