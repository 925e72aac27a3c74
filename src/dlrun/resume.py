"""Resume means the same run: the config stored in a checkpoint is compared with the new one. Keys
that only steer a run (more epochs, logging, checkpoint cadence, device, progress bar, where the data
lives, trainer.max_epochs down to the epochs already trained) may change; any other change is refused with one line naming the keys, unless
`resume.allow_changes=[...]` names them, in which case it is applied for real (the optimizer's
hyperparameters set in its param groups, a new optimizer or schedule started fresh) and recorded."""

from __future__ import annotations

from typing import Any

from dlrun.errors import DlrunError

# keys that may change on resume (a key equal to one of these or below it)
MAY_CHANGE = ("trainer.log_every_n_steps", "trainer.checkpoint", "trainer.device", "trainer.progress_bar",
              "trainer.compile", "trainer.log_grad_flow", "trainer.divergence_factor",
              "ckpt_path", "sweep", "resume", "name", "tags", "optimized_metric",
              "dataset.root", "dataset.download", "dataset.mirrors")
MAX_EPOCHS = "trainer.max_epochs"
REQUIRED = ("model", "optimizer", "schedule", "scaler", "epoch", "batch_in_epoch", "global_step", "rng", "metrics")
ABSENT = "<absent>"


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted key: leaf value} (lists and empty dicts are leaves)."""
    if isinstance(node, dict) and node:
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: node}


def _may_change(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in MAY_CHANGE)


def changed_keys(stored: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Every dotted key whose value differs between the stored and the new config: {key: (old, new)}."""
    old_flat, new_flat = flatten(stored), flatten(new)
    keys = sorted(set(old_flat) | set(new_flat))
    return {k: (old_flat.get(k, ABSENT), new_flat.get(k, ABSENT)) for k in keys
            if old_flat.get(k, ABSENT) != new_flat.get(k, ABSENT)}


def _covered(key: str, allowed: list[str]) -> bool:
    return any(key == a or key.startswith(a + ".") for a in allowed)


def check_changes(stored: dict[str, Any], new: dict[str, Any], epochs_done: int, allowed: list[str],
                  path: str) -> dict[str, list[Any]]:
    """The changes a resume from `path` applies ({key: [old, new]}, for results.json); raises
    DlrunError for a change not allowed (max_epochs below the epochs already trained, or a key
    neither free to change nor named in resume.allow_changes). A key only one of the two configs
    has is a difference of dlrun versions (a checkpoint of an older dlrun stays resumable)."""
    changes = changed_keys(stored, new)
    max_epochs = changes.get(MAX_EPOCHS, (None, new.get("trainer", {}).get("max_epochs")))[1]
    if isinstance(max_epochs, int) and max_epochs < epochs_done:
        raise DlrunError(f"resume: trainer.max_epochs={max_epochs} but {path} has already trained {epochs_done} epochs; "
                         f"set trainer.max_epochs to {epochs_done} or more")
    refused = []
    for key, (old, value) in changes.items():
        more_epochs = key == MAX_EPOCHS and isinstance(value, int)  # >= epochs_done, checked above
        version_skew = ABSENT in (old, value)  # a key another dlrun version added or dropped
        if not (more_epochs or version_skew or _may_change(key) or _covered(key, allowed)):
            refused.append(f"{key}: {old!r} -> {value!r}")
    if refused:
        keys = ",".join(r.split(":", 1)[0] for r in refused)
        raise DlrunError(f"resume would change what {path} computes ({'; '.join(refused)}); resume with the "
                         f"checkpoint's values, or apply the change with resume.allow_changes=[{keys}]")
    return {k: [old, value] for k, (old, value) in changes.items() if _covered(k, allowed)}


def check_state(state: dict[str, Any], path: str) -> None:
    """A checkpoint to resume holds every part of the training state."""
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise DlrunError(f"{path} lacks {', '.join(missing)}: it cannot resume a run (an incomplete or foreign checkpoint)")


def weights_problem(model: Any, weights: dict[str, Any]) -> str | None:
    """Why a checkpoint's weights do not fit `model` (the first missing, unexpected or differently
    shaped parameter, by name), or None when they fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    if missing or unexpected:
        what = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        return f"{what}; {len(missing)} missing, {len(unexpected)} unexpected keys"
    for key, tensor in own.items():
        shape = tuple(getattr(weights[key], "shape", ()))
        if shape != tuple(tensor.shape):
            return f"{key} has shape {shape} in the checkpoint, {tuple(tensor.shape)} in the model"
    return None


def check_weights(model: Any, weights: dict[str, Any], path: str) -> None:
    """The checkpoint's weights fit `model`, else one line naming the first key that differs."""
    problem = weights_problem(model, weights)
    if problem is not None:
        raise DlrunError(f"checkpoint {path} does not fit this model config: {problem}")


def adjust_state(state: dict[str, Any], changes: dict[str, list[Any]], optimizer: Any, schedule: Any) -> dict[str, Any]:
    """The checkpoint's training state with the allowed changes applied: a new optimizer or
    schedule (a changed `_target_`, or any scheduler change) starts fresh, changed optimizer
    hyperparameters are set in every param group, and a changed lr scales the current lr, the
    schedule's base lrs and its intended lrs by new/old."""
    if not any(k.startswith(("optimizer.", "scheduler.")) for k in changes):
        return state
    state = dict(state)
    fresh_groups = optimizer.state_dict()["param_groups"]
    if "optimizer._target_" in changes:
        old_lrs = [g["lr"] for g in state["optimizer"]["param_groups"]]
        state["optimizer"] = optimizer.state_dict()
        for group, lr in zip(state["optimizer"]["param_groups"], old_lrs):
            group["lr"] = lr
    else:
        groups = [dict(g) for g in state["optimizer"]["param_groups"]]
        for key in changes:
            name = key.split(".", 1)[1] if key.startswith("optimizer.") else None
            if name and name != "lr" and "." not in name and all(name in g for g in fresh_groups):
                for group, fresh in zip(groups, fresh_groups):
                    group[name] = fresh[name]
        state["optimizer"] = {**state["optimizer"], "param_groups": groups}
    if any(k.startswith("scheduler.") for k in changes):
        state["schedule"] = schedule.state_dict()
        for group, fresh in zip(state["optimizer"]["param_groups"], fresh_groups):
            group["lr"] = fresh["lr"]
            if "initial_lr" in fresh:
                group["initial_lr"] = fresh["initial_lr"]
        return state
    if "optimizer.lr" in changes:
        old, new = changes["optimizer.lr"]
        if isinstance(old, (int, float)) and isinstance(new, (int, float)) and old > 0:
            state["optimizer"], state["schedule"] = _scaled_lr(state["optimizer"], state["schedule"], new / old)
    return state


LR_KEYS = ("lr", "initial_lr", "base_lrs", "_last_lr", "intended")


def _scaled(value: Any, factor: float) -> Any:
    """Every learning rate in a (nested) optimizer or scheduler state multiplied by `factor`."""
    if isinstance(value, dict):
        return {k: (_scale_lr(v, factor) if k in LR_KEYS else _scaled(v, factor)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scaled(v, factor) for v in value]
    return value


def _scale_lr(value: Any, factor: float) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value * factor
    if isinstance(value, list):
        return [_scale_lr(v, factor) for v in value]
    return value


def _scaled_lr(optimizer_state: dict[str, Any], schedule_state: dict[str, Any], factor: float) -> tuple[dict[str, Any], dict[str, Any]]:
    groups = [_scaled(dict(g), factor) for g in optimizer_state["param_groups"]]
    return {**optimizer_state, "param_groups": groups}, _scaled(schedule_state, factor)


def preflight(cfg: Any) -> None:
    """Before a run dir is claimed: a `ckpt_path` to resume loads, holds a whole training state and
    its config differs from `cfg` (composed, with its hydra node) only where it may."""
    from omegaconf import OmegaConf

    from dlrun.checkpoint import load_checkpoint

    if not cfg.get("ckpt_path"):
        return
    path = str(cfg.ckpt_path)
    state = load_checkpoint(path)
    check_state(state, path)
    new = {str(k): _plain(cfg[k]) for k in cfg if k != "hydra"}  # hydra's node resolves only inside a job
    allowed = [str(k) for k in (OmegaConf.select(cfg, "resume.allow_changes") or [])]
    check_changes(state.get("config") or {}, new, int(state["epoch"]), allowed, path)


def _plain(value: Any) -> Any:
    from omegaconf import Container, OmegaConf

    return OmegaConf.to_container(value, resolve=True) if isinstance(value, Container) else value
