"""Screenshots of TensorBoard's Time Series, HParams and custom-scalars pages for the docs, rendered
with headless Chromium from a real server on loopback (not part of the tests: needs a browser), and
the Time Series card groups in the order the browser shows them, marking the ones it opens.

    dlrun train -m optimizer=sgd,adam seed=1,2 trainer.max_epochs=3 hydra.sweep.dir=/tmp/tb-sweep
    python scripts/tb_screenshots.py /tmp/tb-sweep --out docs/img
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

PAGES = {"tb_time_series.png": "#timeseries", "tb_hparams.png": "#hparams", "tb_custom_scalars.png": "#custom_scalars"}
WIDE = {"tb_hparams.png": "2400,600"}  # wide enough for the five hyperparameter and five metric columns shown
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
GROUP = re.compile(r'class="group-title" title="([^"]*)".*?svgicon="expand_(less|more)', re.S)  # TensorBoard 2.x DOM


def start_tensorboard(logdir: Path, timeout_s: float = 60.0) -> tuple[subprocess.Popen[str], str]:
    """A TensorBoard child process on 127.0.0.1 with a free port; returns it and its URL."""
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if match and not found:
                found.append(match.group(1))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not found and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    if not found:
        proc.kill()
        raise SystemExit("TensorBoard did not start")
    urllib.request.urlopen(found[0] + "data/runs", timeout=30).read()  # the first load is done
    return proc, found[0]


def screenshot(browser: str, url: str, path: Path, size: str, wait_ms: int) -> None:
    """One page as a PNG; `wait_ms` of virtual time lets the page fetch and draw its charts."""
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={size}", f"--virtual-time-budget={wait_ms}", f"--screenshot={path}", url],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    from PIL import Image

    Image.open(path).convert("RGB").quantize(colors=128).save(path, optimize=True)  # a small file for the docs


def time_series_groups(browser: str, url: str, wait_ms: int) -> list[str]:
    """The Time Series card groups as rendered (from the page's DOM), "(open)" after expanded ones."""
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1600,900",
                          f"--virtual-time-budget={wait_ms}", "--dump-dom", url + "#timeseries"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return [name + (" (open)" if icon == "less" else "") for name, icon in GROUP.findall(dom)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("logdir", type=Path, help="a sweep dir (or any TensorBoard logdir)")
    p.add_argument("--out", type=Path, default=Path("docs/img"))
    p.add_argument("--size", default="1600,900", help="browser window WIDTH,HEIGHT")
    p.add_argument("--wait-ms", type=int, default=20000)
    opts = p.parse_args()
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        print(f"no headless browser found (tried {', '.join(BROWSERS)}); e.g. apt-get install chromium", file=sys.stderr)
        return 1
    opts.out.mkdir(parents=True, exist_ok=True)
    proc, url = start_tensorboard(opts.logdir)
    try:
        for name, fragment in PAGES.items():
            screenshot(browser, url + fragment, opts.out / name, WIDE.get(name, opts.size), opts.wait_ms)
            print(f"wrote {opts.out / name}")
        print("Time Series groups: " + ", ".join(time_series_groups(browser, url, opts.wait_ms)))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
