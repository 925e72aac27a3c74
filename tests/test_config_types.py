"""config_types: the one checker of config values — against a target's signature, nested options
typed as TypedDicts, required keys, and the root of train.yaml."""

from __future__ import annotations

from typing import TypedDict

import pytest
from omegaconf import OmegaConf

from dlrun.config_types import check_node, check_root, check_value, checked_options
from dlrun.errors import DlrunError


class Clip(TypedDict, total=False):
    norm: float
    mode: str


def target(size: int, clip: Clip | None = None, name: str = "x") -> None:
    """A stand-in constructor for the checks."""


NODE = {"_target_": "test_config_types.target"}


def test_nested_options_are_checked_key_by_key() -> None:
    check_node("model", {**NODE, "size": 3, "clip": {"norm": 1, "mode": "global"}})
    with pytest.raises(DlrunError, match=r"^unknown key 'model\.clip\.nrom' \(valid keys: norm, mode\)$"):
        check_node("model", {**NODE, "size": 3, "clip": {"nrom": 1.0}})
    with pytest.raises(DlrunError, match=r"^model\.clip\.norm: expected a number, got 'big'$"):
        check_node("model", {**NODE, "size": 3, "clip": {"norm": "big"}})
    check_node("model", {**NODE, "size": 3, "clip": None})


def test_required_keys_unless_provided_or_partial() -> None:
    with pytest.raises(DlrunError, match=r"^model: size must be set \(test_config_types\.target has no default for it\)$"):
        check_node("model", {**NODE, "name": "y"})
    check_node("model", {**NODE, "name": "y"}, provided=("size",))
    check_node("model", {**NODE, "_partial_": True})


def test_unknown_keys_and_wrong_types_of_plain_parameters() -> None:
    with pytest.raises(DlrunError, match=r"^unknown key 'model\.sise' for test_config_types\.target \(valid keys: size, clip, name\)$"):
        check_node("model", {**NODE, "size": 1, "sise": 2})
    with pytest.raises(DlrunError, match=r"^model\.size: expected an integer, got 2\.5$"):
        check_node("model", {**NODE, "size": 2.5})
    with pytest.raises(DlrunError, match=r"^x: expected a list of integers, got \[1, 'a'\]$"):
        check_value("x", [1, "a"], list[int])


def test_root_keys() -> None:
    base = {"seed": 1, "name": "${hydra:runtime.choices.model}", "tags": ["a"], "ckpt_path": None, "optimized_metric": None}
    check_root(OmegaConf.create(base))  # an interpolated name resolves only inside the job: not checked here
    with pytest.raises(DlrunError, match=r"^seed: expected an integer, got 'one'$"):
        check_root(OmegaConf.create({**base, "seed": "one"}))
    with pytest.raises(DlrunError, match=r"^tags: expected a list of strings, got \[1\]$"):
        check_root(OmegaConf.create({**base, "tags": [1]}))
    with pytest.raises(DlrunError, match=r"^optimized_metric: expected a string or null, got 3$"):
        check_root(OmegaConf.create({**base, "optimized_metric": 3}))


class Base:
    def __init__(self, clip: Clip | None = None) -> None:
        """A constructor a subclass inherits."""


class Child(Base):
    """Defines no __init__ of its own: the inherited one's hints apply."""


def test_an_inherited_constructor_is_checked_like_an_own_one() -> None:
    with pytest.raises(DlrunError, match=r"^unknown key 'model\.clip\.nrom' \(valid keys: norm, mode\)$"):
        check_node("model", {"_target_": "test_config_types.Child", "clip": {"nrom": 1.0}})


def test_options_given_in_python_get_the_same_check_as_a_value_error() -> None:
    assert checked_options("clip", None, Clip) == {}
    assert checked_options("clip", {"norm": 2}, Clip) == {"norm": 2}
    with pytest.raises(ValueError, match=r"^unknown clip keys \['a', 'b'\] \(valid: norm, mode\)$"):
        checked_options("clip", {"norm": 1.0, "b": 1, "a": 2}, Clip)
    with pytest.raises(ValueError, match=r"^clip\.mode: expected a string, got 3$"):
        checked_options("clip", {"mode": 3}, Clip)


@pytest.mark.parametrize(
    "node, message",
    [
        ({"_target_": "dlrun.data.mnist.MNIST", "augment": {"rotate": 10}}, r"^unknown key 'dataset\.augment\.rotate' \(valid keys: crop_padding, hflip, degrees, scale, translate\)$"),
        ({"_target_": "dlrun.data.mnist.MNIST", "augment": {"hflip": "yes"}}, r"^dataset\.augment\.hflip: expected true or false, got 'yes'$"),
        ({"_target_": "dlrun.data.text_csv.TextCSV", "root": "x", "vocab": {"max": 5}}, r"^unknown key 'dataset\.vocab\.max' \(valid keys: max_size, min_freq\)$"),
        ({"_target_": "dlrun.data.imdb.IMDB", "tokenizer": {"lower": True}}, r"^unknown key 'dataset\.tokenizer\.lower' \(valid keys: lowercase, strip_html, pattern\)$"),
        ({"_target_": "dlrun.data.imdb.IMDB", "embeddings": {"dim": 1.5}}, r"^dataset\.embeddings\.dim: expected an integer, got 1\.5$"),
        ({"_target_": "dlrun.data.text_csv.TextCSV", "files": {"train": "a", "test": "c"}}, r"^dataset\.files: val must be set$"),
        ({"_target_": "dlrun.data.text_csv.TextCSV", "files": {"train": "a", "valid": "b", "test": "c"}},
         r"^unknown key 'dataset\.files\.valid' \(valid keys: train, val, test\)$"),
    ],
)
def test_dataset_nested_options_are_checked_by_the_one_checker(node: dict, message: str) -> None:
    with pytest.raises(DlrunError, match=message):
        check_node("dataset", node)


class Pair(TypedDict):
    left: int
    right: int


def test_the_keys_of_a_total_typed_dict_are_required() -> None:
    check_value("pair", {"left": 1, "right": 2}, Pair)
    with pytest.raises(DlrunError, match=r"^pair: left, right must be set$"):
        check_value("pair", {}, Pair)
    with pytest.raises(ValueError, match=r"^files: val, test must be set$"):
        from dlrun.data.text_csv import TextCSV

        TextCSV(files={"train": "a.csv"})  # type: ignore[typeddict-item]


def test_simclr_augment_is_checked_by_the_one_checker() -> None:
    node = {"_target_": "dlrun.tasks.simclr.SimCLRTask"}
    with pytest.raises(DlrunError, match=r"^unknown key 'task\.augment\.rotate' \(valid keys: crop_scale, crop_ratio, flip_p, jitter, "
                                         r"jitter_p, grey_p, blur_p, blur_sigma\)$"):
        check_node("task", {**node, "augment": {"rotate": 10}}, provided=("loss",))
    with pytest.raises(DlrunError, match=r"^task\.augment\.flip_p: expected a number, got 'often'$"):
        check_node("task", {**node, "augment": {"flip_p": "often"}}, provided=("loss",))
