"""`dlrun predict ckpt=PATH prompt="..." [length=300] [temperature=1.0] [seed=0] [device=cpu]`:
text from a language-model checkpoint (model and vocabulary rebuilt from what the checkpoint holds)."""

from __future__ import annotations

import sys
from typing import Any

from dlrun.errors import DlrunError

USAGE = 'usage: dlrun predict ckpt=PATH prompt="TEXT" [length=300] [temperature=1.0] [seed=0] [device=cpu]'
OPTIONS = {"ckpt": str, "prompt": str, "length": int, "temperature": float, "seed": int, "device": str}
SUPPORTED_TASKS = ("dlrun.tasks.language_model.LanguageModelTask",)


def parse_args(args: list[str]) -> dict[str, Any]:
    """key=value arguments, typed; unknown keys and bad numbers are one-line errors."""
    options: dict[str, Any] = {"length": 300, "temperature": 1.0, "seed": 0, "device": "cpu"}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in OPTIONS:
            raise DlrunError(f"unknown argument '{arg}' (valid keys: {', '.join(OPTIONS)}; {USAGE})")
        try:
            options[key] = OPTIONS[key](value)
        except ValueError:
            raise DlrunError(f"{key}: expected {OPTIONS[key].__name__}, got '{value}'") from None
    for key in ("ckpt", "prompt"):
        if not options.get(key):
            raise DlrunError(f"missing {key}= ({USAGE})")
    if options["length"] < 0 or options["temperature"] < 0:
        raise DlrunError("length and temperature must be >= 0")
    return options


def main(args: list[str]) -> int:
    """Entry of `dlrun predict`: prints the prompt followed by the generated text."""
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    options = parse_args(args)
    import torch
    from omegaconf import OmegaConf

    from dlrun import build
    from dlrun.checkpoint import load_checkpoint
    from dlrun.evaluate import check_evaluable
    from dlrun.tasks.text_generation import generate
    from dlrun.trainer import resolve_device

    state = load_checkpoint(options["ckpt"])
    check_evaluable(state, options["ckpt"])
    cfg = OmegaConf.create(state["config"])
    target = cfg.get("task", {}).get("_target_")
    if target not in SUPPORTED_TASKS:
        raise DlrunError(f"dlrun predict supports language models (task=language_model) for now; "
                         f"{options['ckpt']} is a {str(target).rsplit('.', 1)[-1]} checkpoint")
    device = resolve_device(options["device"])
    data = build.build_data(cfg)
    data.load_state_dict(state.get("data", {}))  # the vocabulary: no text is read
    model = build.build_model(cfg, data).to(device)
    model.load_state_dict(state["model"])
    generator = torch.Generator().manual_seed(options["seed"])
    try:
        prompt = data.encode(options["prompt"])
    except DlrunError as err:
        raise DlrunError(f"prompt: {err}") from None
    ids = generate(model, prompt, options["length"], options["temperature"], generator)
    sys.stdout.write(options["prompt"] + data.decode(ids) + "\n")
    return 0
