"""Run and job dir names (= TensorBoard run names) that carry the overrides that differ."""

from __future__ import annotations

import hashlib

from dlrun.run_names import MAX_CHARS, constant_keys, describe, exclude_override, job_dir_name, run_suffix


def test_job_name_is_number_then_varying_overrides_in_command_line_order() -> None:
    job = ["optimizer=adam", "seed=2", "trainer.max_epochs=3", "sweep.on_error=stop", "ckpt_path=/x/last.pt"]
    assert job_dir_name(3, job, ["trainer.max_epochs"]) == "3_optimizer-adam_seed-2"  # run control left out too
    assert job_dir_name(0, ["seed=1"], ["seed"]) == "0"  # nothing varies: just the number


def test_unsafe_characters_are_dropped_or_replaced() -> None:
    """'=' and ',' would make `ckpt_path=<run dir>/checkpoints/last.pt` a Hydra parse error or a sweep."""
    assert describe(["model.hidden=[128,128]", "+tags=['a b']", "data.dir=/tmp/x y"]) == \
        "model.hidden-128+128_tags-a-b_data.dir--tmp-x-y"
    assert describe(["~regularizer"]) == "regularizer"  # a leading '~' or '-' would hide or confuse
    from hydra.core.override_parser.overrides_parser import OverridesParser

    name = job_dir_name(7, ["model.hidden=[64,64]", "optimizer.lr=1e-3", "dataset.root=/data/x y", "+tags=[a,b]"])
    parsed = OverridesParser.create().parse_override(f"ckpt_path=/out/{name}/checkpoints/last.pt")
    assert parsed.value() == f"/out/{name}/checkpoints/last.pt" and not parsed.is_sweep_override()


def test_long_names_are_cut_with_a_stable_hash() -> None:
    overrides = [f"model.layer{i}.width={100 + i}" for i in range(8)]
    full = "_".join(o.replace("=", "-") for o in overrides)
    name = describe(overrides)
    digest = hashlib.sha1("\n".join(overrides).encode()).hexdigest()[:8]
    assert len(full) > MAX_CHARS and name == f"{full[:MAX_CHARS].rstrip('._-')}-{digest}"
    assert describe(overrides) == name  # the same overrides, the same name (sweep.resume)
    assert describe(overrides[:-1] + ["model.layer7.width=999"]) != name  # differ past the cut: differ in the hash


def test_single_run_suffix() -> None:
    assert run_suffix([]) == ""
    assert run_suffix(["optimizer=sgd", "optimizer.lr=0.1", "sweep.gpus=none"]) == "_optimizer-sgd_optimizer.lr-0.1"


def test_constant_keys_of_a_grid_and_of_a_search() -> None:
    grid = [["optimizer=sgd", "seed=1", "trainer.max_epochs=3"], ["optimizer=sgd", "seed=2", "trainer.max_epochs=3"],
            ["optimizer=adam", "seed=1", "trainer.max_epochs=3"], ["optimizer=adam", "seed=2", "trainer.max_epochs=3"]]
    assert constant_keys([], grid) == ["trainer.max_epochs"]
    only_some = [["a=1", "b=2"], ["a=1"]]  # b appears in one job only: it varies
    assert constant_keys([], only_some) == ["a"]
    assert constant_keys(["optimizer=sgd,adam", "seed=range(1,3)", "trainer.max_epochs=3", "sweep.resume=x"], None) == \
        ["trainer.max_epochs"]  # no grid (Optuna): the command line's plain overrides


def test_exclude_override_quotes_keys() -> None:
    assert exclude_override(["trainer.max_epochs", "seed"]) == \
        "hydra.job.config.override_dirname.exclude_keys=['trainer.max_epochs','seed']"
    assert exclude_override([]) == "hydra.job.config.override_dirname.exclude_keys=[]"
