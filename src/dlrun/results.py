"""results.json: one file per run with its status and metrics, written atomically."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

from dlrun.atomic import atomic_write

RESULTS_FILE = "results.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON atomically, so readers never see a half-written file."""
    text = json.dumps(_finite(data), indent=2) + "\n"
    atomic_write(Path(path), lambda f: f.write(text.encode()))


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def read_results(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / RESULTS_FILE).read_text())


def git_commit() -> str | None:
    """The commit of the dlrun checkout (None outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
