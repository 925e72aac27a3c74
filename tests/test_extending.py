"""docs/extending.md runs as written: its files, written into a fresh project folder, train, sweep and
evaluate through --config-dir with dlrun installed elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import run_cli

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def doc_files() -> dict[str, str]:
    """Each `<!-- file: PATH -->` of the page with the fenced block that follows it."""
    text = DOC.read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S)}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "myproject"
    for name, body in doc_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body)
    return root


def test_the_page_lists_every_piece() -> None:
    assert set(doc_files()) == {"mymodels.py", "mydata.py", "mytasks.py", "conf/model/tiny.yaml", "conf/dataset/spirals.yaml",
                                "conf/task/confidence.yaml", "conf/experiment/spirals_tiny.yaml"}


@pytest.mark.slow
def test_own_model_data_task_and_preset_train_and_evaluate(project: Path) -> None:
    done = run_cli(["train", "--config-dir", "conf", "experiment=spirals_tiny", "trainer.progress_bar=false"], cwd=project)
    assert done.returncode == 0, done.stderr
    run = next((project / "outputs").rglob("results.json")).parent
    results = json.loads((run / "results.json").read_text())
    assert results["config"]["model"]["_target_"] == "mymodels.Tiny" and results["config"]["task"]["_target_"] == "mytasks.ConfidenceTask"
    assert results["test"]["test/acc"] > 0.8 and 0.5 <= results["test"]["test/confidence"] <= 1.0
    ckpt = run / "checkpoints" / "best.pt"
    refused = run_cli(["eval", f"ckpt={ckpt}"], cwd=project)
    assert refused.returncode == 2 and "dataset._target_=mydata.Spirals" in refused.stderr and "trust_checkpoint=true" in refused.stderr
    evaluated = run_cli(["eval", "--config-dir", "conf", f"ckpt={ckpt}", f"out_dir={project / 'eval'}"], cwd=project)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((project / "eval" / "results.json").read_text())["test"]["test/acc"] == pytest.approx(results["test"]["test/acc"])
