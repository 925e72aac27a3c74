"""`dlrun eval ckpt=PATH [key=value ...]`: test a checkpoint with the config stored in it."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlrun.errors import DlrunError, UnknownSplit, one_line

USAGE = ("usage: dlrun eval ckpt=PATH[,PATH...|SWEEP_DIR] [mc_dropout=N] [split=test] [out_dir=DIR] [trust_checkpoint=false] [config.key=value ...]\n"
         "       dlrun eval model=identity dataset=... task=... [split=test] [out_dir=DIR]  (a model without parameters)")


SPLITS = ("train", "val", "test")


def check_evaluable(state: dict[str, Any], path: str) -> None:
    """A checkpoint to evaluate holds a run config and finite model weights (NaN weights would
    report chance-level metrics with exit 0)."""
    import torch

    if not isinstance(state.get("config"), dict):
        raise DlrunError(f"{path} holds no run config (was it written by dlrun train?)")
    weights = state.get("model")
    if not isinstance(weights, dict) or not weights:
        raise DlrunError(f"{path} holds no model weights")
    for name, tensor in weights.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise DlrunError(f"{path} holds non-finite weights (NaN or inf in {name}); evaluate an earlier checkpoint")


def parse_args(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """Split `key=value` args into eval options (ckpt, split, out_dir) and config overrides."""
    options: dict[str, str] = {}
    overrides: list[str] = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise DlrunError(f"expected key=value, got '{arg}' ({USAGE})")
        if key in ("ckpt", "split", "out_dir", "trust_checkpoint", "mc_dropout"):
            options[key] = value
        else:
            overrides.append(arg)
    return options, overrides


def config_without_checkpoint(overrides: list[str]) -> DictConfig:
    """The train config composed from `overrides` (group choices, experiment=...), for evaluating a
    model that has nothing to load (e.g. model=identity, raw pixels)."""
    from dlrun.preflight import compose
    from dlrun.rundir import register_resolvers

    register_resolvers()
    return compose(overrides)


def check_needs_no_weights(model: Any, cfg: DictConfig) -> None:
    """Without a checkpoint only a parameter-free model may be evaluated (anything else would be
    an untrained network by mistake)."""
    if next(iter(model.parameters()), None) is not None:
        name = str(cfg.model.get("_target_", "the model")).rsplit(".", 1)[-1]
        raise DlrunError(f"missing ckpt=PATH: {name} has parameters to load; only a model without parameters "
                         f"(model=identity) is evaluated from a config alone ({USAGE.splitlines()[0]})")


def apply_overrides(cfg: DictConfig, overrides: list[str]) -> None:
    """Set existing keys of the stored config (e.g. trainer.device=cpu); unknown keys are errors."""
    for override in overrides:
        key = override.split("=", 1)[0]
        parent, _, leaf = key.rpartition(".")
        node: Any = OmegaConf.select(cfg, parent) if parent else cfg
        if not isinstance(node, DictConfig) or leaf not in node:
            valid = ", ".join(sorted(str(k) for k in node.keys())) if isinstance(node, DictConfig) else ""
            raise DlrunError(f"unknown key '{key}' in the checkpoint's config (valid keys here: {valid})")
        value = OmegaConf.from_dotlist([override])
        OmegaConf.update(cfg, key, OmegaConf.select(value, key), merge=False)


def claim_out_dir(requested: str | None) -> Path:
    """Eval's own fresh dir: `out_dir` if it holds no run's files (it is never shared with a training
    run or another eval), else a new outputs/eval/<date>_<time>_<random>/."""
    from dlrun.rundir import check_fresh, create_exclusive

    if requested:
        path = Path(requested).expanduser().absolute()
        check_fresh(path, "out_dir", "eval writes its results into a dir of its own, never into a run's")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DlrunError(f"cannot create out_dir {path}: {err.strerror or err}") from err
        return path
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    return create_exclusive(lambda: str(Path("outputs") / "eval" / f"{stamp}_{secrets.token_hex(3)}"), redraw=True)[0]


def main(args: list[str]) -> int:
    """Entry of `dlrun eval`."""
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    options, overrides = parse_args(args)
    from dlrun.failure import Failure, guarded
    from dlrun.results import Results

    started = time.time()
    mc_dropout = options.get("mc_dropout", "0")
    if not mc_dropout.isdigit():
        raise DlrunError(f"mc_dropout must be a number of passes >= 0, got '{mc_dropout}'")
    members: list[tuple[dict[str, Any], DictConfig]] = []
    if "ckpt" in options:
        from dlrun.ensemble import checkpoint_paths

        # several checkpoints (a list or a sweep's folder): an ensemble of them (dlrun.ensemble)
        members = [load_for_eval(str(path), options, overrides) for path in checkpoint_paths(options["ckpt"])]
        state, cfg = members.pop(0)
    else:
        if not overrides:
            raise DlrunError(f"missing ckpt=PATH ({USAGE.splitlines()[0]})")
        state = {}
        cfg = config_without_checkpoint(overrides)
    split = options.get("split", "test")
    if split not in SPLITS:
        raise UnknownSplit(split, SPLITS)
    out_dir = claim_out_dir(options.get("out_dir"))

    def failed(failure: Failure) -> None:
        Results(status=failure.status, error=failure.message, ckpt=options.get("ckpt"), split=split,
                wall_time_s=round(time.time() - started, 3), overrides=overrides).write(out_dir)

    metrics = guarded(lambda: evaluate(cfg, state, split, out_dir, members, int(mc_dropout)), out_dir, failed)
    assert metrics is not None  # a single run exits on failure
    Results(status="completed", ckpt=options.get("ckpt"), split=split, test=metrics, epoch=state.get("epoch"),
            wall_time_s=round(time.time() - started, 3), overrides=overrides, config=OmegaConf.to_container(cfg)).write(out_dir)
    source = f"{options['ckpt']} (epoch {state.get('epoch')})" if state else f"{cfg.model.get('_target_')} (no checkpoint)"
    print(f"dlrun eval: {source} on {split}")
    print("  " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    print(f"  results: {out_dir}")
    return 0


def load_for_eval(path: str, options: dict[str, str], overrides: list[str]) -> tuple[dict[str, Any], DictConfig]:
    """(state, config) of a checkpoint to evaluate, checked (config, finite weights, digest, targets)
    and with the command's overrides applied."""
    from dlrun.checkpoint import load_checkpoint, verify_digest
    from dlrun.paths import config_dirs
    from dlrun.trusted_targets import check_stored_targets

    state = load_checkpoint(path, verify=False)
    check_evaluable(state, path)
    cfg = OmegaConf.create(state["config"])
    if "model" not in cfg or "dataset" not in cfg:
        raise DlrunError(f"{path} holds no run config (was it written by dlrun train?)")
    verify_digest(state, path)  # after the content checks, whose messages say more
    check_stored_targets(state["config"], path, config_dirs(),
                         trust=options.get("trust_checkpoint", "false").lower() in ("true", "1", "yes"))
    apply_overrides(cfg, overrides)
    return state, cfg


def evaluate(cfg: DictConfig, state: dict[str, Any], split: str, out_dir: Path,
             members: list[tuple[dict[str, Any], DictConfig]] | None = None, mc_dropout: int = 0) -> dict[str, float]:
    """Build from `cfg`, load the checkpoint's weights (if any), evaluate on `split` and write the
    task's artifacts into `out_dir`; returns the metrics. With `members` (more checkpoints) or
    `mc_dropout` passes: the averaged model's metrics, then each model's alone (dlrun.ensemble)."""
    from dlrun import build
    from dlrun.data.base import RestorableData
    from dlrun.resume import weights_problem
    from dlrun.run_logger import RunLogger
    from dlrun.seeding import seed_everything

    seed_everything(int(cfg.get("seed", 0)))
    logger = RunLogger(out_dir)
    try:
        trainer = build.build_trainer(cfg, out_dir, logger)
        data = build.build_data(cfg)
        if isinstance(data, RestorableData):
            data.load_state_dict(state.get("data", {}))
        data.setup(trainer.device)
        model = build.build_model(cfg, data).to(trainer.device)
        if not state:
            check_needs_no_weights(model, cfg)
        problem = weights_problem(model, state["model"]) if state else None
        if problem is not None:  # named by key, not torch's multi-line report
            raise DlrunError(f"checkpoint weights do not fit the model config: {problem}")
        try:
            if state:
                model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise DlrunError(f"checkpoint weights do not fit the model config: {one_line(str(err).splitlines()[0])}") from err
        task = build.build_task(cfg)
        task.setup(data, trainer.device)
        if members or mc_dropout:
            from dlrun.ensemble import evaluate_averaged, member_models

            models = [model, *member_models(members or [], data, trainer.device)]
            metrics, model = evaluate_averaged(trainer, task, data, split, models, mc_dropout)
        else:
            metrics = trainer.evaluate(task, model, data, split)
        task.write_artifacts(model, data, out_dir, logger)
        logger.scalars(metrics, 0)
    finally:
        logger.close()
    return metrics
