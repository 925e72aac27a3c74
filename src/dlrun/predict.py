"""`dlrun predict ckpt=PATH ...`: use a trained model on new inputs, from the checkpoint alone (config,
class names, vocabulary and normalisation are inside it; no dataset files are needed).

- `inputs=FILE_OR_DIR [out=FILE.csv] [top_k=3]`: label image files or lines of text (classifiers);
  writes a CSV (input, label, probability, then the top-k classes) and prints a summary.
- `prompt="TEXT" [length=300] [temperature=1.0] [seed=0]`: generate text (language models)."""

from __future__ import annotations

import csv
import io
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from dlrun.errors import DlrunError

USAGE = ('usage: dlrun predict ckpt=PATH inputs=FILE_OR_DIR [out=FILE.csv] [top_k=3] [batch_size=256]\n'
         '       dlrun predict ckpt=PATH prompt="TEXT" [length=300] [temperature=1.0] [seed=0]\n'
         '       (both: [device=cpu] [trust_checkpoint=false])')
OPTIONS = {"ckpt": str, "inputs": str, "out": str, "top_k": int, "batch_size": int, "prompt": str, "length": int,
           "temperature": float, "seed": int, "device": str, "trust_checkpoint": str}
LANGUAGE_MODEL = "dlrun.tasks.language_model.LanguageModelTask"


def parse_args(args: list[str]) -> dict[str, Any]:
    """key=value arguments, typed; unknown keys and bad numbers are one-line errors."""
    options: dict[str, Any] = {"top_k": 3, "batch_size": 256, "length": 300, "temperature": 1.0, "seed": 0, "device": "cpu"}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in OPTIONS:
            raise DlrunError(f"unknown argument '{arg}' (valid keys: {', '.join(OPTIONS)}; {USAGE.splitlines()[0]})")
        try:
            options[key] = OPTIONS[key](value)
        except ValueError:
            raise DlrunError(f"{key}: expected {OPTIONS[key].__name__}, got '{value}'") from None
    if not options.get("ckpt"):
        raise DlrunError(f"missing ckpt= ({USAGE.splitlines()[0]})")
    if not options.get("inputs") and not options.get("prompt"):
        raise DlrunError(f"missing inputs=FILE_OR_DIR (a classifier) or prompt=TEXT (a language model) ({USAGE.splitlines()[0]})")
    if options["length"] < 0 or options["temperature"] < 0:
        raise DlrunError("length and temperature must be >= 0")
    if options["top_k"] < 1 or options["batch_size"] < 1:
        raise DlrunError("top_k and batch_size must be >= 1")
    return options


def load(options: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(config, data module restored from the checkpoint, model on the device in eval mode)."""
    from omegaconf import OmegaConf

    from dlrun import build
    from dlrun.checkpoint import load_checkpoint
    from dlrun.data.base import RestorableData
    from dlrun.devices import resolve_device
    from dlrun.evaluate import check_evaluable
    from dlrun.paths import config_dirs
    from dlrun.trusted_targets import check_stored_targets

    state = load_checkpoint(options["ckpt"])
    check_evaluable(state, options["ckpt"])
    check_stored_targets(state["config"], options["ckpt"], config_dirs(),
                         trust=str(options.get("trust_checkpoint", "false")).lower() in ("true", "1", "yes"))
    cfg = OmegaConf.create(state["config"])
    data = build.build_data(cfg)
    if isinstance(data, RestorableData):
        data.load_state_dict(state.get("data", {}))  # vocabulary, class names, normalisation: no files are read
    model = build.build_model(cfg, data).to(resolve_device(options["device"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise DlrunError(f"checkpoint weights do not fit the model config: {str(err).splitlines()[0]}") from err
    return cfg, data, model.eval()


@runtime_checkable
class TokenEmbedder(Protocol):
    """A text model whose token embedding (an nn.Embedding, one row per vocabulary entry) is `embedding`."""

    embedding: Any


def add_embedding_rows(model: Any, vectors: Any) -> None:
    """Append `vectors` to the model's frozen token embedding: the rows of words the vocabulary gained
    at predict time from the pretrained vectors file (GrowingVocabulary), read exactly as training
    read the file's other words."""
    import torch
    from torch import nn

    if not isinstance(model, TokenEmbedder) or not isinstance(model.embedding, nn.Embedding):
        raise DlrunError(f"{type(model).__name__} has no token embedding (`embedding`) to give the new words' vectors")
    old = model.embedding
    weight = torch.cat([old.weight.detach(), vectors.to(old.weight)])
    model.embedding = nn.Embedding.from_pretrained(weight, freeze=True, padding_idx=old.padding_idx)


def generate_text(options: dict[str, Any], cfg: Any, data: Any, model: Any) -> None:
    """Print the prompt followed by `length` sampled characters."""
    import torch

    from dlrun.tasks.text_generation import generate

    generator = torch.Generator().manual_seed(options["seed"])
    try:
        prompt = data.encode(options["prompt"])
    except DlrunError as err:
        raise DlrunError(f"prompt: {err}") from None
    ids = generate(model, prompt, options["length"], options["temperature"], generator)
    sys.stdout.write(options["prompt"] + data.decode(ids) + "\n")


def probabilities(logits: Any) -> Any:
    """Class probabilities: softmax over C > 1 logits; [1 - p, p] with p = sigmoid for one logit."""
    import torch

    if logits.dim() == 2 and logits.shape[1] > 1:
        return logits.float().softmax(dim=1)
    p = logits.float().reshape(-1).sigmoid()
    return torch.stack([1 - p, p], dim=1)


def label_inputs(options: dict[str, Any], data: Any, model: Any) -> None:
    """Classify the inputs and write the predictions CSV."""
    import torch

    from dlrun.atomic import atomic_write
    from dlrun.data.base import GrowingVocabulary, RawInputs

    if not isinstance(data, RawInputs):
        raise DlrunError(f"predict reads image files and lines of text; {type(data).__name__} data cannot be given as raw inputs")
    source = Path(options["inputs"])
    if not source.exists():
        raise DlrunError(f"inputs not found: {source}")
    out = Path(options.get("out") or Path("outputs") / "predict" / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{secrets.token_hex(3)}" / "predictions.csv")
    if out.is_dir():
        raise DlrunError(f"out={out} is a folder; name a .csv file")
    names, inputs = data.predict_inputs(source)
    if isinstance(data, GrowingVocabulary) and data.added_vectors is not None:
        add_embedding_rows(model, data.added_vectors)
    device, size = next(model.parameters()).device, options["batch_size"]
    with torch.no_grad():
        probs = torch.cat([probabilities(model(*(t[i : i + size].to(device) for t in inputs))).cpu() for i in range(0, len(names), size)])
    labels = list(data.meta.get("class_names") or []) or [str(i) for i in range(probs.shape[1])]
    k = min(options["top_k"], probs.shape[1])
    top_p, top_i = probs.topk(k, dim=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["input", "label", "probability", *[f"{c}_{r}" for r in range(2, k + 1) for c in ("label", "probability")]])
    for name, ps, idx in zip(names, top_p.tolist(), top_i.tolist()):
        ranked = [(labels[i], f"{p:.6f}") for p, i in zip(ps, idx)]
        writer.writerow([name, *ranked[0], *[v for pair in ranked[1:] for v in pair]])
    atomic_write(out, lambda f: f.write(buffer.getvalue().encode()))
    counts = Counter(labels[i] for i in top_i[:, 0].tolist())
    print(f"predicted {len(names)} inputs -> {out}")
    print("labels: " + ", ".join(f"{label} {n}" for label, n in counts.most_common()))


def main(args: list[str]) -> int:
    """Entry of `dlrun predict`."""
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    options = parse_args(args)
    cfg, data, model = load(options)
    is_language_model = cfg.get("task", {}).get("_target_") == LANGUAGE_MODEL
    if options.get("prompt"):
        if not is_language_model:
            raise DlrunError(f"prompt= generates text with language models (task=language_model); {options['ckpt']} is a "
                             f"{str(cfg.get('task', {}).get('_target_')).rsplit('.', 1)[-1]} checkpoint: label inputs with inputs=FILE_OR_DIR")
        generate_text(options, cfg, data, model)
    else:
        if is_language_model:
            raise DlrunError(f"{options['ckpt']} is a language model: generate text with prompt=\"TEXT\"")
        label_inputs(options, data, model)
    return 0
