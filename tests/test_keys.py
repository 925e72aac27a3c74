"""The dataset key vocabulary: an old key name is a one-line "renamed" error wherever it appears."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dlrun.config_types import check_node
from dlrun.data.keys import RENAMED, renamed_message
from dlrun.errors import DlrunError
from dlrun.paths import config_dir
from dlrun.preflight import check_overrides

DATASETS = sorted(p.stem for p in (Path(config_dir()) / "dataset").glob("*.yaml"))
FILE_DATASETS = [d for d in DATASETS if d != "gmm2d"]  # gmm2d is generated: no files, no root
DOWNLOADING = ["mnist", "fashion_mnist", "cifar10", "imdb", "mnist_metric"]


def test_renamed_message_names_old_and_new_key() -> None:
    assert renamed_message("dataset.data_dir") == "dataset.data_dir was renamed to dataset.root"
    assert renamed_message("dataset.split_seed") == "dataset.split_seed was renamed to dataset.seed"
    assert renamed_message("dataset.val_fraction") == "dataset.val_fraction was renamed to dataset.val_size (a count or a fraction in (0, 1))"
    assert renamed_message("dataset.root") is None
    assert renamed_message("model.data_dir") is None  # only dataset keys were renamed


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_config_check_reports_each_old_key(old: str) -> None:
    for target in ("dlrun.data.mnist.MNIST", "dlrun.data.synthetic_stereo.SyntheticStereo"):  # the latter takes **kwargs
        with pytest.raises(DlrunError, match=rf"^dataset\.{old} was renamed to dataset\.{RENAMED[old]}"):
            check_node("dataset", {"_target_": target, old: 1})


@pytest.mark.parametrize("override, message", [
    ("dataset.data_dir=/tmp", "dataset.data_dir was renamed to dataset.root"),
    ("+dataset.split_seed=3", "dataset.split_seed was renamed to dataset.seed"),
])
def test_cli_override_with_an_old_key_is_one_line(override: str, message: str) -> None:
    with pytest.raises(DlrunError) as err:
        check_overrides(["dataset=mnist", override], multirun=False)
    assert str(err.value) == message


def test_every_dataset_config_speaks_the_one_vocabulary() -> None:
    for name in DATASETS:
        cfg = OmegaConf.to_container(OmegaConf.load(Path(config_dir()) / "dataset" / f"{name}.yaml"))
        assert not set(cfg) & set(RENAMED), name
        assert "batch_size" in cfg or name == "sst", name  # sst inherits text_csv's keys
        if name in FILE_DATASETS and name != "sst":
            assert cfg["root"] == "${oc.env:DLRUN_DATA_DIR,data}", name
        if name in DOWNLOADING:
            assert cfg["download"] is True and isinstance(cfg["mirrors"], list) and cfg["mirrors"], name
            assert all(m.startswith(("https://", "http://")) for m in cfg["mirrors"]), name


def test_sst_root_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dlrun.preflight import compose

    monkeypatch.setenv("DLRUN_DATA_DIR", str(tmp_path))
    cfg = compose(["experiment=lab3_gru"])
    assert cfg.dataset.root == str(tmp_path)
    assert cfg.dataset.embeddings.path == f"{tmp_path}/sst/sst_glove_6b_300d.txt"
