"""What a command-line override says: the key it sets, and whether it defines what a run computes or
only steers it (sweep.*, ckpt_path, hydra.*)."""

from __future__ import annotations


def override_key(override: str) -> str:
    """`+a.b=1` -> `a.b` (the config key an override sets)."""
    return override.lstrip("+~").split("=", 1)[0]


RUN_CONTROL = ("sweep", "ckpt_path", "resume", "hydra")  # keys that steer a run but never change what it computes


def is_run_control(key: str) -> bool:
    """`sweep.*` (resume, on_error, gpus), `ckpt_path`, `resume.*` and Hydra's own settings."""
    return any(key == k or key.startswith((k + ".", k + "/")) for k in RUN_CONTROL)


def job_identity(overrides: list[str]) -> list[str]:
    """The overrides that define what a job computes (run-control keys left out)."""
    return [o for o in overrides if not is_run_control(override_key(o))]
