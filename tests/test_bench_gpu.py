"""scripts/bench_gpu.py --smoke on the CPU (so the GPU check cannot rot) and the airbench94 model it measures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dlrun.models.airbench94 import Airbench94

ROOT = Path(__file__).resolve().parents[1]


def test_airbench94_has_the_papers_size_and_shapes() -> None:
    model = Airbench94(3, 10)
    # whiten 3*24*2*2 + 24; groups 24*64*9 + 64*64*9, 64*256*9 + 256*256*9, 2 * 256*256*9; BN 2 * (64+64+256+256+256+256); head 256*10
    expected = (288 + 24) + (13824 + 36864) + (147456 + 589824) + 2 * 589824 + 2 * 2 * (64 + 256 + 256) + 2560
    assert sum(p.numel() for p in model.parameters()) == expected == 1_972_792
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert len(frozen) == 6 and all(n.endswith(".weight") for n in frozen)  # BN scales fixed at 1
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="three conv groups"):
        Airbench94(3, 10, widths=[64, 256])


def test_bench_gpu_smoke_runs_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "block.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_gpu.py"), "--smoke", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    block = out.read_text()
    assert "| default | true | 0 | ok |" in block  # bit-identical resume with trainer.deterministic=true
    assert "airbench94" in block and "| padded |" in block and "| packed |" in block
