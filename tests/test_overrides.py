"""Overrides: keys, run control, and the list form `regularizer=[a,b]` (rewritten into one named entry
per option before Hydra, folded back for names and records)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import compose_config, read_results, train_in_process
from dlrun.build import build_regularizer
from dlrun.errors import DlrunError
from dlrun.overrides import expand_list_choice, folded, job_identity, override_key
from dlrun.regularizers.combined import Combined
from dlrun.regularizers.l1 import L1Penalty
from dlrun.regularizers.l2 import L2Penalty
from dlrun.regularizers.max_norm import MaxNormProjection
from dlrun.run_names import describe

L2_MAX = ["regularizer=list", "+regularizer@regularizer.regularizers.l2=l2",
          "+regularizer@regularizer.regularizers.max_norm=max_norm"]


def test_override_key_strips_prefixes() -> None:
    assert override_key("+a.b=1") == "a.b" and override_key("~model") == "model"


def test_a_list_becomes_one_named_entry_per_option_in_order() -> None:
    assert expand_list_choice(["regularizer=[l2,max_norm]"]) == L2_MAX
    assert expand_list_choice(["-m", "regularizer=[max_norm, l1]", "seed=1,2"]) == [
        "-m", "regularizer=list", "+regularizer@regularizer.regularizers.max_norm=max_norm",
        "+regularizer@regularizer.regularizers.l1=l1", "seed=1,2"]
    assert expand_list_choice(["regularizer=[]"]) == ["regularizer=list"]


def test_other_args_pass_unchanged() -> None:
    args = ["-m", "regularizer=l2", "regularizer.weight=0.1", "model.hidden=[8,8]", "regularizer=l2,max_norm",
            "regularizer.regularizers.l2.weight=1e-4", *L2_MAX]
    assert expand_list_choice(args) == args


@pytest.mark.fault("regularizer=[...] naming an option twice, an unknown option, a sweep over lists, or not a list of names",
                   "one line naming the list and the way out, before any work")
@pytest.mark.parametrize(("arg", "message"), [
    ("regularizer=[l2,l2]", "l2 given twice"),
    ("regularizer=[l2,nosuch]", "unknown option 'nosuch' for regularizer (valid: affine, "),
    ("regularizer=[l2,max_norm],l2", "a sweep over lists of regularizers is not supported"),
    ("regularizer=choice([l2],l1)", "a sweep over lists of regularizers is not supported"),
    ("regularizer=[[l2]]", "option names"),
    ("regularizer=[l2", "not a valid override"),
])
def test_bad_lists_are_one_line_errors(arg: str, message: str) -> None:
    with pytest.raises(DlrunError) as caught:
        expand_list_choice([arg])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_folded_is_the_inverse_for_names_and_manifests() -> None:
    expanded = expand_list_choice(["regularizer=[max_norm,l2]", "regularizer.regularizers.l2.weight=1e-4"])
    assert folded(expanded) == ["regularizer=[max_norm,l2]", "regularizer.regularizers.l2.weight=1e-4"]
    assert job_identity([*expanded, "ckpt_path=x.pt"]) == folded(expanded)
    assert describe(expanded) == "regularizer-max_norm+l2_regularizer.regularizers.l2.weight-1e-4"
    other = ["regularizer=combined", "+regularizer@regularizer.regularizers.noise=input_noise"]
    assert folded(other) == other  # an entry not named after its option stays as written
    assert folded(["regularizer=list", "+regularizer@regularizer.regularizers.n=input_noise"]) == [
        "regularizer=[]", "+regularizer@regularizer.regularizers.n=input_noise"]


def tiny() -> nn.Sequential:
    """Two weight matrices (2x2: [[3,4],[0,-1]]; 1x2: [[2,2]]) with biases 5 (never penalised)."""
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 4.0], [0.0, -1.0]]))
        net[1].weight.fill_(2.0)
        net[0].bias.fill_(5.0)
        net[1].bias.fill_(5.0)
    return net


def test_each_entry_has_its_own_options_and_penalises_weights_only() -> None:
    cfg = compose_config([*expand_list_choice(["regularizer=[l2,l1,max_norm]"]), "regularizer.regularizers.l2.weight=0.1",
                          "regularizer.regularizers.l1.weight=0.01", "regularizer.regularizers.max_norm.max_norm=2.5"])
    reg = build_regularizer(cfg)
    assert isinstance(reg, Combined) and list(reg.regularizers) == ["l2", "l1", "max_norm"]
    assert isinstance(reg.regularizers["l2"], L2Penalty) and isinstance(reg.regularizers["l1"], L1Penalty)
    assert isinstance(reg.regularizers["max_norm"], MaxNormProjection)
    net = tiny()
    # L2: 0.1 * 1/2 * (9 + 16 + 0 + 1 + 4 + 4) = 1.7;  L1: 0.01 * (3 + 4 + 0 + 1 + 2 + 2) = 0.12; biases (5) never
    assert reg.penalty(net).item() == pytest.approx(1.82)
    reg.after_step(net)
    assert net[0].weight.detach()[0].tolist() == pytest.approx([1.5, 2.0])  # row norm 5 -> 2.5
    assert net[1].weight.detach()[0].tolist() == pytest.approx([2.5 / 2**0.5] * 2)  # norm 2√2 -> 2.5
    assert net[0].bias.tolist() == [5.0, 5.0] and net[1].bias.tolist() == [5.0]  # biases untouched


def test_an_entry_s_include_exclude_is_its_own() -> None:
    cfg = compose_config([*expand_list_choice(["regularizer=[l1,l2]"]), "regularizer.regularizers.l2.weight=0.1",
                          "regularizer.regularizers.l2.exclude=['1.*']", "regularizer.regularizers.l1.weight=0.0"])
    # only the first layer for L2: 0.1 * 1/2 * (9 + 16 + 0 + 1) = 1.3; L1 with weight 0 adds nothing
    assert build_regularizer(cfg).penalty(tiny()).item() == pytest.approx(1.3)


def test_a_run_with_a_list_records_it_readably(tmp_path: Path) -> None:
    overrides = ["regularizer=[max_norm,l2]", "regularizer.regularizers.l2.weight=0.5", "trainer.max_epochs=1",
                 "trainer.progress_bar=false"]
    assert train_in_process(overrides, tmp_path / "run") == 0
    results = read_results(tmp_path / "run")
    hparams = results["hparams"]
    assert hparams["regularizer"] == "[max_norm,l2]" and hparams["regularizer.regularizers.l2.weight"] == 0.5
    assert not any("@" in key for key in hparams)  # the entries are implied by the list, not columns of their own
    assert list(results["config"]["regularizer"]["regularizers"]) == ["max_norm", "l2"]
    assert results["config"]["regularizer"]["regularizers"]["l2"]["weight"] == 0.5


def test_a_sweep_with_a_list_names_its_jobs_by_what_varies(tmp_path: Path) -> None:
    import json

    from dlrun.cli import main

    sweep = tmp_path / "sweep"
    code = main(["train", "-m", "regularizer=[max_norm,l2]", "seed=1,2", "trainer.max_epochs=1", "trainer.progress_bar=false",
                 f"hydra.sweep.dir={sweep}"])
    assert code == 0
    manifest = json.loads((sweep / "sweep.json").read_text())
    jobs = [manifest["jobs"][k] for k in ("0", "1")]
    assert [j["dir"] for j in jobs] == ["0_seed-1", "1_seed-2"]  # the list is the same in every job: not in the names
    assert jobs[0]["overrides"][:2] == ["regularizer=[max_norm,l2]", "seed=1"]  # folded, in command-line order
    assert read_results(sweep / "1_seed-2")["hparams"]["regularizer"] == "[max_norm,l2]"
