"""SimCLR's network: an encoder f (any image classifier of configs/model/ with its last Linear
removed) and a projection head g (course: 2 x FC, 128-d output) on which NT-Xent is computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from dlrun.models.activations import make_activation

META_KEYS = ("in_channels", "num_classes", "image_size", "input_shape", "in_features")


def strip_head(model: nn.Module) -> int:
    """Replace the model's last nn.Linear (its classifier) by nn.Identity, in place; returns the
    width of the features that now come out (the removed layer's in_features)."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier to remove")
    parent_name, _, child = last.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    width = int(getattr(parent, child).in_features)
    setattr(parent, child, nn.Identity())
    if hasattr(model, "logit_scale"):
        model.logit_scale = 1.0  # ResNetSmall scales its logits; features stay unscaled
    return width


def build_encoder(node: Mapping[str, Any], meta: Mapping[str, Any]) -> tuple[nn.Module, int]:
    """The encoder f from a model config node: null values filled from `meta` (the dataset's sizes),
    instantiated, classifier removed. Returns (f, feature width)."""
    from hydra.utils import instantiate
    from omegaconf import DictConfig, OmegaConf

    from dlrun.config_types import check_node

    plain = dict(OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node)
    for key, value in list(plain.items()):
        if value is None and meta.get(key) is not None:
            plain[key] = meta[key]
    if plain.get("num_classes") is None and "num_classes" in plain:
        plain["num_classes"] = 1  # the classifier is removed anyway
    check_node("model.encoder", plain)
    encoder = instantiate(plain, _convert_="all")
    return encoder, strip_head(encoder)


class ProjectionHead(nn.Sequential):
    """g: Linear -> activation for each hidden size, then Linear to out_dim (course: 2 x FC(128))."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, activation: str = "relu") -> None:
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(in_dim, int(size)), make_activation(activation)]
            in_dim = int(size)
        layers.append(nn.Linear(in_dim, int(out_dim)))
        super().__init__(*layers)


class SimCLRNet(nn.Module):
    """x -> z = g(f(x)). `features(x)` = f(x), the representation the linear probe reads.

    encoder: a model config node (configs/model/simclr.yaml picks one with `/model@encoder`); its
    null sizes come from this model's in_channels / image_size / ... (filled from the dataset)."""

    def __init__(self, encoder: Mapping[str, Any], projection_hidden: Sequence[int] = (128,), projection_dim: int = 128,
                 activation: str = "relu", in_channels: int | None = None, num_classes: int | None = None,
                 image_size: Sequence[int] | None = None, input_shape: Sequence[int] | None = None,
                 in_features: int | None = None) -> None:
        super().__init__()
        if not isinstance(encoder, Mapping) or "_target_" not in encoder:
            raise ValueError("encoder must be a model config with a _target_ (e.g. model@model.encoder=cnn)")
        if int(projection_dim) < 1 or any(int(h) < 1 for h in projection_hidden):
            raise ValueError(f"projection sizes must be >= 1, got hidden={list(projection_hidden)} dim={projection_dim}")
        meta = {"in_channels": in_channels, "num_classes": num_classes, "image_size": image_size,
                "input_shape": input_shape, "in_features": in_features}
        self.encoder, self.feature_dim = build_encoder(encoder, meta)
        self.projection = ProjectionHead(self.feature_dim, projection_hidden, projection_dim, activation)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """h = f(x): the encoder's output, flattened to (N, feature_dim)."""
        return self.encoder(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.features(x))
