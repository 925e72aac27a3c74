"""dlrun.resume: which config changes a resume may make, and how allowed ones are applied."""

from __future__ import annotations

import pytest
import torch

from dlrun.errors import DlrunError
from dlrun.resume import adjust_state, changed_keys, check_changes, check_state, check_weights, flatten

STORED = {"seed": 42, "optimizer": {"_target_": "torch.optim.Adam", "lr": 0.01}, "model": {"hidden": [64, 64]},
          "trainer": {"max_epochs": 3, "device": "auto", "checkpoint": {"every_n_steps": None}}, "tags": []}


def changed(**keys: object) -> dict:
    new = {k: (dict(v) if isinstance(v, dict) else v) for k, v in STORED.items()}
    for key, value in keys.items():
        group, _, leaf = key.partition("__")
        if leaf:
            new[group] = {**new[group], leaf: value}
        else:
            new[group] = value
    return new


def test_flatten_gives_dotted_leaves() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": {}, "e": None}) == {"a.b": 1, "a.c": [1, 2], "d": {}, "e": None}


def test_changed_keys_lists_old_and_new_values_and_absent_keys() -> None:
    assert changed_keys({"a": {"b": 1}, "x": 1}, {"a": {"b": 2}, "y": 3}) == {
        "a.b": (1, 2), "x": (1, "<absent>"), "y": ("<absent>", 3)}


def test_free_keys_may_change_without_being_recorded() -> None:
    new = changed(trainer__max_epochs=10, trainer__device="cpu", trainer__checkpoint={"every_n_steps": 5}, tags=["a"])
    assert check_changes(STORED, new, epochs_done=3, allowed=[], path="ck.pt") == {}


def test_a_changed_lr_and_seed_are_refused_naming_both() -> None:
    with pytest.raises(DlrunError) as err:
        check_changes(STORED, changed(optimizer__lr=0.1, seed=1), epochs_done=1, allowed=[], path="ck.pt")
    assert str(err.value) == ("resume would change what ck.pt computes (optimizer.lr: 0.01 -> 0.1; seed: 42 -> 1); "
                              "resume with the checkpoint's values, or apply the change with "
                              "resume.allow_changes=[optimizer.lr,seed]")


def test_allowed_changes_are_returned_for_the_record() -> None:
    new = changed(optimizer__lr=0.1, model__hidden=[32])
    assert check_changes(STORED, new, 1, ["optimizer.lr", "model"], "ck.pt") == {
        "optimizer.lr": [0.01, 0.1], "model.hidden": [[64, 64], [32]]}


def test_max_epochs_below_the_epochs_done_is_refused_even_when_allowed() -> None:
    with pytest.raises(DlrunError, match=r"trainer.max_epochs=2 but ck.pt has already trained 3 epochs"):
        check_changes(STORED, changed(trainer__max_epochs=2), 3, ["trainer.max_epochs"], "ck.pt")
    assert check_changes(STORED, changed(trainer__max_epochs=2), 2, [], "ck.pt") == {}  # down to the epochs done


def test_incomplete_state_and_misfitting_weights_name_what_is_wrong() -> None:
    with pytest.raises(DlrunError, match=r"ck.pt lacks optimizer, scaler: it cannot resume"):
        check_state({k: 0 for k in ("model", "schedule", "epoch", "batch_in_epoch", "global_step", "rng", "metrics")}, "ck.pt")
    model = torch.nn.Sequential(torch.nn.Linear(2, 3))
    with pytest.raises(DlrunError, match=r"0.weight has shape \(4, 2\) in the checkpoint, \(3, 2\) in the model"):
        check_weights(model, {"0.weight": torch.zeros(4, 2), "0.bias": torch.zeros(3)}, "ck.pt")
    with pytest.raises(DlrunError, match=r"does not fit this model config: missing 0.bias; 1 missing, 0 unexpected keys"):
        check_weights(model, {"0.weight": torch.zeros(3, 2)}, "ck.pt")


def _trained(lr: float) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.StepLR, torch.nn.Module]:
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(2):
        model(torch.ones(1, 2)).sum().backward()
        opt.step()
        sched.step()
    return opt, sched, model


class _Schedule:
    def __init__(self, scheduler: torch.optim.lr_scheduler.StepLR, lr: float) -> None:
        self.scheduler, self.intended = scheduler, [lr]

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict(), "intended": list(self.intended)}


def test_a_changed_lr_scales_the_current_lr_and_the_schedule() -> None:
    old_opt, old_sched, _ = _trained(0.4)  # two halvings: lr 0.1 now
    state = {"optimizer": old_opt.state_dict(), "schedule": {"scheduler": old_sched.state_dict(), "intended": [0.1]}}
    fresh, sched, model = _trained(0.8)
    out = adjust_state(state, {"optimizer.lr": [0.4, 0.8]}, fresh, _Schedule(sched, 0.8))
    assert out["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.2)  # 0.1 x 0.8/0.4
    assert out["optimizer"]["param_groups"][0]["initial_lr"] == pytest.approx(0.8)
    assert out["schedule"]["scheduler"]["base_lrs"] == [pytest.approx(0.8)]
    assert out["schedule"]["intended"] == [pytest.approx(0.2)]
    assert out["optimizer"]["state"] is state["optimizer"]["state"]  # momentum buffers kept
    opt = torch.optim.SGD(model.parameters(), lr=0.8, momentum=0.9)
    opt.load_state_dict(out["optimizer"])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2)


def test_a_changed_momentum_is_set_and_a_new_optimizer_starts_fresh_at_the_current_lr() -> None:
    old_opt, old_sched, model = _trained(0.4)
    state = {"optimizer": old_opt.state_dict(), "schedule": {"scheduler": old_sched.state_dict(), "intended": [0.1]}}
    fresh = torch.optim.SGD(model.parameters(), lr=0.4, momentum=0.5)
    out = adjust_state(state, {"optimizer.momentum": [0.9, 0.5]}, fresh, _Schedule(old_sched, 0.4))
    assert out["optimizer"]["param_groups"][0]["momentum"] == 0.5 and out["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.1)
    adam = torch.optim.Adam(model.parameters(), lr=0.4)
    out = adjust_state(state, {"optimizer._target_": ["torch.optim.SGD", "torch.optim.Adam"]}, adam, _Schedule(old_sched, 0.4))
    assert out["optimizer"]["state"] == {} and "betas" in out["optimizer"]["param_groups"][0]
    assert out["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.1)
    assert adjust_state(state, {}, adam, None) is state  # nothing to apply


def test_keys_only_one_config_has_are_version_skew_not_changes() -> None:
    older = {**STORED, "trainer": {k: v for k, v in STORED["trainer"].items() if k != "device"}, "dropped": 1}
    assert check_changes(older, changed(optimizer__lr=0.02), 1, ["optimizer.lr"], "ck.pt") == {"optimizer.lr": [0.01, 0.02]}


def test_compiling_logging_grad_flow_and_the_divergence_bound_may_change_on_resume() -> None:
    stored = {**STORED, "trainer": {**STORED["trainer"], "compile": False, "log_grad_flow": False, "divergence_factor": 1e6}}
    new = {**stored, "trainer": {**stored["trainer"], "compile": "max-autotune", "log_grad_flow": True, "divergence_factor": None}}
    assert check_changes(stored, new, epochs_done=3, allowed=[], path="ck.pt") == {}
    new["trainer"]["accumulate_grad_batches"] = 2  # not free: the same check still refuses other keys
    with pytest.raises(DlrunError, match="accumulate_grad_batches"):
        check_changes({**stored, "trainer": {**stored["trainer"], "accumulate_grad_batches": 1}}, new, epochs_done=3,
                      allowed=[], path="ck.pt")
