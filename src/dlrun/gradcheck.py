"""`dlrun gradcheck [model=... dataset=... ...]`: autograd against central differences in float64
(course lab 2's check_grads: a relative error below 1e-5 in double precision), on a few training
samples, for every parameter tensor of the model; exits 1 when the worst error is above the bar."""

from __future__ import annotations

from typing import Any

from dlrun.errors import DlrunError

USAGE = ("usage: dlrun gradcheck [samples=4] [entries=5] [eps=1e-6] [tolerance=1e-5] [config overrides ...]\n"
         "  e.g. dlrun gradcheck model=cnn_mnist_lab2 dataset=mnist")
OPTIONS = {"samples": int, "entries": int, "eps": float, "tolerance": float}


def parse_args(args: list[str]) -> tuple[dict[str, Any], list[str]]:
    """gradcheck's own options (see USAGE), then the config overrides."""
    options: dict[str, Any] = {"samples": 4, "entries": 5, "eps": 1e-6, "tolerance": 1e-5}
    overrides = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if key in OPTIONS and sep:
            try:
                options[key] = OPTIONS[key](value)
            except ValueError:
                raise DlrunError(f"{key} must be a number, got '{value}' ({USAGE.splitlines()[0]})") from None
        else:
            overrides.append(arg)
    return options, overrides


def relative_error(analytic: float, numeric: float) -> float:
    """|a - n| / max(|a|, |n|); 0 when both are exactly 0 (cs231n's form of the lab's check)."""
    scale = max(abs(analytic), abs(numeric))
    return abs(analytic - numeric) / scale if scale > 0 else 0.0


def to_double(value: Any, count: int) -> Any:
    """The first `count` samples of a batch, floating tensors in float64 (nested tuples/lists kept)."""
    import torch

    if isinstance(value, torch.Tensor):
        part = value[:count] if value.dim() > 0 else value
        return part.double() if part.is_floating_point() else part
    if isinstance(value, (tuple, list)):
        return type(value)(to_double(v, count) for v in value)
    return value


def check_gradients(model: Any, loss_of: Any, entries: int, eps: float, seed: int = 0) -> list[tuple[str, tuple[int, ...], float]]:
    """(name, shape, worst relative error) per parameter tensor, over up to `entries` random entries each."""
    import torch

    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    model.zero_grad(set_to_none=True)
    loss_of().backward()
    generator = torch.Generator().manual_seed(seed)
    report = []
    with torch.no_grad():
        for name, param in params:
            analytic = param.grad.reshape(-1) if param.grad is not None else torch.zeros(param.numel(), dtype=param.dtype)
            flat = param.view(-1)
            picks = torch.randperm(flat.numel(), generator=generator)[:entries].tolist()
            worst = 0.0
            for index in picks:
                original = flat[index].item()
                flat[index] = original + eps
                plus = loss_of().item()
                flat[index] = original - eps
                minus = loss_of().item()
                flat[index] = original
                worst = max(worst, relative_error(analytic[index].item(), (plus - minus) / (2 * eps)))
            report.append((name, tuple(param.shape), worst))
    return report


def main(args: list[str]) -> int:
    """Entry of `dlrun gradcheck`."""
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    options, overrides = parse_args(args)
    import torch

    from dlrun import build
    from dlrun.preflight import compose
    from dlrun.rundir import register_resolvers
    from dlrun.seeding import seed_everything

    register_resolvers()
    cfg = compose(overrides)
    seed_everything(int(cfg.seed))
    data = build.build_data(cfg)
    data.setup(torch.device("cpu"))
    model = build.build_model(cfg, data).double().eval()  # eval: no dropout noise between the passes
    task = build.build_task(cfg)
    task.setup(data, torch.device("cpu"))
    batch = to_double(next(iter(data.loader("train"))), options["samples"])

    def loss_of() -> torch.Tensor:
        return task.training_step(model, batch)[0]

    report = check_gradients(model, loss_of, options["entries"], options["eps"])
    if not report:
        raise DlrunError("the model has no trainable parameters to check")
    width = max(len(name) for name, _, _ in report)
    for name, shape, error in report:
        print(f"  {name:<{width}}  {str(list(shape)):<16} max rel. error {error:.2e}")
    worst_name, _, worst = max(report, key=lambda row: row[2])
    verdict = "ok" if worst < options["tolerance"] else "FAILED"
    print(f"worst relative error {worst:.2e} ({worst_name}); bar {options['tolerance']:.0e}: {verdict}")
    return 0 if worst < options["tolerance"] else 1
