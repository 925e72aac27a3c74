"""Training throughput (real tokens/s) of the lab 3 GRU (2 x 150) on IMDB-like text, one invocation:

  plain    a plain PyTorch loop: DataLoader + pad_sequence, random batches, the GRU over the padded
           batch (naive padding, no bucketing, no packing) -- the reference
  naive    dlrun's Trainer + TextBatches + TextRNN with the same naive settings (bucket=0, packed=false)
  bucketed dlrun with length bucketing, no packing (bucket=50, packed=false: what packed=auto picks
           for this unidirectional GRU, exact because its readout only uses each text's own steps)
  packed   dlrun with length bucketing and packed sequences (bucket=50, packed=true)

The data is a synthetic corpus with IMDB's length profile (log-normal, median about 175 tokens,
cut at 400 like dataset=imdb) or, with --imdb-root, the real reviews. The same texts, batch size,
model and optimizer (frozen 300-d embeddings as in the lab, Adam, BCE, gradient norm clip 0.25)
are used for every variant; each runs two epochs and the second is timed (the first warms up
kernels and allocators). Tokens/s counts real (non-padding) tokens.

  python scripts/bench_text.py                 # CPU, 3000 texts
  python scripts/bench_text.py --device cuda --texts 20000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dlrun.data.text_batches import TextBatches, TokenSequences  # noqa: E402
from dlrun.models.text_rnn import TextRNN  # noqa: E402

VOCAB = 25_002
MAX_LEN = 400


def synthetic_corpus(n: int, seed: int) -> TokenSequences:
    """n texts with IMDB-like lengths (log-normal, median ~175, cut to MAX_LEN) and Zipf-ish token ids."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.exp(torch.randn(n, generator=g) * 0.75 + math.log(175)).round().clamp(5, MAX_LEN).long()
    ranks = torch.rand(int(lengths.sum()), generator=g)
    tokens = (torch.exp(ranks * math.log(VOCAB - 2)).long() + 1).clamp(2, VOCAB - 1)
    offsets = torch.zeros(n + 1, dtype=torch.long)
    torch.cumsum(lengths, 0, out=offsets[1:])
    labels = torch.randint(0, 2, (n,), generator=g)
    return TokenSequences(tokens, offsets, labels)


def imdb_corpus(root: str, n: int) -> TokenSequences:
    from dlrun.data.imdb import IMDB

    data = IMDB(root=root, download=False, max_len=MAX_LEN, vocab={"max_size": VOCAB})
    data.setup(torch.device("cpu"))
    train = data.splits["train"]
    keep = min(n, len(train))
    return TokenSequences(train.tokens[: int(train.offsets[keep])], train.offsets[: keep + 1], train.labels[:keep])


class BenchData:
    """A DataModule over one corpus (val/test are a few texts: only training is timed)."""

    def __init__(self, corpus: TokenSequences, batch_size: int, bucket: int, device: torch.device) -> None:
        self.corpus = corpus.to(device)
        small = TokenSequences(corpus.tokens[: int(corpus.offsets[64])], corpus.offsets[:65], corpus.labels[:64]).to(device)
        self.splits = {"train": self.corpus, "val": small, "test": small}
        self.batch_size, self.bucket = batch_size, bucket
        self.meta: dict[str, Any] = {"vocab_size": VOCAB, "num_classes": 2}

    def setup(self, device: torch.device) -> None:
        pass

    def loader(self, split: str, train: bool = False) -> TextBatches:
        return TextBatches(self.splits[split], self.batch_size, shuffle=train, bucket=self.bucket)

    def state_dict(self) -> dict[str, Any]:
        return {}


def lab_gru(packed: bool) -> TextRNN:
    return TextRNN(VOCAB, 2, embedding_dim=300, freeze_embeddings=True, cell="gru", hidden_size=150, num_layers=2,
                   packed=packed, readout="last", head=[150], single_logit=True)


def run_dlrun(corpus: TokenSequences, device: torch.device, batch_size: int, bucket: int, packed: bool) -> float:
    """Seconds of the second training epoch through dlrun's Trainer."""
    from dlrun.losses.bce_with_logits import BCEWithLogits
    from dlrun.run_logger import RunLogger
    from dlrun.schedulers.schedule import build_schedule
    from dlrun.tasks.classification import ClassificationTask
    from dlrun.trainer import Trainer
    from omegaconf import OmegaConf

    torch.manual_seed(0)
    data = BenchData(corpus, batch_size, bucket, device)
    model = lab_gru(packed).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(Path(tmp), RunLogger(Path(tmp), tensorboard=False), device=str(device), max_epochs=2,
                          gradient_clip_norm=0.25, checkpoint={"save_last": False, "save_best": False},
                          early_stopping={"restore_best": False}, log_every_n_steps=10**6, progress_bar=False)
        none = OmegaConf.create({"_target_": "dlrun.schedulers.schedule.Schedule", "_partial_": True, "interval": "epoch", "warmup_steps": 0,
                                 "scheduler": {"_target_": "torch.optim.lr_scheduler.ConstantLR", "_partial_": True, "factor": 1.0}})
        schedule = build_schedule(none, optimizer, trainer.steps_per_epoch(data), 2)
        with contextlib.redirect_stdout(io.StringIO()):  # the trainer's per-epoch lines
            result = trainer.fit(ClassificationTask(BCEWithLogits()), model, data, optimizer, schedule)
    return float(result.final_metrics["time/epoch_s"])


def run_plain(corpus: TokenSequences, device: torch.device, batch_size: int) -> float:
    """Seconds of the second epoch of a textbook loop: DataLoader(shuffle) + pad_sequence, GRU over the padded batch."""
    from torch.nn.utils.rnn import pad_sequence
    from torch.utils.data import DataLoader

    texts = [corpus.tokens[int(corpus.offsets[i]) : int(corpus.offsets[i + 1])] for i in range(len(corpus))]
    dataset = list(zip(texts, corpus.labels.tolist()))

    def collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        seqs, labels = zip(*batch)
        return pad_sequence(list(seqs), batch_first=True, padding_value=0), torch.tensor([len(s) for s in seqs]), torch.tensor(labels)

    class PlainGRU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, 300, padding_idx=0).requires_grad_(False)
            self.rnn = nn.GRU(300, 150, num_layers=2, batch_first=True)
            self.head = nn.Sequential(nn.Linear(150, 150), nn.ReLU(), nn.Linear(150, 1))

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(self.embedding(tokens))[1][-1])

    torch.manual_seed(0)
    model = PlainGRU().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=collate)
    elapsed = 0.0
    for _ in range(2):
        _sync(device)
        started = time.perf_counter()
        for tokens, _, labels in loader:
            tokens, labels = tokens.to(device), labels.to(device)
            loss = loss_fn(model(tokens).squeeze(1), labels.float())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            optimizer.step()
        _sync(device)
        elapsed = time.perf_counter() - started
    return elapsed


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def padded_fraction(corpus: TokenSequences, batch_size: int, bucket: int) -> float:
    """Share of the padded batch cells that are padding, for one epoch's batches."""
    batches = TextBatches(corpus, batch_size, shuffle=True, bucket=bucket)
    batches.set_epoch(1, 0)
    cells = sum(len(i) * int(corpus.lengths[i].max()) for i in batches.batch_indices())
    return 1 - corpus.num_tokens / cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bucket", type=int, default=50)
    parser.add_argument("--imdb-root", default=None, help="use the real IMDB train reviews from this root (aclImdb inside)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else "cpu" if args.device == "auto" else args.device)
    corpus = imdb_corpus(args.imdb_root, args.texts) if args.imdb_root else synthetic_corpus(args.texts, seed=0)
    tokens = corpus.num_tokens
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"# bench_text {date.today()}  device {device} ({name})  torch {torch.__version__}")
    print(f"# {len(corpus)} texts, {tokens:,} tokens (mean length {tokens / len(corpus):.0f}), batch {args.batch_size}, "
          f"GRU 2x150 on 300-d embeddings, vocab {VOCAB:,}")
    variants = [
        ("plain", "plain PyTorch loop, naive padding", lambda: run_plain(corpus, device, args.batch_size), 0),
        ("naive", "dlrun, bucket=0 packed=false", lambda: run_dlrun(corpus, device, args.batch_size, 0, False), 0),
        ("bucketed", f"dlrun, bucket={args.bucket} packed=false", lambda: run_dlrun(corpus, device, args.batch_size, args.bucket, False), args.bucket),
        ("packed", f"dlrun, bucket={args.bucket} packed=true", lambda: run_dlrun(corpus, device, args.batch_size, args.bucket, True), args.bucket),
    ]
    base = None
    print(f"{'variant':<9} {'setup':<36} {'padding':>8} {'epoch s':>8} {'tokens/s':>10} {'vs plain':>9}")
    for key, label, run, bucket in variants:
        seconds = run()
        rate = tokens / seconds
        base = base or rate
        print(f"{key:<9} {label:<36} {padded_fraction(corpus, args.batch_size, bucket):>7.0%} {seconds:>8.1f} {rate:>10,.0f} {rate / base:>8.2f}x",
              flush=True)


if __name__ == "__main__":
    main()
