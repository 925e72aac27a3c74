"""Pre-flight (dlrun.preflight): a sweep job whose overrides differ from a composed job's only in values
is derived from it, and the derived config is the one Hydra composes for that job."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from dlrun.preflight import compose, with_other_values


def task_part(cfg) -> dict:  # type: ignore[no-untyped-def]
    return {k: v for k, v in OmegaConf.to_container(cfg, resolve=False).items() if k != "hydra"}


@pytest.mark.parametrize("first, other", [
    (["seed=1", "optimizer.lr=0.1"], ["seed=2", "optimizer.lr=0.01"]),
    (["optimizer=sgd", "optimizer.momentum=0.5"], ["optimizer=sgd", "optimizer.momentum=0.9"]),
    (["+tags=[a]", "seed=1"], ["+tags=[a]", "seed=abc"]),  # the same added key; a value Hydra takes as is
])
def test_a_job_that_differs_only_in_values_is_derived_and_equals_hydras_composition(first: list[str], other: list[str]) -> None:
    derived = with_other_values(other, [(first, compose(first, return_hydra_config=True))])
    assert derived is not None
    assert task_part(derived) == task_part(compose(other, return_hydra_config=True))


@pytest.mark.parametrize("first, other", [
    (["model=mlp"], ["model=logreg"]),                     # a config group's choice: other files
    (["hydra.job.chdir=false"], ["hydra.job.chdir=true"]),  # Hydra's own settings
    (["+a=1"], ["+a=2"]),                                  # added keys: Hydra checks they are new
    (["seed=1"], ["seed=1", "trainer.max_epochs=2"]),      # not the same keys
    (["trainer.max_epochs=1"], ["trainer.nosuch=1"]),      # a key the config lacks: Hydra's error, not ours
    (["tags=[a]"], ["tags=[a,b]"]),                        # not a scalar
])
def test_anything_else_is_composed_by_hydra(first: list[str], other: list[str]) -> None:
    assert with_other_values(other, [(first, compose(first, return_hydra_config=True))]) is None


def test_a_sweep_plugin_that_is_not_installed_is_named_with_its_package() -> None:
    """Without the `sweeps` extra, hydra/sweeper=optuna is an unknown option: the line says what installs it."""
    from hydra.errors import MissingConfigException

    from dlrun.preflight import explain

    missing = MissingConfigException("no optuna", missing_cfg_file="hydra/sweeper/optuna", options=["basic", "dlrun"])
    assert explain(missing, ["hydra/sweeper=optuna"]) == (
        "unknown option 'optuna' for hydra/sweeper (valid: basic, dlrun); it comes with hydra-optuna-sweeper: "
        "pip install hydra-optuna-sweeper (or dlrun's `sweeps` extra, docs/sweeps.md)")
    other = MissingConfigException("no such model", missing_cfg_file="model/nosuch", options=["mlp", "cnn"])
    assert explain(other, ["model=nosuch"]) == "unknown option 'nosuch' for model (valid: mlp, cnn)"


def test_jobs_that_build_from_the_same_groups_are_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """seed=1..3 build alike: one build; a job whose groups differ (lr) is built, and refused if bad; a skipped
    job's own top-level keys are still checked."""
    from dlrun import build
    from dlrun.errors import DlrunError
    from dlrun.preflight import check_overrides

    builds: list[float] = []
    real = build.build_data
    monkeypatch.setattr(build, "build_data", lambda cfg: (builds.append(cfg.optimizer.lr), real(cfg))[1])
    check_overrides(["seed=1,2,3", "optimizer.lr=0.5"], multirun=True)
    assert builds == [0.5]
    builds.clear()
    check_overrides(["seed=1,2", "optimizer.lr=0.5,0.1"], multirun=True)
    assert builds == [0.5, 0.1]  # seed=2's two jobs build like seed=1's
    with pytest.raises(DlrunError, match=r"^job seed=1 optimizer.lr=-1: optimizer: "):
        check_overrides(["seed=1,2", "optimizer.lr=0.5,-1"], multirun=True)
    with pytest.raises(DlrunError, match=r"^job seed=one: seed:"):
        check_overrides(["seed=1,one"], multirun=True)
