"""A saved encoder with a new linear classifier on top: the linear probe (encoder frozen) or
fine-tuning (encoder trained too) of `dlrun train task=linear_probe encoder_ckpt=PATH`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlrun.models.simclr import build_encoder


def load_encoder(path: str, meta: dict) -> tuple[nn.Module, int]:
    """The encoder f saved in a dlrun checkpoint (loaded with weights_only=True): a SimCLR run's
    `encoder`, or any image classifier with its last Linear removed. Returns (f, feature width)."""
    from dlrun.checkpoint import load_checkpoint
    from dlrun.paths import config_dirs
    from dlrun.trusted_targets import check_stored_targets

    state = load_checkpoint(path)
    check_stored_targets({"model": (state.get("config") or {}).get("model")}, path, config_dirs())
    node = (state.get("config") or {}).get("model")
    weights = state.get("model")
    if not isinstance(node, dict) or not isinstance(weights, dict):
        raise ValueError(f"{path} holds no model config and weights")
    prefix = ""
    if isinstance(node.get("encoder"), dict) and "_target_" in node["encoder"]:
        node, prefix = node["encoder"], "encoder."
    encoder, width = build_encoder(node, meta)
    wanted = encoder.state_dict()
    found = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix) and k[len(prefix):] in wanted}
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ValueError(f"{path}: the encoder's weights are incomplete (missing {', '.join(missing[:3])})")
    try:
        encoder.load_state_dict(found)
    except RuntimeError as err:
        raise ValueError(f"{path}: the weights do not fit the encoder ({str(err).splitlines()[-1].strip()})") from err
    return encoder, width


class EncoderClassifier(nn.Module):
    """x -> Linear(f(x)). freeze=true: f's parameters are frozen and f stays in eval mode (batch
    norm statistics too), so only the logistic regression learns; freeze=false fine-tunes f."""

    def __init__(self, num_classes: int, encoder_ckpt: str | None = None, freeze: bool = True, in_channels: int | None = None,
                 image_size: Sequence[int] | None = None, input_shape: Sequence[int] | None = None,
                 in_features: int | None = None) -> None:
        super().__init__()
        if not encoder_ckpt:
            raise ValueError("encoder_ckpt must name a checkpoint: dlrun train task=linear_probe encoder_ckpt=PATH")
        meta = {"in_channels": in_channels, "num_classes": num_classes, "image_size": image_size,
                "input_shape": input_shape, "in_features": in_features}
        self.encoder, self.feature_dim = load_encoder(str(encoder_ckpt), meta)
        self.classifier = nn.Linear(self.feature_dim, num_classes)
        self.freeze = bool(freeze)
        if self.freeze:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def train(self, mode: bool = True) -> EncoderClassifier:
        super().train(mode)
        if self.freeze:
            self.encoder.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            return self.encoder(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
