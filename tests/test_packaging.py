"""The built wheel carries the config tree: an installed (non-editable) dlrun trains from any folder."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the repo's wheel and install it (without dependencies) into a fresh target folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(tmp / "dist"), str(REPO)],
                   check=True, capture_output=True, text=True, timeout=600)
    wheel = next((tmp / "dist").glob("dlrun-*.whl"))
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=600)
    return target


def run_installed(target: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m dlrun <args>` importing the installed copy only (not the checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DLRUN_CONFIG_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    return subprocess.run([sys.executable, "-m", "dlrun", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_wheel_holds_every_config_and_trains_outside_the_checkout(installed_wheel: Path, tmp_path: Path) -> None:
    packaged = installed_wheel / "dlrun" / "configs"
    shipped = sorted(p.relative_to(packaged).as_posix() for p in packaged.rglob("*.yaml"))
    source = sorted(p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.yaml"))
    assert shipped == source

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    probe = subprocess.run([sys.executable, "-c", "import dlrun.paths as p; print(p.config_dir())"], cwd=outside,
                           env={**{k: v for k, v in os.environ.items() if k != "DLRUN_CONFIG_DIR"}, "PYTHONPATH": str(installed_wheel)},
                           capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip() == str(packaged.resolve())

    done = run_installed(installed_wheel, ["train", "trainer.max_epochs=1", "trainer.progress_bar=false", "trainer.device=cpu"], outside)
    assert done.returncode == 0, done.stderr
    results = list((outside / "outputs").rglob("results.json"))
    assert len(results) == 1
    assert json.loads(results[0].read_text())["status"] == "completed"
