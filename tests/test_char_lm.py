"""Character-level LM (course lab 3, old): char_text batches, the vanilla RNN, the carried hidden
state, sampling, `dlrun predict`, and the lab3_char_lm preset end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from conftest import read_results
from dlrun.checkpoint import load_checkpoint
from dlrun.data.char_text import CharStreamBatches, CharText, CharVocab
from dlrun.errors import DlrunError
from dlrun.models.char_rnn import CharRNN
from dlrun.tasks.language_model import LanguageModelTask
from dlrun.tasks.text_generation import generate
from text_corpus import single_thread


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


# -- data ------------------------------------------------------------------------------------------
def test_characters_are_indexed_by_descending_frequency_ties_by_code_point() -> None:
    vocab = CharVocab.from_text("abracadabra")  # a 5, b 2, r 2, c 1, d 1
    assert vocab.chars == ["a", "b", "r", "c", "d"]
    assert vocab.encode("abracadabra").tolist() == [0, 1, 2, 0, 3, 0, 4, 0, 1, 2, 0]
    assert vocab.decode([4, 0, 2]) == "dar" and vocab.decode(torch.tensor([1])) == "b"
    with pytest.raises(DlrunError, match="'z' is not in the vocabulary"):
        vocab.encode("zebra")


def test_batches_are_contiguous_streams_with_targets_shifted_by_one() -> None:
    batches = CharStreamBatches(torch.arange(25), batch_size=2, seq_len=3)  # 24 // 6 = 4 batches
    got = list(batches)
    assert len(batches) == 4 and [t for _, _, t in got] == [0, 1, 2, 3]
    assert got[0][0].tolist() == [[0, 1, 2], [12, 13, 14]] and got[0][1].tolist() == [[1, 2, 3], [13, 14, 15]]
    assert got[1][0].tolist() == [[3, 4, 5], [15, 16, 17]]  # row i continues row i of the previous batch
    assert got[3][0].tolist() == [[9, 10, 11], [21, 22, 23]] and got[3][1].tolist() == [[10, 11, 12], [22, 23, 24]]
    batches.set_epoch(5, seed=9)  # never shuffled: every epoch is the same
    assert all(torch.equal(a[0], b[0]) for a, b in zip(got, batches))
    batches.skip = 2
    assert [t for _, _, t in batches] == [2, 3]


def test_char_text_on_a_known_string_holds_out_the_tail(tmp_path: Path) -> None:
    text = "".join(chr(ord("a") + (i * 7) % 26) for i in range(100))
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    data = CharText(path=str(path), batch_size=2, seq_len=5, eval_batch_size=4, val_size=0.1, test_size=0.2)
    data.setup(torch.device("cpu"))
    assert data.decode(data.splits["train"]) == text[:70]
    assert data.decode(data.splits["val"]) == text[70:80] and data.decode(data.splits["test"]) == text[80:]
    inputs, targets, t = next(iter(data.loader("train", train=True)))
    assert (data.decode(inputs[0]), data.decode(targets[0]), t) == (text[0:5], text[1:6], 0)
    assert data.decode(inputs[1]) == text[30:35]  # 69 // 10 = 6 batches: streams of 30 characters
    val = data.loader("val")  # 9 // 5 = 1 stream fits in 10 characters
    assert val.inputs.shape == (1, 5) and data.decode(val.targets[0]) == text[71:76]
    assert data.meta["vocab_size"] == 26 and data.state_dict()["chars"] == data.vocab.chars


def test_char_text_default_text_is_generated_offline_and_reproducible() -> None:
    one, two = CharText(default_chars=3000), CharText(default_chars=3000)
    one.setup(torch.device("cpu"))
    two.setup(torch.device("cpu"))
    assert one.read_text() == two.read_text() and one.read_text().startswith(tuple(f"{n}:\n" for n in
                                                                                   ("HAN", "LEIA", "LUKE", "BEN", "CHEWIE", "LANDO", "OWEN", "BERU", "YODA", "WEDGE")))
    assert set("HAN:\nIs that good or bad?\n\n") <= set(one.vocab.chars)  # the lab's seed string can be encoded


def test_char_text_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DlrunError, match="text file not found"):
        CharText(path=str(tmp_path / "nope.txt")).setup(torch.device("cpu"))
    (tmp_path / "bin.txt").write_bytes(b"ab\xff\xfe")
    with pytest.raises(DlrunError, match="not UTF-8"):
        CharText(path=str(tmp_path / "bin.txt")).setup(torch.device("cpu"))
    (tmp_path / "short.txt").write_text("abc" * 200)  # 480 train characters < one batch of 20 x 30
    with pytest.raises(DlrunError, match="shorter than one batch"):
        CharText(path=str(tmp_path / "short.txt"), batch_size=20, seq_len=30, val_size=0.1,
                 test_size=0.1).setup(torch.device("cpu"))
    with pytest.raises(DlrunError, match="the val split has 6 characters"):
        CharText(path=str(tmp_path / "short.txt"), val_size=0.01).setup(torch.device("cpu"))


def test_a_resumed_vocabulary_is_kept() -> None:
    data = CharText(default_chars=2000)
    data.load_state_dict({"chars": ["x", "y"]})
    assert data.meta["vocab_size"] == 2 and data.decode([1, 0]) == "yx"
    with pytest.raises(DlrunError, match="not in the vocabulary"):
        data.setup(torch.device("cpu"))


# -- model -----------------------------------------------------------------------------------------
def test_vanilla_rnn_is_the_labs_recurrence() -> None:
    torch.manual_seed(0)
    model = CharRNN(vocab_size=5, cell="rnn", hidden_size=4, init_std=0.5)
    for name, param in model.named_parameters():
        if "bias" in name:
            with torch.no_grad():
                param.normal_()  # biases are 0 at init; make them count here
    inputs = torch.tensor([[3, 0, 4]])
    logits, hidden = model(inputs)
    W, U = model.rnn.weight_hh_l0, model.rnn.weight_ih_l0
    b = model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0
    h = torch.zeros(4)
    for t, x in enumerate(inputs[0]):
        h = torch.tanh(W @ h + U[:, x] + b)  # U x_t with x_t one-hot picks column x
        o = model.output.weight @ h + model.output.bias
        assert torch.allclose(logits[0, t], o, atol=1e-6)
    assert torch.allclose(hidden[0, 0], h, atol=1e-6)


def test_init_is_normal_with_the_labs_std_and_zero_biases() -> None:
    torch.manual_seed(0)
    model = CharRNN(vocab_size=70, cell="lstm", hidden_size=100)
    for name, param in model.named_parameters():
        if "bias" in name:
            assert not param.any(), name
        else:
            assert 0.009 < float(param.detach().std()) < 0.011 and abs(float(param.detach().mean())) < 0.001, name


def test_unknown_cell_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown cell 'tcn'"):
        CharRNN(10, cell="tcn")


# -- the carried hidden state ------------------------------------------------------------------------
class Spy(torch.nn.Module):
    """A CharRNN that records the hidden state it is given."""

    def __init__(self, model: CharRNN) -> None:
        super().__init__()
        self.model = model
        self.seen: list[torch.Tensor | None] = []

    def forward(self, inputs, hidden=None):  # type: ignore[no-untyped-def]
        self.seen.append(hidden)
        return self.model(inputs, hidden)


def test_hidden_state_is_carried_detached_and_reset_each_epoch() -> None:
    torch.manual_seed(0)
    task = LanguageModelTask(torch.nn.CrossEntropyLoss(), sample_every=0)
    model = Spy(CharRNN(10, cell="gru", hidden_size=8, init_std=0.3))
    batches = CharStreamBatches(torch.randint(0, 10, (61,)), batch_size=2, seq_len=5)  # 6 batches
    for epoch in range(2):
        batches.set_epoch(epoch)
        for batch in batches:
            loss, stats = task.training_step(model, batch)
            loss.backward()
            assert math.isclose(float(stats["bpc"]), float(loss.detach()) / math.log(2), rel_tol=1e-6)
    seen = model.seen
    assert seen[0] is None and seen[6] is None  # reset at the start of each epoch
    assert all(h is not None and not h.requires_grad for i, h in enumerate(seen) if i % 6)  # carried, detached

    # The carried state makes batches 0 and 1 of a stream one continuous sequence.
    inputs = torch.cat([b[0] for b in list(batches)[:2]], dim=1)
    whole, _ = model.model(inputs)
    first, hidden = model.model(list(batches)[0][0])
    second, _ = model.model(list(batches)[1][0], hidden)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)


def test_state_dict_carries_the_hidden_state() -> None:
    task = LanguageModelTask(torch.nn.CrossEntropyLoss(), sample_every=0)
    model = CharRNN(10, cell="lstm", hidden_size=8)
    task.training_step(model, (torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long), 0))
    other = LanguageModelTask(torch.nn.CrossEntropyLoss(), sample_every=0)
    other.load_state_dict(task.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(other.hidden, task.hidden))


def test_evaluate_is_cross_entropy_per_character_and_bits() -> None:
    task = LanguageModelTask(torch.nn.CrossEntropyLoss())
    model = CharRNN(4, hidden_size=3)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # uniform predictions: ln 4 nats = 2 bits per character
        metrics = task.evaluate(model, CharStreamBatches(torch.arange(41) % 4, 2, 5), "val")
    assert math.isclose(metrics["loss"], math.log(4), rel_tol=1e-6) and math.isclose(metrics["bpc"], 2.0, rel_tol=1e-6)


# -- generation ------------------------------------------------------------------------------------
def test_generate_is_seeded_and_temperature_zero_is_argmax() -> None:
    torch.manual_seed(0)
    model = CharRNN(6, cell="rnn", hidden_size=8, init_std=0.8)
    prompt = torch.tensor([1, 2, 3])
    a = generate(model, prompt, 40, 1.0, torch.Generator().manual_seed(5))
    b = generate(model, prompt, 40, 1.0, torch.Generator().manual_seed(5))
    c = generate(model, prompt, 40, 1.0, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c) and len(a) == 40
    greedy = generate(model, prompt, 10, 0.0)
    logits, hidden = model(prompt[None])
    expected = []
    for _ in range(10):
        expected.append(int(logits[0, -1].argmax()))
        logits, hidden = model(torch.tensor([[expected[-1]]]), hidden)
    assert greedy.tolist() == expected
    assert model.training  # mode restored


# -- end to end --------------------------------------------------------------------------------------
SMALL = ["experiment=lab3_char_lm", "dataset.default_chars=6000", "task.sample_every=2", "task.n_sample=20"]


def test_lab3_char_lm_trains_samples_and_predicts(train_run, capsys) -> None:
    from dlrun.cli import main

    code, run = train_run(*SMALL)
    assert code == 0
    results = read_results(run)
    assert results["name"] == "lab3_char_lm" and results["epochs_run"] == 2
    assert math.isclose(results["test"]["test/bpc"], results["test"]["test/loss"] / math.log(2), rel_tol=1e-9)
    assert results["config"]["optimizer"]["_target_"] == "torch.optim.Adagrad" and results["config"]["optimizer"]["lr"] == 0.1
    assert results["config"]["trainer"]["gradient_clip_value"] == 5.0
    samples = (run / "samples.txt").read_text(encoding="utf-8")
    assert "=== step 2 ===\nHAN:\nIs that good or bad?\n\n" in samples and "=== final ===" in samples
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["data"]["chars"][0] == " "  # the most frequent character of the dialogue
    capsys.readouterr()
    ckpt = run / "checkpoints" / "last.pt"
    assert main(["predict", f"ckpt={ckpt}", "prompt=HAN:", "length=50", "seed=3"]) == 0
    first = capsys.readouterr().out
    assert main(["predict", f"ckpt={ckpt}", "prompt=HAN:", "length=50", "seed=3"]) == 0
    assert capsys.readouterr().out == first and first.startswith("HAN:") and len(first) == 4 + 50 + 1
    assert main(["predict", f"ckpt={ckpt}", "prompt=HAN€"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: prompt: character '€' is not in the vocabulary (")


def test_predict_refuses_other_tasks_and_bad_prompts(train_run, capsys) -> None:
    from dlrun.cli import main

    code, run = train_run("trainer.max_epochs=1")
    assert code == 0
    capsys.readouterr()
    assert main(["predict", f"ckpt={run / 'checkpoints' / 'last.pt'}", "prompt=hi"]) == 2
    assert "prompt= generates text with language models (task=language_model)" in capsys.readouterr().err
    assert main(["predict", "prompt=hi"]) == 2
    assert "missing ckpt=" in capsys.readouterr().err
    assert main(["predict", "ckpt=x.pt", "prompt=hi", "length=many"]) == 2
    assert "length: expected int, got 'many'" in capsys.readouterr().err



class InterruptingLM(LanguageModelTask):
    """LanguageModelTask that raises KeyboardInterrupt (like Ctrl-C) after `interrupt_after_steps` batches."""

    def __init__(self, loss: torch.nn.Module, interrupt_after_steps: int, **options) -> None:  # type: ignore[no-untyped-def]
        super().__init__(loss, **options)
        self.limit, self.calls = interrupt_after_steps, 0

    def training_step(self, model, batch):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls > self.limit:
            raise KeyboardInterrupt
        return super().training_step(model, batch)


@pytest.mark.fault("Ctrl-C mid-epoch in a task with carried state (char-LM hidden state, seq2seq teacher forcing)", "resuming from last.pt ends with the same weights")
def test_lab3_char_lm_resumes_exactly_mid_epoch_with_the_carried_hidden_state(tmp_path: Path) -> None:
    """5 batches per epoch; last.pt every 3 steps; cut after 8 steps, so last.pt holds step 6 = batch 1
    of epoch 2, whose carried hidden state (from batch 0) must come back for the weights to match."""
    from conftest import FAST, interrupted_and_resumed, same_final_weights

    common = [*FAST, *SMALL, "trainer.checkpoint.every_n_steps=3"]
    state, straight, resumed = interrupted_and_resumed(
        common, ["task._target_=test_char_lm.InterruptingLM", "+task.interrupt_after_steps=8"], tmp_path)
    assert (state["epoch"], state["batch_in_epoch"], state["global_step"]) == (1, 1, 6)
    assert same_final_weights(straight, resumed)
    straight_samples = (tmp_path / "straight" / "samples.txt").read_text().split("=== step 8 ===")[1]
    assert straight_samples == (tmp_path / "resumed" / "samples.txt").read_text().split("=== step 8 ===")[1]
