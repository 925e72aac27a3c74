"""The declared data contract: every dataset is a DataModule and declares what tasks use of it
(TensorSplits, DenseStereo, TextSplits), an unknown split is UnknownSplit everywhere, and every
batch iterator can be sharded for DDP with the ranks together covering the single-process epoch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from dlrun.data.base import Batches, DataModule, DenseStereo, TensorSplits, TextSplits
from dlrun.data.cifar10 import CIFAR10
from dlrun.data.fashion_mnist import FashionMNIST
from dlrun.data.gmm2d import GMM2D
from dlrun.data.imdb import IMDB
from dlrun.data.kitti_stereo import KittiStereo
from dlrun.data.metric_sampling import PKBatches, TripletBatches
from dlrun.data.mnist import MNIST
from dlrun.data.mnist_metric import MNISTMetric
from dlrun.data.stereo_patches import StereoImages, StereoPatchBatches
from dlrun.data.synthetic_stereo import SyntheticStereo
from dlrun.data.tensor_batches import TensorBatches
from dlrun.data.text_batches import TextBatches, TokenSequences
from dlrun.data.text_csv import TextCSV
from dlrun.errors import DlrunError, UnknownSplit
from text_corpus import write_csv

CPU = torch.device("cpu")
CSV_FILES = {"train": "a.csv", "val": "b.csv", "test": "c.csv"}


def test_every_dataset_declares_what_tasks_use() -> None:
    modules = [GMM2D(), MNIST(), FashionMNIST(), CIFAR10(), MNISTMetric(), IMDB(), TextCSV(files=CSV_FILES), KittiStereo(), SyntheticStereo()]
    assert all(isinstance(m, DataModule) for m in modules)
    kinds = {type(m).__name__: (isinstance(m, TensorSplits), isinstance(m, DenseStereo), isinstance(m, TextSplits)) for m in modules}
    assert kinds == {
        "GMM2D": (True, False, False), "MNIST": (True, False, False), "FashionMNIST": (True, False, False),
        "CIFAR10": (True, False, False), "MNISTMetric": (True, False, False), "IMDB": (False, False, True),
        "TextCSV": (False, False, True), "KittiStereo": (False, True, False), "SyntheticStereo": (False, True, False),
    }


def test_unknown_split_is_one_error_type_in_every_dataset(tmp_path: Path) -> None:
    gmm = GMM2D(samples_per_component=10)
    gmm.setup(CPU)
    for name, rows in (("a.csv", [("good", "pos"), ("bad", "neg")]), ("b.csv", [("ok", "pos")]), ("c.csv", [("meh", "neg")])):
        write_csv(tmp_path / name, rows)
    text = TextCSV(root=str(tmp_path), files=CSV_FILES)
    text.setup(CPU)
    stereo = SyntheticStereo(root=str(tmp_path), num_pairs=2, height=32, width=64, max_disparity=10.0, batch_size=4)
    stereo.setup(CPU)
    for data in (gmm, text, stereo):
        with pytest.raises(UnknownSplit, match=r"unknown split 'nosuch' \(valid: .*train.*\)") as err:
            data.loader("nosuch")
        assert isinstance(err.value, DlrunError) and err.value.split == "nosuch" and "val" in err.value.valid
    with pytest.raises(UnknownSplit):
        gmm.split_tensors("nosuch")
    with pytest.raises(UnknownSplit):
        text.sequences("nosuch")
    with pytest.raises(UnknownSplit):
        stereo.dense_pairs("nosuch")


def epoch_batches(batches: Batches, epoch: int = 1, seed: int = 3) -> list:
    batches.set_epoch(epoch, seed)
    return list(batches)


def stereo_images() -> StereoImages:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 20, 40, 1), generator=g, dtype=torch.uint8)
    disparity = torch.where(torch.rand(2, 20, 40, generator=g) < 0.5, 3.0, 0.0)
    stats = torch.tensor([[100.0, 50.0]]).repeat(2, 1)
    return StereoImages(images, images, stats, stats, disparity, torch.tensor([[20, 40], [20, 40]]))


def make_iterators() -> dict[str, Callable[[], Batches]]:
    x = torch.arange(10).float()
    y = torch.arange(10) % 3
    docs = TokenSequences.from_lists([[i + 2] * (1 + i % 3) for i in range(9)], [i % 2 for i in range(9)])
    return {
        "tensor": lambda: TensorBatches((x, y), 2, shuffle=True),
        "text": lambda: TextBatches(docs, 2, shuffle=True, bucket=2),
        "triplet": lambda: TripletBatches(x[:, None], y, 3, 5, shuffle=True),
        "pk": lambda: PKBatches(x[:, None], y, 3, 2, 2),
        "stereo": lambda: StereoPatchBatches(stereo_images(), torch.tensor([0, 1]), 4, 5, 3, 1, 3, 5, seed=2),
    }


def first_tensor(batch: tuple) -> torch.Tensor:
    return batch[0]


@pytest.mark.parametrize("kind", ["tensor", "text", "triplet", "pk", "stereo"])
def test_every_batch_iterator_shards_into_an_even_cover_of_the_epoch(kind: str) -> None:
    make = make_iterators()[kind]
    single = make()
    assert isinstance(single, Batches)
    whole = epoch_batches(single)
    ranks = []
    for rank in range(2):
        part = make()
        part.shard(rank, 2)
        ranks.append(epoch_batches(part))
        assert len(part) == len(ranks[-1])
    assert len(ranks[0]) == len(ranks[1])
    if kind in ("text", "pk", "stereo"):  # sharded by batch: rank r takes batches r, r + 2, ... of the same epoch
        assert len(ranks[0]) == -(-len(whole) // 2)
        interleaved = [ranks[t % 2][t // 2] for t in range(len(whole))]
        for mine, theirs in zip(interleaved, whole):
            assert all(torch.equal(a, b) for a, b in zip(mine, theirs))
    else:  # sharded by sample: both ranks together draw every sample of the epoch
        drawn = torch.cat([first_tensor(b) for r in ranks for b in r]).flatten()
        assert sorted(set(drawn.tolist())) == sorted(set(x.item() for x in torch.cat([first_tensor(b) for b in whole]).flatten()))


def test_sharded_iterators_resume_with_skip() -> None:
    for kind, make in make_iterators().items():
        full = make()
        full.shard(1, 2)
        expected = epoch_batches(full)
        resumed = make()
        resumed.shard(1, 2)
        resumed.skip = 1
        got = epoch_batches(resumed)
        assert len(got) == len(expected) - 1, kind
        for a, b in zip(got, expected[1:]):
            assert all(torch.equal(u, v) for u, v in zip(a, b)), kind


def test_bad_shard_arguments_are_refused() -> None:
    for make in make_iterators().values():
        with pytest.raises(ValueError, match="0 <= rank < world_size"):
            make().shard(2, 2)


def test_metric_task_falls_back_to_train_only_on_unknown_split() -> None:
    from dlrun.tasks.metric import MetricTask

    gmm = GMM2D(samples_per_component=10)  # no 'traineval' split
    gmm.setup(CPU)
    task = MetricTask(torch.nn.MSELoss())
    task.setup(gmm, CPU)
    reference = task._reference()
    assert torch.equal(reference.tensors[0], gmm.split_tensors("train")[0])

    class Broken(GMM2D):
        def loader(self, split: str, train: bool = False) -> TensorBatches:
            raise KeyError("a bug, not a missing split")

    broken = Broken(samples_per_component=10)
    task.setup(broken, CPU)
    with pytest.raises(KeyError, match="a bug"):  # a bare KeyError is not taken for a missing split
        task._reference()


def test_text_and_image_data_are_restorable_for_predict() -> None:
    from dlrun.data.base import RawInputs, RestorableData

    assert isinstance(TextCSV(files=CSV_FILES), RestorableData) and isinstance(IMDB(), RestorableData)
    assert isinstance(MNIST(), RawInputs) and isinstance(TextCSV(files=CSV_FILES), RawInputs)
    assert "mean" not in MNIST().state_dict()  # normalisation is known after setup (from the training split)


def test_every_dataset_config_names_a_class_with_the_contracts_defaults() -> None:
    """preflight_meta is a declared member: every dataset class inherits BaseData (none empty by accident:
    the text, char and folder datasets offer stand-ins for what only setup can know)."""
    from omegaconf import OmegaConf

    from dlrun.config_types import locate
    from dlrun.data.base import BaseData
    from dlrun.paths import config_dir, config_groups

    nodes = {name: OmegaConf.load(config_dir() / "dataset" / f"{name}.yaml") for name in config_groups()["dataset"]}
    classes = {name: locate(node._target_) for name, node in nodes.items() if "_target_" in node}  # sst: text_csv's
    assert len(classes) >= 10 and all(issubclass(cls, BaseData) for cls in classes.values()), classes
    assert dict(GMM2D().preflight_meta) == {} and dict(MNIST().preflight_meta) == {}
    assert TextCSV(files=CSV_FILES).preflight_meta["vocab_size"] == 2  # <PAD> and <UNK>


def test_a_dataset_class_lacking_a_member_is_refused_by_name() -> None:
    from omegaconf import OmegaConf

    from dlrun.build import build_data

    cfg = OmegaConf.create({"dataset": {"_target_": "test_data_contract.NoPreflightMeta"}})
    with pytest.raises(DlrunError, match=r"^dataset: test_data_contract\.NoPreflightMeta lacks preflight_meta, state_dict of "
                                         r"dlrun\.data\.base\.DataModule \(inherit dlrun\.data\.base\.BaseData"):
        build_data(cfg)


class NoPreflightMeta:
    """A dataset written before preflight_meta was declared, and without state_dict."""

    def __init__(self) -> None:
        self.meta: dict = {}

    def setup(self, device: torch.device) -> None: ...

    def loader(self, split: str, train: bool = False) -> TensorBatches:
        raise NotImplementedError
