"""The README's claim, checked: each option of each config group is one YAML whose `_target_` names
the code that implements it, and every key of the YAML is a parameter of that code (nested options
typed as TypedDicts: each nested key is one of the TypedDict's), so an option is one hop from its code."""

from __future__ import annotations

import inspect
import typing

import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf

from conftest import compose_config
from dlrun.config_types import _typed_dict
from dlrun.paths import config_groups

HYDRA_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}  # instantiate's own keys
# Read where the object is built rather than by the target: optimizer.no_decay splits the model's
# parameters into groups in dlrun.optim.build_optimizer (issue 11: "defined where the optimizer is built").
PENDING = {"optimizer": {"no_decay"}}
OPTIONS = [(group, option) for group, options in config_groups().items()
           if group not in ("experiment", "hparams_search") for option in options]


def test_every_group_is_walked() -> None:
    groups = {group for group, _ in OPTIONS}
    assert {"dataset", "model", "task", "loss", "optimizer", "scheduler", "regularizer", "trainer"} <= groups
    assert len(OPTIONS) >= 50


def unknown_keys(node: dict[str, typing.Any], exempt: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """The keys of `node` that its `_target_` does not take, as `key` or `key.nested`."""
    target = get_object(node["_target_"])
    params = inspect.signature(target).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    init = target.__init__ if inspect.isclass(target) else target
    hints = typing.get_type_hints(init) if not takes_any else {}
    bad = []
    for key, value in node.items():
        if key.startswith("_"):
            bad += [] if key in HYDRA_KEYS else [key]
        elif key in exempt:
            continue
        elif key not in params and not takes_any:
            bad.append(key)
        elif isinstance(value, dict) and _typed_dict(hints.get(key)) is not None:
            fields = typing.get_type_hints(_typed_dict(hints[key]))
            bad += [f"{key}.{k}" for k in value if k not in fields]
    return bad


def test_the_check_finds_keys_the_code_does_not_take() -> None:
    node = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1, "momentum": 0.9, "nesterov_": True, "_bogus_": 1}
    assert unknown_keys(node) == ["nesterov_", "_bogus_"]
    assert unknown_keys({"_target_": "dlrun.config_types.check_root", "cfg": {}}) == []


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_each_option_names_code_that_takes_every_key(group: str, option: str) -> None:
    node = OmegaConf.to_container(compose_config([f"{group}={option}"])[group], resolve=False)
    assert isinstance(node, dict) and isinstance(node.get("_target_"), str), f"{group}/{option}.yaml has no _target_"
    assert unknown_keys(node, PENDING.get(group, set())) == []
