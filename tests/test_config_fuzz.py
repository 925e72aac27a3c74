"""Config fuzz: random and hand-picked override sets either pass the pre-flight check (and then
train) or fail with one line naming the key at fault and what would be valid."""

from __future__ import annotations

import random
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from conftest import FAST, compose_config, train_in_process
from dlrun.errors import DlrunError
from dlrun.paths import config_groups
from dlrun.preflight import check_overrides

pytestmark = pytest.mark.reliability

ODD_VALUES = ["abc", "-1", "0", "1e30", "-1e-3", "[]", "[0]", "[-4,2]", "null", "true", "3.5", "{a: 1}", "''", "1000000", "[abc]"]

HAND_PICKED = [
    ["nogroup=x"],
    ["model=nomodel"],
    ["model.nokey=1"],
    ["+model.nokey=1"],
    ["trainer.early_stopping.patience=-3"],
    ["dataset.batch_size=0"],
    ["dataset.val_size=0.9", "dataset.test_size=0.5"],
    ["model.hidden=[]"],
    ["model.hidden=[0,4]"],
    ["model.dropout=1.5"],
    ["optimizer.lr=0"],
    ["optimizer=sgd", "optimizer.momentum=-0.5"],
    ["scheduler=step", "scheduler.scheduler.gamma=abc"],
    ["scheduler=piecewise", "scheduler.scheduler.values={1: -0.1}"],
    ["scheduler=linear", "scheduler.scheduler.total_iters=0"],
    ["scheduler=none", "scheduler.warmup_steps=-1"],
    ["regularizer=l2", "regularizer.weight=-1"],
    ["regularizer=max_norm", "regularizer.max_norm=0"],
    ["loss=hinge", "loss.delta=-1"],
    ["trainer.amp_dtype=float8"],
    ["trainer.mode=sideways"],
    ["trainer.device=quantum"],
    ["trainer.gradient_clip_norm=0"],
    ["trainer.accumulate_grad_batches=0"],
    ["trainer.monitor=val/nothing"],
    ["seed=1.5"],
    ["tags=notalist"],
]


def leaf_keys(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=False)
    keys: list[str] = []
    for key, value in node.items():
        if str(key).startswith("_"):
            continue
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            keys += leaf_keys(value, path + ".")
        else:
            keys.append(path)
    return keys


def random_cases(n: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    groups = config_groups()
    cases = []
    for _ in range(n):
        case: list[str] = []
        group = rng.choice(sorted(g for g in groups if g not in ("experiment", "task", "dataset")))
        case.append(f"{group}={rng.choice(groups[group])}")
        keys = leaf_keys(compose_config(case))
        for key in rng.sample(keys, k=rng.randint(1, 2)):
            case.append(f"{key}={rng.choice(ODD_VALUES)}")
        cases.append(case)
    return cases


def key_of(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def check(case: list[str]) -> str | None:
    """None if the case passes the pre-flight check, else its (verified) one-line error."""
    try:
        check_overrides(case, multirun=False)
    except DlrunError as err:
        message = str(err)
        assert "\n" not in message, message
        names = {part for o in case for part in (key_of(o), key_of(o).split(".")[0], key_of(o).split(".")[-1])}
        assert any(name in message for name in names), f"{case}: '{message}' names none of the keys"
        return message
    return None


def test_hand_picked_bad_overrides_are_one_line_errors(reliability_log: Any) -> None:
    failures = 0
    for case in HAND_PICKED:
        message = check(case)
        if case == ["model.hidden=[]"]:
            assert message is None  # no hidden layer is a valid (linear) model
            continue
        assert message is not None, f"{case} was accepted"
        failures += 1
    assert "valid: " in check(["model=nomodel"]) and "valid keys" in check(["+model.nokey=1"])
    reliability_log("hand-picked bad overrides (unknown groups/keys, negative sizes, wrong types, absurd values)",
                    len(HAND_PICKED), f"{failures} one-line errors naming the key before any work; 1 valid case runs")


def test_unknown_monitor_fails_before_training(train_run, capsys: pytest.CaptureFixture[str]) -> None:
    code, run = train_run("trainer.monitor=val/nothing")
    assert code == 2
    err = capsys.readouterr().err
    assert "trainer.monitor: no metric 'val/nothing' (valid: val/acc, val/f1, val/loss)" in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err  # one line
    assert not run.exists()  # refused by the pre-flight: no run dir, no epoch, no checkpoint


def test_random_override_sets(tmp_path, reliability_log: Any) -> None:
    cases = random_cases(120)
    passed = [case for case in cases if check(case) is None]
    errors = len(cases) - len(passed)
    assert errors > 60  # most random odd values are invalid somewhere
    # Cases that pass the pre-flight must really run (shrunk to one short epoch), or fail cleanly.
    ran = 0
    for i, case in enumerate(passed[:6]):
        shrink = [o for o in [*FAST, "trainer.max_epochs=1", "dataset.samples_per_component=20"]
                  if key_of(o) not in {key_of(c) for c in case}]
        bounded = [c for c in case if not c.startswith(("trainer.max_epochs=", "dataset.samples_per_component="))
                   or int(float(c.split("=")[1])) <= 3]
        code = train_in_process([*bounded, *shrink], tmp_path / f"run{i}")
        assert code in (0, 2, 3), f"{case}: exit {code}"
        ran += 1
    reliability_log("random override sets (1 group choice + 1-2 keys set to odd values)", len(cases),
                    f"{errors} rejected with a one-line error naming the key; {len(passed)} accepted, "
                    f"{ran} of them trained to the end or stopped with a one-line error")
