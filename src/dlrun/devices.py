"""Which device a run uses (trainer.device) and moving batches onto it."""

from __future__ import annotations

import os
import sys
from typing import Any

import torch
from torch import nn

from dlrun.errors import DlrunError


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when available; an unavailable CUDA device is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise DlrunError(f"trainer.device: unknown device '{name}' (valid: auto, cpu, cuda, cuda:N)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DlrunError("trainer.device=cuda but no CUDA GPU is available (use trainer.device=auto or cpu)")
    return device


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a batch (tensor, or tuple/list/dict of them) to `device`; no copy if already there."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def batch_size_of(batch: Any) -> int:
    """Samples in a batch: the length of its first tensor."""
    first = batch[0] if isinstance(batch, (tuple, list)) else next(iter(batch.values())) if isinstance(batch, dict) else batch
    return len(first)


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_mode(setting: bool | str) -> str | None:
    """trainer.compile as torch.compile's mode: None for false, 'default' for true, else a mode name."""
    if setting is False or setting == "false":
        return None
    mode = "default" if setting is True or setting == "true" else setting
    if mode not in COMPILE_MODES:
        raise ValueError(f"trainer.compile: unknown value '{setting}' (valid: false, true, {', '.join(COMPILE_MODES)})")
    return mode


def cannot_compile(device: torch.device) -> str | None:
    """Why torch.compile cannot run here (checked before compiling, so a run never fails half-way), or None."""
    import importlib.util
    import shutil

    try:
        from torch._dynamo import is_dynamo_supported
    except ImportError:
        return "this torch has no torch.compile"
    if not is_dynamo_supported():
        return f"torch.compile does not support this platform (Python {sys.version.split()[0]}, {sys.platform})"
    if device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            return "the GPU backend needs triton, which is not installed"
        if torch.cuda.get_device_capability(device) < (7, 0):
            return "the GPU is too old for triton (compute capability < 7.0)"
    elif device.type == "cpu" and not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++")):
        return "the CPU backend needs a C++ compiler (g++ or clang++), none found"
    return None


def compile_model(model: nn.Module, mode: str | None, device: torch.device) -> nn.Module:
    """Compile `model` in place (nn.Module.compile: its state dict keeps its keys, no `_orig_mod.`), or
    leave it as it is with one warning line where the platform cannot compile."""
    if mode is None:
        return model
    why = cannot_compile(device)
    if why is not None:
        print(f"warning: trainer.compile={mode}: {why}; training without compiling", file=sys.stderr)
        return model
    model.compile(mode=None if mode == "default" else mode)
    return model
