"""dlrun's default launcher (hydra_plugins.dlrun_plugins.launcher): a job that differs from an earlier one only in
values reuses its composed config, and every job's recorded config is the one Hydra's basic launcher records."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import job_dir

SWEEP = ["-m", "seed=1,2", "optimizer=sgd,adam", "trainer.max_epochs=1", "trainer.progress_bar=false", "trainer.device=cpu"]


def hydra_files(run: Path) -> dict:
    files = {name: yaml.safe_load((run / ".hydra" / name).read_text()) for name in ("config.yaml", "overrides.yaml", "hydra.yaml")}
    hydra = files["hydra.yaml"]["hydra"]
    hydra.pop("launcher")  # the one intended difference, with the dirs below
    hydra["runtime"]["choices"].pop("hydra/launcher")
    hydra["runtime"].pop("output_dir")
    hydra["sweep"].pop("dir")
    hydra["overrides"]["hydra"] = [o for o in hydra["overrides"]["hydra"] if not o.startswith(("hydra.sweep.dir=", "hydra/launcher="))]
    return files


def test_jobs_that_differ_in_values_reuse_a_composition_and_record_what_the_basic_launcher_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dlrun import preflight
    from dlrun.cli import main

    derived = []
    original = preflight.with_other_values

    def counting(job, composed):  # type: ignore[no-untyped-def]
        cfg = original(job, composed)
        derived.append(cfg is not None)
        return cfg

    monkeypatch.setattr(preflight, "with_other_values", counting)
    assert main(["train", *SWEEP, f"hydra.sweep.dir={tmp_path / 'ours'}"]) == 0
    # jobs: seed=1 sgd, seed=1 adam, seed=2 sgd, seed=2 adam; the seed=2 ones are derived, in the
    # pre-flight and in the launcher (the basic launcher's run below composes every job)
    assert derived.count(True) == 4
    assert main(["train", *SWEEP, "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path / 'basic'}"]) == 0
    for num in range(4):
        ours, basic = job_dir(tmp_path / "ours", num), job_dir(tmp_path / "basic", num)
        assert ours.name == basic.name
        assert hydra_files(ours) == hydra_files(basic), num
        assert yaml.safe_load((ours / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["num"] == num


@pytest.mark.parametrize("overrides, exclude", [
    (["seed=2", "optimizer.lr=0.01", "trainer.max_epochs=1"], []),
    (["seed=2", "optimizer.lr=0.01", "trainer.max_epochs=1"], ["seed", "trainer.max_epochs"]),
    (["+tags=[a,b]", "name=x"], ["name"]),
])
def test_override_dirname_is_hydras(overrides: list[str], exclude: list[str]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra_plugins.dlrun_plugins.launcher import overrides_dirname

    from dlrun.preflight import compose

    setting = [f"hydra.job.config.override_dirname.exclude_keys=[{','.join(exclude)}]", "hydra.job.config.override_dirname.kv_sep=-"]
    cfg = compose([*overrides, *setting], return_hydra_config=True)
    parsed = OverridesParser.create().parse_overrides(overrides)
    assert overrides_dirname(parsed, cfg.hydra.job.config.override_dirname) == cfg.hydra.job.override_dirname
