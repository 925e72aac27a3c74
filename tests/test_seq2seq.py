"""Seq2seq with attention: seq_toy targets, the encoder-decoder and its attention, teacher forcing,
greedy and beam decoding, metrics, the preset end to end and exact mid-epoch resume."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import FAST, interrupted_and_resumed, read_results, same_final_weights
from dlrun.data.seq_toy import EOS, PAD, SeqToy, make_targets
from dlrun.models.seq2seq import Seq2Seq
from dlrun.tasks.seq2seq import Seq2SeqTask, accuracies
from dlrun.tasks.seq_decoding import beam_search, greedy
from text_corpus import single_thread


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


SRC = torch.tensor([[5, 3, 4, 0], [6, 7, 0, 0]])
LENGTHS = torch.tensor([3, 2])


@pytest.mark.parametrize(("problem", "expected"), [
    ("reverse", [[4, 3, 5, EOS, PAD], [7, 6, EOS, PAD, PAD]]),
    ("sort", [[3, 4, 5, EOS, PAD], [6, 7, EOS, PAD, PAD]]),
    ("copy", [[5, 3, 4, EOS, PAD], [6, 7, EOS, PAD, PAD]]),
])
def test_targets_of_each_problem(problem: str, expected: list[list[int]]) -> None:
    assert make_targets(problem, SRC, LENGTHS).tolist() == expected


def test_seq_toy_is_seeded_and_in_range() -> None:
    one = SeqToy(problem="sort", vocab_size=5, min_len=2, max_len=6, train_size=50, val_size=10, test_size=10)
    two = SeqToy(problem="sort", vocab_size=5, min_len=2, max_len=6, train_size=50, val_size=10, test_size=10)
    one.setup(torch.device("cpu"))
    two.setup(torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(one.splits["train"], two.splits["train"]))
    src, lengths, targets = one.splits["train"]
    assert src.shape == (50, 6) and targets.shape == (50, 7) and one.meta["vocab_size"] == 8
    assert 2 <= int(lengths.min()) and int(lengths.max()) <= 6
    valid = torch.arange(6) < lengths[:, None]
    assert bool(((src >= 3) & (src < 8))[valid].all()) and not src[~valid].any()
    for i in range(5):
        n = int(lengths[i])
        assert targets[i, :n].tolist() == sorted(src[i, :n].tolist()) and int(targets[i, n]) == EOS
    assert one.decode([0, 1, 2, 3, 7]) == ["<pad>", "<s>", "</s>", "0", "4"]


def test_accuracies_count_answer_and_eos_only() -> None:
    targets = torch.tensor([[4, 3, EOS, PAD], [7, EOS, PAD, PAD]])
    predicted = torch.tensor([[4, 3, EOS, 9], [7, 5, EOS, PAD]])  # row 0 right (junk after </s> ignored), row 1 wrong
    right, total, exact = accuracies(predicted, targets)
    assert (int(right), int(total), int(exact)) == (4, 5, 1)


def _model(attention: str, cell: str = "gru", seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    model = Seq2Seq(vocab_size=9, embedding_dim=6, hidden_size=8, cell=cell, attention=attention)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # sharper distributions than at init: decoders disagree more often
    return model.eval()


def _batch(n: int = 12, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    data = SeqToy(vocab_size=6, min_len=2, max_len=7, train_size=n, val_size=1, test_size=1, seed=seed)
    data.setup(torch.device("cpu"))
    return data.splits["train"]


@pytest.mark.parametrize("attention", ["bahdanau", "dot"])
def test_attention_is_a_distribution_over_the_valid_source_steps(attention: str) -> None:
    model = _model(attention)
    src, lengths, targets = _batch()
    memory, state = model.encode(src, lengths)
    hidden, _ = model.decoder(model.tgt_embedding(targets), state)
    _, alpha = model.readout(hidden, memory)
    assert torch.allclose(alpha.sum(-1), torch.ones(alpha.shape[:2]), atol=1e-6)
    assert not alpha.masked_select(~memory.mask[:, None].expand_as(alpha)).any()
    if attention == "dot":  # softmax(q^T k / sqrt(H)) written out for one step of one sequence
        i, t, n = 0, 1, int(lengths[0])
        scores = torch.stack([hidden[i, t] @ memory.states[i, s] for s in range(n)]) / math.sqrt(8)
        assert torch.allclose(alpha[i, t, :n], torch.softmax(scores, 0), atol=1e-6)


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_encoder_ignores_padding(attention: str) -> None:
    model = _model(attention)
    src, lengths, targets = _batch()
    wider = torch.cat([src, torch.full((len(src), 3), PAD)], dim=1)
    assert torch.allclose(model(src, lengths, targets), model(wider, lengths, targets), atol=1e-5)


@pytest.mark.parametrize("attention", ["none", "bahdanau", "dot"])
def test_full_teacher_forcing_step_by_step_equals_the_one_call_path(attention: str) -> None:
    model = _model(attention, cell="lstm")
    src, lengths, targets = _batch()
    forced = torch.ones_like(targets, dtype=torch.bool)
    assert torch.allclose(model(src, lengths, targets, forced), model(src, lengths, targets), atol=1e-5)
    free = model(src, lengths, targets, ~forced)  # no forcing: each input is the previous argmax
    tokens, _ = greedy(model, src, lengths, targets.shape[1])
    assert torch.equal(free.argmax(-1)[:, 0], tokens[:, 0])


@pytest.mark.parametrize("attention", ["none", "bahdanau", "dot"])
def test_beam_search_with_k1_equals_greedy(attention: str) -> None:
    for seed in range(3):
        model = _model(attention, seed=seed)
        src, lengths, targets = _batch(n=40, seed=seed)
        with torch.no_grad():
            tokens, maps = greedy(model, src, lengths, targets.shape[1])
            assert torch.equal(beam_search(model, src, lengths, 1, targets.shape[1]), tokens)
        assert (maps is None) == (attention == "none")


def test_beam_search_finds_the_more_probable_sequence() -> None:
    """A hand-made decoder where greedy takes 'a' (0.6) then </s> (0.55), while 'b' (0.4) then </s> (1.0)
    is more probable overall: beam k=2 finds it (0.4 > 0.6 * 0.55 = 0.33)."""

    class Scripted(torch.nn.Module):
        def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> Any:
            from dlrun.models.seq2seq import Memory

            zeros = torch.zeros(len(src), 1, 1)
            return Memory(zeros, torch.ones(len(src), 1, dtype=torch.bool), zeros), torch.zeros(1, len(src), 1)

        def step(self, tokens: torch.Tensor, state: torch.Tensor, memory: Any) -> Any:
            a, b = 3, 4
            probs = torch.full((len(tokens), 5), 1e-9)
            first = tokens == 1
            probs[first, a], probs[first, b] = 0.6, 0.4
            probs[tokens == a, a], probs[tokens == a, EOS] = 0.45, 0.55
            probs[tokens == b, EOS] = 1.0
            probs[(tokens == EOS) | (tokens == PAD), EOS] = 1.0
            return probs.log(), state, None

    src, lengths = torch.zeros(1, 1, dtype=torch.long), torch.ones(1, dtype=torch.long)
    assert greedy(Scripted(), src, lengths, 3)[0].tolist() == [[3, EOS, PAD]]
    assert beam_search(Scripted(), src, lengths, 2, 3).tolist() == [[4, EOS, PAD]]


def test_teacher_forcing_ratio_schedule() -> None:
    task = Seq2SeqTask(torch.nn.CrossEntropyLoss(), teacher_forcing_start=1.0, teacher_forcing_end=0.5, teacher_forcing_steps=100)
    assert [task.teacher_forcing_ratio(s) for s in (0, 50, 100, 400)] == [1.0, 0.75, 0.5, 0.5]
    constant = Seq2SeqTask(torch.nn.CrossEntropyLoss(), teacher_forcing_start=0.8, teacher_forcing_steps=0)
    assert constant.teacher_forcing_ratio(1000) == 0.8
    with pytest.raises(ValueError, match="teacher_forcing_end must be in"):
        Seq2SeqTask(torch.nn.CrossEntropyLoss(), teacher_forcing_end=1.5)


# -- end to end ------------------------------------------------------------------------------------
SMALL = ["experiment=seq2seq_reverse", "dataset.train_size=640", "dataset.val_size=100", "dataset.test_size=100",
         "dataset.max_len=6", "model.hidden_size=16", "model.embedding_dim=8", "task.teacher_forcing_steps=10"]


@pytest.mark.parametrize("attention", ["none", "dot"])
def test_seq2seq_reverse_runs_and_writes_attention_maps(train_run, attention: str) -> None:
    code, run = train_run(*SMALL, f"model.attention={attention}")
    assert code == 0
    results = read_results(run)
    assert set(results["test"]) == {f"test/{k}" for k in ("loss", "token_acc", "seq_acc", "token_acc_beam", "seq_acc_beam")}
    assert results["monitor"] == "val/seq_acc" and results["epochs_run"] == 2
    assert (run / "attention_maps.png").is_file() == (attention != "none")


@pytest.mark.fault("Ctrl-C mid-epoch in a task with carried state (char-LM hidden state, seq2seq teacher forcing)", "resuming from last.pt ends with the same weights")
def test_seq2seq_resumes_exactly_mid_epoch(tmp_path: Path) -> None:
    """10 steps per epoch; last.pt every 7 steps; teacher forcing below 1 draws from the global RNG,
    so only a checkpoint that restores it (and the step of the ratio schedule) ends identical."""
    common = [*FAST, *SMALL, "trainer.checkpoint.every_n_steps=7"]
    state, straight, resumed = interrupted_and_resumed(
        common, ["task._target_=test_seq2seq.InterruptingSeq2Seq", "+task.interrupt_after_steps=9"], tmp_path)
    assert (state["epoch"], state["batch_in_epoch"], state["global_step"]) == (0, 7, 7)
    assert same_final_weights(straight, resumed)
    assert read_results(tmp_path / "resumed")["test"] == read_results(tmp_path / "straight")["test"]


class InterruptingSeq2Seq(Seq2SeqTask):
    """Seq2SeqTask that raises KeyboardInterrupt (like Ctrl-C) after `interrupt_after_steps` batches."""

    def __init__(self, loss: torch.nn.Module, interrupt_after_steps: int, **options: Any) -> None:
        super().__init__(loss, **options)
        self.limit, self.calls = interrupt_after_steps, 0

    def training_step(self, model, batch):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls > self.limit:
            raise KeyboardInterrupt
        return super().training_step(model, batch)


def test_attention_image_is_white_at_zero_and_black_at_one() -> None:
    from dlrun.plots.seq_attention import attention_image

    image = attention_image(torch.tensor([[1.0, 0.0], [0.5, 0.5]]), cell=2)
    assert image.shape == (4, 4, 3) and image.dtype.name == "uint8"
    assert image[:, :, 0].tolist() == [[0, 0, 255, 255], [0, 0, 255, 255], [128, 128, 128, 128], [128, 128, 128, 128]]


def test_every_epoch_logs_the_first_validation_attention_map() -> None:
    data = SeqToy(vocab_size=5, min_len=3, max_len=5, train_size=8, val_size=4, test_size=4)
    data.setup(torch.device("cpu"))
    task = Seq2SeqTask(torch.nn.CrossEntropyLoss(), teacher_forcing_steps=10)
    task.setup(data, torch.device("cpu"))
    logged: list[tuple[str, Any, int]] = []

    class Logger:
        def image(self, tag: str, image: Any, step: int = 0, png_name: str | None = None) -> None:
            logged.append((tag, image, step))

        def scalars(self, metrics: dict[str, float], step: int) -> None:
            logged.append(("scalars", metrics, step))

    task.step = 5
    model = _model("dot").train()
    task.on_epoch_end(model, 3, [], Logger())  # type: ignore[arg-type]
    assert logged[0] == ("scalars", {"train/teacher_forcing": 0.75}, 3)
    tag, image, step = logged[1]
    n_src = int(data.splits["val"][1][0])
    tokens, _ = greedy(model, *data.examples("val", 1)[:2], 6)
    n_out = int((tokens[0] == EOS).nonzero()[0, 0]) + 1 if bool((tokens[0] == EOS).any()) else 6
    assert (tag, step, image.shape) == ("val/attention", 3, (16 * n_out, 16 * n_src, 3)) and model.training
