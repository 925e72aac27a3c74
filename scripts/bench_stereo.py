"""Dense stereo inference speed: one 1242x375 KITTI-sized pair at D = 128 disparities.

Times the matching network on both images (one padded forward), then winner-takes-all with dlrun's
blocked running-maximum scan (`wta_disparity`), against a plain PyTorch reference in the same
invocation: build the full D x H x W cosine volume with a loop over d, then argmax. Runs on CPU,
and on CUDA when available.

    python scripts/bench_stereo.py [--repeats 3] [--threads N] [--channels 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from dlrun.models.stereo_embed import StereoEmbedding
from dlrun.tasks.stereo_matching import wta_disparity

HEIGHT, WIDTH, DISPARITIES = 375, 1242, 128


def plain_volume_wta(left: torch.Tensor, right: torch.Tensor, max_disparity: int) -> torch.Tensor:
    """Reference: the whole cost volume in memory, then argmax (what a first PyTorch version does)."""
    left, right = F.normalize(left, dim=1), F.normalize(right, dim=1)
    b, _, h, w = left.shape
    volume = torch.full((b, max_disparity, h, w), float("-inf"), device=left.device)
    for d in range(max_disparity):
        volume[:, d, :, d:] = (left[..., d:] * right[..., : w - d]).sum(1)
    return volume.argmax(1)


def timed(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> tuple[float, torch.Tensor]:
    """Median wall time of `repeats` calls after one warm-up call, and the last result."""
    out = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


@torch.no_grad()
def bench(device: torch.device, repeats: int, channels: int) -> None:
    torch.manual_seed(0)
    model = StereoEmbedding(in_channels=channels).to(device).eval()
    pair = torch.randn(2, channels, HEIGHT, WIDTH, device=device)
    t_features, features = timed(lambda: model(pair, dense=True), device, repeats)
    left, right = features[:1], features[1:]
    t_wta, ours = timed(lambda: wta_disparity(left, right, DISPARITIES), device, repeats)
    t_plain, reference = timed(lambda: plain_volume_wta(left, right, DISPARITIES), device, repeats)
    agree = (ours == reference).float().mean().item()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"| {device.type} ({name}) | {t_features:.3f} | {t_wta:.3f} | {t_plain:.3f} | {t_plain / t_wta:.2f}x | {t_features + t_wta:.3f} | {agree:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--channels", type=int, default=1, help="1 gray, 3 colour")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}; pair {WIDTH}x{HEIGHT}, D = {DISPARITIES}, {args.channels} input channel(s), median of {args.repeats}")
    print("| device | features, 2 images (s) | WTA, dlrun (s) | WTA, full volume + argmax (s) | speed-up | total dlrun (s) | same disparities |")
    print("|---|---|---|---|---|---|---|")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        bench(device, args.repeats, args.channels)


if __name__ == "__main__":
    main()
