"""`dlrun predict ckpt=PATH inputs=PATH [out=FILE] [top_k=3]`: label new inputs with a trained model.

The config, class names, vocabulary and normalisation come from the checkpoint; no dataset files
are needed. Writes a CSV (input, label, probability, then the top-k classes) and prints a summary."""

from __future__ import annotations

import csv
import io
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dlrun.errors import DlrunError

USAGE = "usage: dlrun predict ckpt=PATH inputs=FILE_OR_DIR [out=FILE.csv] [top_k=3] [batch_size=256] [trust_checkpoint=false]"
OPTIONS = ("ckpt", "inputs", "out", "top_k", "batch_size", "trust_checkpoint")


def parse_args(args: list[str]) -> dict[str, str]:
    """predict's key=value options (see USAGE)."""
    options: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in OPTIONS:
            raise DlrunError(f"unknown argument '{arg}' ({USAGE})")
        options[key] = value
    for required in ("ckpt", "inputs"):
        if not options.get(required):
            raise DlrunError(f"missing {required}=... ({USAGE})")
    return options


def positive_int(options: dict[str, str], key: str, default: int) -> int:
    """An integer option >= 1."""
    value = options.get(key, str(default))
    if not value.isdigit() or int(value) < 1:
        raise DlrunError(f"{key} must be a whole number >= 1, got '{value}'")
    return int(value)


def probabilities(logits: Any) -> Any:
    """Class probabilities: softmax over C > 1 logits; [1 - p, p] with p = sigmoid for one logit."""
    import torch

    if logits.dim() == 2 and logits.shape[1] > 1:
        return logits.float().softmax(dim=1)
    p = logits.float().reshape(-1).sigmoid()
    return torch.stack([1 - p, p], dim=1)


def load_model_and_data(options: dict[str, str]) -> tuple[Any, Any, list[str]]:
    """(model in eval mode, data module, class names) rebuilt from the checkpoint alone."""
    from omegaconf import OmegaConf

    from dlrun import build
    from dlrun.checkpoint import load_checkpoint
    from dlrun.data.base import RawInputs
    from dlrun.paths import config_dir
    from dlrun.trusted_targets import check_stored_targets

    state = load_checkpoint(options["ckpt"])
    if not isinstance(state.get("config"), dict) or not isinstance(state.get("model"), dict):
        raise DlrunError(f"{options['ckpt']} holds no run config or model weights (was it written by dlrun train?)")
    check_stored_targets(state["config"], options["ckpt"], [config_dir()],
                         trust=options.get("trust_checkpoint", "false").lower() in ("true", "1", "yes"))
    cfg = OmegaConf.create(state["config"])
    data = build.build_data(cfg)
    if not isinstance(data, RawInputs):
        raise DlrunError(f"predict reads image files and lines of text; {type(data).__name__} data cannot be given as raw inputs")
    data.load_state_dict(state.get("data", {}))
    model = build.build_model(cfg, data)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise DlrunError(f"checkpoint weights do not fit the model config: {str(err).splitlines()[0]}") from err
    return model.eval(), data, list(data.meta.get("class_names") or [])


def main(args: list[str]) -> int:
    """Entry of `dlrun predict`."""
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    options = parse_args(args)
    top_k, batch_size = positive_int(options, "top_k", 3), positive_int(options, "batch_size", 256)
    source = Path(options["inputs"])
    if not source.exists():
        raise DlrunError(f"inputs not found: {source}")
    out = Path(options.get("out") or Path("outputs") / "predict" / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{secrets.token_hex(3)}" / "predictions.csv")
    if out.is_dir():
        raise DlrunError(f"out={out} is a folder; name a .csv file")
    import torch

    model, data, class_names = load_model_and_data(options)
    names, inputs = data.predict_inputs(source)
    with torch.no_grad():
        chunks = [probabilities(model(*(t[i : i + batch_size] for t in inputs))) for i in range(0, len(names), batch_size)]
    probs = torch.cat(chunks)
    labels = class_names or [str(i) for i in range(probs.shape[1])]
    k = min(top_k, probs.shape[1])
    top_p, top_i = probs.topk(k, dim=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["input", "label", "probability", *[f"{c}_{r}" for r in range(2, k + 1) for c in ("label", "probability")]])
    for name, ps, idx in zip(names, top_p.tolist(), top_i.tolist()):
        ranked = [(labels[i], f"{p:.6f}") for p, i in zip(ps, idx)]
        writer.writerow([name, *ranked[0], *[v for pair in ranked[1:] for v in pair]])
    from dlrun.atomic import atomic_write

    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(buffer.getvalue().encode()))
    counts = Counter(labels[i] for i in top_i[:, 0].tolist())
    print(f"predicted {len(names)} inputs -> {out}")
    print("labels: " + ", ".join(f"{label} {n}" for label, n in counts.most_common()))
    return 0
