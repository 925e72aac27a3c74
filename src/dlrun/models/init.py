"""Weight initialisation, one option shared by every built-in model (course lecture on init).

Every scheme draws weights with variance gain² / n, where n is fan_in, fan_out or their mean
(TensorFlow's variance_scaling): `xavier_*` is Glorot's (gain 1, n = (fan_in + fan_out) / 2, i.e.
N(0, 2/(n_in + n_out)) and U(±√(6/(n_in + n_out)))), `kaiming_*` is He's (gain from the activation,
√2 for ReLU, n = fan_in, i.e. N(0, 2/n_in)); uniform draws U(±√(3·var)); `trunc_normal` cuts the normal
at ±2σ and rescales σ so the variance is still gain²/n. Biases get the constant `bias_init` (the
course's 0.1 for ReLU units; 0 when unset). `default` keeps PyTorch's init.

Recurrent layers (nn.RNN/GRU/LSTM) stack one (hidden, in) matrix per gate in weight_ih / weight_hh; each
gate's block is drawn on its own with fan_in = its inputs and fan_out = hidden size, and the gain defaults to
tanh's (5/3; 1 for xavier_*). Their bias_ih gets `bias_init` and bias_hh 0, so the cell's total bias is
`bias_init`. Embeddings keep their own init (N(0, 1) or pretrained vectors); norm layers keep γ=1, β=0."""

from __future__ import annotations

import math

import torch
from torch import nn

SCHEMES = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "trunc_normal")
FANS = ("in", "out", "avg")
HEAD_INITS = ("same", "default")
# model options whose null means "the scheme's default", not "a size the dataset fills in"
UNSET_MEANS_DEFAULT = ("init_fan", "init_gain", "bias_init")
LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
RECURRENT_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}  # nn.RNNBase.mode prefix -> stacked gate blocks
# std of N(0, 1) truncated to [-2, 2]: dividing by it keeps the variance after truncation
TRUNCATED_STD = 0.8796256610342398


def check_init(init: str, fan: str | None, head_init: str) -> None:
    """ValueError for an unknown scheme, fan or head choice (a config mistake)."""
    if init not in SCHEMES:
        raise ValueError(f"unknown init '{init}' (valid: {', '.join(SCHEMES)})")
    if fan is not None and fan not in FANS:
        raise ValueError(f"unknown init_fan '{fan}' (valid: {', '.join(FANS)})")
    if head_init not in HEAD_INITS:
        raise ValueError(f"unknown head_init '{head_init}' (valid: {', '.join(HEAD_INITS)})")


def activation_gain(activation: str) -> float:
    """torch's recommended gain for an activation name (√2 relu, 5/3 tanh, 1 for others it lacks)."""
    known = {"relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh", "sigmoid": "sigmoid", "selu": "selu"}
    return nn.init.calculate_gain(known[activation]) if activation in known else 1.0


def scheme_std(init: str, fan_in: int, fan_out: int, fan: str | None, gain: float) -> float:
    """The standard deviation a scheme draws with for a layer of these fans (the formula above)."""
    fan = fan or ("avg" if init.startswith("xavier") else "in")
    n = {"in": fan_in, "out": fan_out, "avg": (fan_in + fan_out) / 2}[fan]
    return gain / math.sqrt(n)


def layer_fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a (out, in, *kernel) weight: in/out units times the kernel size."""
    receptive = math.prod(weight.shape[2:])
    return int(weight.shape[1]) * receptive, int(weight.shape[0]) * receptive


def draw(weight: torch.Tensor, init: str, std: float) -> None:
    """Fill `weight` in place from the scheme's distribution with this standard deviation."""
    with torch.no_grad():
        if init.endswith("uniform"):
            bound = math.sqrt(3.0) * std
            weight.uniform_(-bound, bound)
        elif init == "trunc_normal":
            sigma = std / TRUNCATED_STD
            nn.init.trunc_normal_(weight, 0.0, sigma, -2 * sigma, 2 * sigma)
        else:
            weight.normal_(0.0, std)


def init_layer(layer: nn.Module, init: str, fan: str | None, gain: float, bias_init: float | None) -> None:
    """Initialise one Linear/Conv layer in place."""
    weight = layer.weight
    if init != "default":
        draw(weight, init, scheme_std(init, *layer_fans(weight), fan, gain))
    if layer.bias is not None and (bias_init is not None or init != "default"):
        nn.init.constant_(layer.bias, bias_init or 0.0)


def init_recurrent(layer: nn.RNNBase, init: str, fan: str | None, gain: float, bias_init: float | None) -> None:
    """Initialise an RNN/GRU/LSTM in place: each gate's (hidden, in) block of every weight on its own."""
    gates = RECURRENT_GATES[layer.mode.split("_")[0]]
    for name, param in layer.named_parameters():
        if name.startswith("weight") and init != "default":
            for block in param.chunk(gates if not name.startswith("weight_hr") else 1, dim=0):
                draw(block, init, scheme_std(init, int(block.shape[1]), int(block.shape[0]), fan, gain))
        elif name.startswith("bias") and (bias_init is not None or init != "default"):
            nn.init.constant_(param, (bias_init or 0.0) if name.startswith("bias_ih") else 0.0)


def initialize(model: nn.Module, init: str = "default", fan: str | None = None, gain: float | None = None,
               bias_init: float | None = None, head_init: str = "same", activation: str = "relu",
               head: nn.Module | None = None) -> None:
    """Apply a scheme to every Linear/Conv layer of `model`; `head` (the output layer) keeps PyTorch's
    default when head_init='default' (lab 2: the logits layer)."""
    check_init(init, fan, head_init)
    xavier = init.startswith("xavier")
    layer_gain = gain if gain is not None else 1.0 if xavier else activation_gain(activation)
    for module in model.modules():
        if module is head and head_init == "default":
            continue
        if isinstance(module, LAYERS):
            init_layer(module, init, fan, layer_gain, bias_init)
        elif isinstance(module, nn.RNNBase):
            cell = "relu" if module.mode == "RNN_RELU" else "tanh"
            init_recurrent(module, init, fan, gain if gain is not None else 1.0 if xavier else activation_gain(cell), bias_init)
