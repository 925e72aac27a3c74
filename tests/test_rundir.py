"""dlrun.rundir: a dir holding a run's or a sweep's files is never a new run dir, and values are
quoted the way Hydra's override grammar reads them back."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from dlrun.errors import DlrunError
from dlrun.rundir import artefacts, check_fresh, quote_override, shell_override

ODD = ["/x/Duboko učenje 1 (it's, here)/r", "C:\\dir\\x", "a\\'b", "end\\", "/p/${x}/q", "a=b,c", 'say "hi"', "[1]", "~/x y"]


@pytest.mark.parametrize("value", ODD)
def test_quoted_values_parse_back_to_themselves(value: str) -> None:
    parsed = OverridesParser.create().parse_override("k=" + quote_override(value)).value()
    assert OmegaConf.create({"k": parsed}).k == value  # interpolation escaped too


def test_plain_paths_stay_unquoted() -> None:
    assert quote_override("/tmp/run-1/checkpoints/last.pt") == "/tmp/run-1/checkpoints/last.pt"
    assert quote_override("a b") == "'a b'"
    assert shlex.split(shell_override("ckpt_path", "/x/it's here")) == ["ckpt_path='/x/it\\'s here'"]


def test_artefacts_of_a_run_and_fresh_dirs(tmp_path: Path) -> None:
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "events.out.tfevents.1.host").write_text("")
    (tmp_path / "run" / "notes.txt").write_text("")
    (tmp_path / "empty").mkdir()
    assert artefacts(tmp_path / "run") == ["checkpoints", "events.out.tfevents.1.host"]
    assert artefacts(tmp_path / "empty") == [] and artefacts(tmp_path / "missing") == []
    check_fresh(tmp_path / "empty", "hydra.run.dir")  # an empty dir the user made is fine


def test_a_killed_run_is_refused_naming_the_resume_and_a_sweep_naming_sweep_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    with pytest.raises(DlrunError) as err:
        check_fresh(run, "hydra.run.dir")
    assert str(err.value) == (f"hydra.run.dir {run} already holds checkpoints; it holds a run: resume it into a new dir "
                              f"with dlrun train ... ckpt_path={run}/checkpoints/last.pt; or choose a new hydra.run.dir")
    (tmp_path / "sweep.json").write_text("{}")
    with pytest.raises(DlrunError, match=r"already holds sweep.json; it holds a sweep: finish it with dlrun train -m \.\.\. "
                                         r"sweep.resume=\S+; or choose a new hydra.sweep.dir"):
        check_fresh(tmp_path, "hydra.sweep.dir")
