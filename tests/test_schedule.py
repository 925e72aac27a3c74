"""Every scheduler option's lr trajectory against its formula (stepped the way the Trainer does)."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import compose_config
from dlrun.schedulers.schedule import build_schedule

LR0 = 0.1


def trajectory(overrides: list[str], epochs: int, steps_per_epoch: int, metrics: list[float] | None = None) -> list[list[float]]:
    """lrs[e][s]: the lr used by optimizer step s of epoch e (0-based)."""
    cfg = compose_config(["optimizer=sgd", f"optimizer.lr={LR0}", f"trainer.max_epochs={epochs}", *overrides])
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR0)
    schedule = build_schedule(cfg.scheduler, optimizer, steps_per_epoch, epochs)
    lrs, step = [], 0
    for epoch in range(epochs):
        row = []
        for s in range(steps_per_epoch):
            row.append(schedule.lr)
            optimizer.step()
            step += 1
            schedule.on_step(step, epoch + (s + 1) / steps_per_epoch)
        lrs.append(row)
        schedule.on_epoch_end(step, metrics[epoch] if metrics else None)
    return lrs


def per_epoch(lrs: list[list[float]]) -> list[float]:
    assert all(len(set(row)) == 1 for row in lrs), "an epoch-interval schedule changed lr inside an epoch"
    return [row[0] for row in lrs]


def test_none_is_constant() -> None:
    assert per_epoch(trajectory(["scheduler=none"], 4, 3)) == [LR0] * 4


def test_step() -> None:
    got = per_epoch(trajectory(["scheduler=step", "scheduler.scheduler.step_size=2", "scheduler.scheduler.gamma=0.5"], 6, 2))
    assert got == pytest.approx([LR0 * 0.5 ** (e // 2) for e in range(6)])


def test_piecewise_course_form() -> None:
    got = per_epoch(trajectory(["scheduler=piecewise"], 8, 2))
    # course lab 2: {1: 0.1, 3: 0.01, 5: 1e-3, 7: 1e-4}, 1-based epochs
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-3, 1e-3, 1e-4, 1e-4])


def test_piecewise_keeps_optimizer_lr_before_first_key() -> None:
    got = per_epoch(trajectory(["scheduler=piecewise", "scheduler.scheduler.values={3: 0.5}"], 4, 1))
    assert got == pytest.approx([LR0, LR0, 0.5, 0.5])


def test_exponential() -> None:
    got = per_epoch(trajectory(["scheduler=exponential", "scheduler.scheduler.gamma=0.95"], 5, 2))
    assert got == pytest.approx([LR0 * 0.95**e for e in range(5)])


def test_cosine_defaults_to_max_epochs() -> None:
    got = per_epoch(trajectory(["scheduler=cosine", "scheduler.scheduler.eta_min=0.001"], 6, 2))
    want = [0.001 + (LR0 - 0.001) * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(6)]
    assert got == pytest.approx(want)


def test_cosine_warm_restarts_uses_fractional_epochs() -> None:
    lrs = trajectory(["scheduler=cosine_warm_restarts", "scheduler.scheduler.T_0=2", "scheduler.scheduler.T_mult=2"], 6, 4)
    flat = [lr for row in lrs for lr in row]

    def sgdr(t: float) -> float:  # T_0 = 2, T_mult = 2: cycles [0, 2), [2, 6), ...
        start, length = 0.0, 2.0
        while t >= start + length:
            start, length = start + length, length * 2
        return LR0 * (1 + math.cos(math.pi * (t - start) / length)) / 2

    assert flat == pytest.approx([sgdr(i / 4) for i in range(24)], abs=1e-9)
    assert flat[1] < flat[0]  # lr changes inside the first epoch


def test_linear_decay_course_formula() -> None:
    got = per_epoch(trajectory(["scheduler=linear", "scheduler.scheduler.total_iters=4", "scheduler.scheduler.end_factor=0.01"], 7, 1))
    eps_tau = 0.01 * LR0
    want = [(1 - min(k, 4) / 4) * LR0 + (min(k, 4) / 4) * eps_tau for k in range(7)]
    assert got == pytest.approx(want)
    assert got[4:] == pytest.approx([eps_tau] * 3)


def test_plateau_reduces_after_patience() -> None:
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    got = per_epoch(trajectory(["scheduler=plateau", "scheduler.scheduler.patience=2", "scheduler.scheduler.factor=0.5"], 7, 1, metrics))
    # best 0.9 at epoch 2; epochs 3, 4 are within patience; the 3rd bad epoch (5) halves the lr
    assert got == pytest.approx([LR0, LR0, LR0, LR0, LR0, 0.05, 0.05])


def test_onecycle_spans_all_steps() -> None:
    lrs = trajectory(["scheduler=onecycle", "scheduler.scheduler.max_lr=1.0", "scheduler.scheduler.pct_start=0.25"], 4, 5)
    flat = [lr for row in lrs for lr in row]
    assert flat[0] == pytest.approx(1.0 / 25)
    assert max(flat) == pytest.approx(1.0) and flat.index(max(flat)) == 4  # 0.25 * 20 - 1
    assert flat[-1] == pytest.approx(1.0 / 25 / 1e4)  # initial_lr / final_div_factor at the last step


def test_linear_warmup_then_schedule() -> None:
    lrs = trajectory(["scheduler=exponential", "scheduler.scheduler.gamma=0.5", "scheduler.warmup_steps=4"], 3, 3)
    flat = [lr for row in lrs for lr in row]
    # steps 0..3 warm up (s+1)/4 of the scheduled lr; the epoch-1 decay applies from step 3 on
    assert flat[:3] == pytest.approx([LR0 * 0.25, LR0 * 0.5, LR0 * 0.75])
    assert flat[3] == pytest.approx(LR0 * 0.5 * 1.0)
    assert flat[4:6] == pytest.approx([LR0 * 0.5] * 2)
    assert flat[6:] == pytest.approx([LR0 * 0.25] * 3)


def test_schedule_state_round_trips_through_safe_load(tmp_path) -> None:
    from dlrun.checkpoint import load_checkpoint, save_checkpoint
    from dlrun.paths import config_groups

    for option in config_groups()["scheduler"]:
        cfg = compose_config([f"scheduler={option}", "trainer.max_epochs=3"])
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR0)
        schedule = build_schedule(cfg.scheduler, optimizer, 2, 3)
        optimizer.step()
        schedule.on_step(1, 0.5)
        schedule.on_epoch_end(1, 1.0)
        save_checkpoint({"schedule": schedule.state_dict()}, tmp_path / f"{option}.pt")
        restored = load_checkpoint(tmp_path / f"{option}.pt")["schedule"]
        schedule.load_state_dict(restored)


def test_step_interval_warmup_then_schedule_over_the_rest() -> None:
    """interval step: (s+1)/w of lr0 for w steps (LinearLR), then the schedule over the remaining steps (SequentialLR)."""
    lrs = trajectory(["scheduler=cosine", "scheduler.interval=step", "scheduler.warmup_steps=4"], 3, 4)
    flat = [lr for row in lrs for lr in row]
    assert flat[:4] == pytest.approx([LR0 * (s + 1) / 4 for s in range(4)])
    # T_max null: the 12 - 4 steps after the warmup
    assert flat[4:] == pytest.approx([LR0 * (1 + math.cos(math.pi * t / 8)) / 2 for t in range(8)])


def test_onecycle_with_warmup_fits_the_run() -> None:
    lrs = trajectory(["scheduler=onecycle", "scheduler.scheduler.max_lr=1.0", "scheduler.warmup_steps=3"], 2, 5)
    flat = [lr for row in lrs for lr in row]
    assert flat[:3] == pytest.approx([1 / 25 * (s + 1) / 3 for s in range(3)])
    assert flat[3] == pytest.approx(1.0 / 25)  # the cycle starts after the warmup, over the 7 steps left


def test_every_scheduler_yaml_names_the_schedule() -> None:
    """One hop: the option's `_target_` is the code that acts on interval, warmup_steps and null lengths."""
    from dlrun.paths import config_groups
    from dlrun.schedulers.schedule import Schedule

    for option in config_groups()["scheduler"]:
        cfg = compose_config([f"scheduler={option}"])
        assert cfg.scheduler._target_ == f"{Schedule.__module__}.{Schedule.__name__}", option
        assert set(cfg.scheduler) == {"_target_", "_partial_", "interval", "warmup_steps", "scheduler"}, option


def test_sequential_warmup_resumes_exactly(tmp_path) -> None:
    """A step-interval warmup (SequentialLR) saved mid-cycle continues on the same lr curve."""
    from dlrun.checkpoint import load_checkpoint, save_checkpoint

    cfg = compose_config(["scheduler=onecycle", "scheduler.warmup_steps=3", "trainer.max_epochs=3"])

    def fresh():  # type: ignore[no-untyped-def]
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR0)
        return optimizer, build_schedule(cfg.scheduler, optimizer, 4, 3)

    (opt_a, a), (opt_b, b) = fresh(), fresh()
    for step in range(1, 6):
        opt_a.step()
        a.on_step(step, 0.0)
    save_checkpoint({"schedule": a.state_dict()}, tmp_path / "s.pt")
    b.load_state_dict(load_checkpoint(tmp_path / "s.pt")["schedule"])
    for step in range(6, 13):
        opt_a.step()
        a.on_step(step, 0.0)
        opt_b.step()
        b.on_step(step, 0.0)
        assert b.lr == pytest.approx(a.lr, abs=1e-12)


def test_constant_factor_zero_is_refused_before_training() -> None:
    # torch's ConstantLR divides the lr by `factor` when its constant phase ends: 0 would crash mid-run
    from dlrun.errors import DlrunError

    with pytest.raises(DlrunError, match="scheduler: factor must be > 0"):
        trajectory(["scheduler.scheduler.factor=0"], epochs=2, steps_per_epoch=1)
    assert trajectory(["scheduler.scheduler.factor=0.5", "scheduler.scheduler.total_iters=1"], epochs=2, steps_per_epoch=1) == [[0.05], [0.1]]
