"""Data parallel training: per-rank shards of TensorBatches, the DDP wrapper, and 2-process runs
on CPU (gloo) against one process with the same global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import FAST, read_results
from dlrun import distributed
from dlrun.data.tensor_batches import TensorBatches
from dlrun.errors import DlrunError


def drawn(n: int, batch_size: int, shuffle: bool = True, rank: int = 0, world: int = 1, skip: int = 0) -> list[list[int]]:
    """The sample indices of each batch of one epoch (seed 3, epoch 1)."""
    x = torch.arange(n)
    batches = TensorBatches((x, x * 10), batch_size, shuffle=shuffle)
    if world > 1:
        batches.shard(rank, world)
    batches.set_epoch(1, seed=3)
    batches.skip = skip
    out = []
    for xb, yb in batches:
        assert torch.equal(yb, xb * 10)  # tensors stay aligned
        out.append(xb.tolist())
    return out


def flat(batches: list[list[int]]) -> list[int]:
    return [i for b in batches for i in b]


def test_ranks_together_draw_exactly_the_single_process_batches() -> None:
    single = drawn(120, 12)  # one process, global batch 12
    ranks = [drawn(120, 4, rank=r, world=3) for r in range(3)]  # 3 processes x batch 4
    assert all(len(r) == len(single) == 10 for r in ranks)
    for t, batch in enumerate(single):
        assert sorted(i for r in ranks for i in r[t]) == sorted(batch)
    assert sorted(flat(single)) == list(range(120))


def test_unshuffled_shards_match_torch_distributed_sampler() -> None:
    from torch.utils.data.distributed import DistributedSampler

    for n, world in [(10, 4), (12, 3), (7, 2), (3, 4)]:
        for r in range(world):
            expected = list(DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=False))
            assert flat(drawn(n, 2, shuffle=False, rank=r, world=world)) == expected, (n, world, r)


def test_uneven_split_pads_with_the_start_of_the_epoch_order() -> None:
    order = torch.randperm(10, generator=torch.Generator().manual_seed(3 * 1_000_003 + 1)).tolist()
    shares = [flat(drawn(10, 2, rank=r, world=4)) for r in range(4)]
    padded = order + order[:2]  # 10 samples, 4 ranks: 12 = 3 per rank
    assert shares == [padded[r::4] for r in range(4)]
    assert [len(drawn(10, 2, rank=r, world=4)) for r in range(4)] == [2, 2, 2, 2]


def test_sharded_skip_resumes_mid_epoch() -> None:
    whole = drawn(40, 4, rank=1, world=2)
    assert drawn(40, 4, rank=1, world=2, skip=3) == whole[3:]


def test_bad_shard_arguments_are_rejected() -> None:
    batches = TensorBatches((torch.zeros(4),), 2)
    with pytest.raises(ValueError, match="rank"):
        batches.shard(2, 2)


def test_helpers_are_no_ops_in_one_process() -> None:
    model = torch.nn.Linear(2, 2)
    sums = {"loss": torch.tensor(3.0)}
    assert distributed.world_size() == 1 and distributed.is_main()
    assert distributed.wrap_model(model, torch.device("cpu")) is model
    assert distributed.sum_across_ranks(sums, 5) == (sums, 5)
    batches = TensorBatches((torch.zeros(4),), 2)
    assert distributed.shard(batches) is batches and batches.world_size == 1


def test_shard_refuses_batches_that_cannot_be_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(distributed._world, "size", 2)
    with pytest.raises(DlrunError, match=r"cannot be split across processes.*shard\(rank, world_size\)"):
        distributed.shard([1, 2, 3])


@pytest.fixture
def gloo_group():
    """A one-process gloo group, enough to build PyTorch's DDP wrapper."""
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_ddp_wrapper_keeps_the_plain_model_names_and_state(gloo_group) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    wrapped = distributed.DataParallel(model)
    assert list(wrapped.state_dict()) == list(model.state_dict())  # no "module." prefix
    assert [n for n, _ in wrapped.named_parameters()] == [n for n, _ in model.named_parameters()]
    plain = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    plain.load_state_dict(wrapped.state_dict())  # a DDP checkpoint loads without DDP
    x = torch.randn(5, 3)
    wrapped.eval()
    plain.eval()
    with torch.no_grad():
        assert torch.equal(wrapped(x), plain(x))
    wrapped.train()
    wrapped(x).sum().backward()  # the DDP path (gradient hooks) still trains
    assert model[0].weight.grad is not None


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": src, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_ddp_two_processes_match_one_process_with_the_same_global_batch(tmp_path: Path, train_run) -> None:
    """torchrun, 2 CPU processes (gloo) x batch 30 against 1 process x batch 60: the same samples
    per step and averaged gradients, so the same model; rank 0 alone writes the one run dir."""
    ddp_root = tmp_path / "ddp"
    ddp_root.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "-m", "dlrun", "train", *FAST, "dataset.batch_size=30"]
    proc = subprocess.run(cmd, cwd=ddp_root, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((ddp_root / "outputs").rglob("results.json"))
    assert len(runs) == 1, runs  # one run dir, not one per rank
    run_dir = runs[0].parent
    assert [p.name for p in (ddp_root / "outputs" / "mlp-gmm2d").iterdir()] == [run_dir.name]
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert proc.stdout.count("done in") == 1  # only rank 0 prints
    ddp = read_results(run_dir)
    assert ddp["world_size"] == 2 and ddp["status"] == "completed"

    code, single_dir = train_run("dataset.batch_size=60")
    assert code == 0
    single = read_results(single_dir)
    assert ddp["global_step"] == single["global_step"] == 2 * 18  # 1080 samples / 60 per step
    for section, keys in (("best", ["val/loss", "val/acc"]), ("test", ["test/loss", "test/acc"]),
                          ("final", ["train/loss", "train/acc", "val/loss"])):
        for key in keys:
            assert ddp[section][key] == pytest.approx(single[section][key], rel=1e-4, abs=1e-6), (section, key)
    from dlrun.checkpoint import load_checkpoint

    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert not any(k.startswith("module.") for k in state["model"])
    reference = load_checkpoint(single_dir / "checkpoints" / "last.pt")["model"]
    for key, value in reference.items():
        assert torch.allclose(state["model"][key], value, rtol=1e-4, atol=1e-6), key


@pytest.mark.slow
def test_trainer_devices_spawns_torchrun_into_the_same_run_dir(tmp_path: Path) -> None:
    from conftest import run_cli

    proc = run_cli(["train", *FAST, "trainer.devices=2", "dataset.batch_size=30", f"hydra.run.dir={tmp_path}/run"],
                   cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = read_results(tmp_path / "run")
    assert results["world_size"] == 2 and results["run_dir"] == str(tmp_path / "run")
    assert len(list((tmp_path / "run").glob("events.out.tfevents.*"))) == 1
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no run dir per rank
