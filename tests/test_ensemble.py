"""Evaluation ensembles and MC dropout (dlrun.ensemble, `dlrun eval ckpt=a,b mc_dropout=N`): averaged
probabilities by hand, MC dropout against the exact expectation over all masks, and the eval command."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import train_in_process
from dlrun.ensemble import AveragedProbabilities, average_probabilities, checkpoint_paths
from dlrun.errors import DlrunError


def test_probabilities_are_averaged_not_logits() -> None:
    a = torch.tensor([[0.0, math.log(3)]])  # p = (1/4, 3/4)
    b = torch.tensor([[math.log(3), 0.0]])  # p = (3/4, 1/4)
    assert average_probabilities([a, b]).exp()[0].tolist() == pytest.approx([0.5, 0.5])
    single = average_probabilities([torch.tensor([0.0]), torch.tensor([math.log(3)])])  # sigmoid: 1/2 and 3/4
    assert single.item() == pytest.approx(math.log(0.625 / 0.375), rel=1e-5)  # logit of 5/8
    with pytest.raises(DlrunError, match="classification models only"):
        average_probabilities([torch.zeros(2, 3, 4)])


def test_mc_dropout_converges_to_the_expectation_over_masks() -> None:
    # the lecture's dropout exercise: W, b, x = (1, 1, 1); here one drop probability 0.5 (keep 0.5)
    linear = nn.Linear(3, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[-0.1, 0.4, -0.6], [0.2, -0.3, 0.5]]))
        linear.bias.copy_(torch.tensor([0.2, -0.2]))
    model = nn.Sequential(nn.Dropout(0.5), linear).eval()
    x = torch.ones(1, 3)
    assert model(x)[0].tolist() == pytest.approx([-0.1 + 0.4 - 0.6 + 0.2, 0.2 - 0.3 + 0.5 - 0.2])  # eval: W x + b = [-0.1, 0.2]
    exact = sum(0.5**3 * torch.softmax(linear(torch.tensor([mask]) / 0.5), dim=1)
                for mask in itertools.product([0.0, 1.0], repeat=3))
    torch.manual_seed(0)
    mc = AveragedProbabilities([model], mc_dropout=20_000).eval()
    estimate = mc(x).exp()
    assert estimate.tolist()[0] == pytest.approx(exact.tolist()[0], abs=0.005)
    assert not model[0].training  # dropout back to eval after the passes
    assert estimate.tolist()[0] != pytest.approx(torch.softmax(model(x), dim=1).tolist()[0], abs=0.005)  # not weight scaling


def test_mc_dropout_needs_dropout() -> None:
    with pytest.raises(DlrunError, match="no dropout layer"):
        AveragedProbabilities([nn.Linear(3, 2)], mc_dropout=5)


def test_checkpoint_paths_from_a_list_or_a_sweep_folder(tmp_path: Path) -> None:
    for job in ("0_seed-1", "1_seed-2", "1_seed-2/retrain"):
        (tmp_path / "sweep" / job / "checkpoints").mkdir(parents=True)
        (tmp_path / "sweep" / job / "checkpoints" / "best.pt").touch()
    found = checkpoint_paths(str(tmp_path / "sweep"))
    assert [p.parent.parent.name for p in found] == ["0_seed-1", "1_seed-2"]  # a 7.2/7.3 retrain/ is not a member
    assert checkpoint_paths("a.pt,b.pt") == [Path("a.pt"), Path("b.pt")]
    with pytest.raises(DlrunError, match="without any"):
        checkpoint_paths(str(tmp_path / "sweep" / "0_seed-1" / "checkpoints"))


def test_eval_of_two_seeds_reports_the_ensemble_and_each_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlrun.cli import main

    for seed in (1, 2):
        overrides = [f"seed={seed}", "model.dropout=0.2", "trainer.max_epochs=2", "trainer.progress_bar=false"]
        assert train_in_process(overrides, tmp_path / "runs" / f"seed{seed}") == 0
    assert main(["eval", f"ckpt={tmp_path / 'runs'}", f"out_dir={tmp_path / 'eval'}"]) == 0
    test = json.loads((tmp_path / "eval" / "results.json").read_text())["test"]
    assert {"test/loss", "test/acc", "model1/test/acc", "model2/test/acc"} <= set(test)
    # -log of a mean probability <= the mean of -log p (Jensen): the ensemble's loss is at most the members' mean
    assert test["test/loss"] <= (test["model1/test/loss"] + test["model2/test/loss"]) / 2 + 1e-6
    assert main(["eval", f"ckpt={tmp_path / 'runs' / 'seed1' / 'checkpoints' / 'best.pt'}", f"out_dir={tmp_path / 'mc'}", "mc_dropout=3"]) == 0
    mc = json.loads((tmp_path / "mc" / "results.json").read_text())["test"]
    assert set(mc) == {"test/loss", "test/acc", "test/f1", "model1/test/loss", "model1/test/acc", "model1/test/f1"}
    assert mc["model1/test/loss"] == pytest.approx(test["model1/test/loss"])  # the deterministic pass, as before
    assert main(["eval", f"ckpt={tmp_path / 'runs'}", "mc_dropout=x"]) != 0
    assert "mc_dropout must be" in capsys.readouterr().err
