"""Recurrent text classifier: shapes for every configuration, packing, readouts, attention."""

from __future__ import annotations

import itertools

import pytest
import torch

from dlrun.models.text_rnn import CELLS, READOUTS, TextRNN
from text_corpus import single_thread


@pytest.fixture(autouse=True)
def _one_thread():
    with single_thread():
        yield


def _model(**kwargs) -> TextRNN:
    torch.manual_seed(0)
    base = {"vocab_size": 30, "num_classes": 2, "embedding_dim": 6, "hidden_size": 5, "num_layers": 2, "head": [4]}
    return TextRNN(**{**base, **kwargs}).eval()


TOKENS = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0], [10, 0, 0, 0, 0]])
LENGTHS = torch.tensor([5, 2, 1])


@pytest.mark.parametrize(("cell", "bidirectional", "readout"), list(itertools.product(CELLS, [False, True], READOUTS)))
def test_output_shapes(cell: str, bidirectional: bool, readout: str) -> None:
    for single_logit, width in ((True, 1), (False, 2)):
        model = _model(cell=cell, bidirectional=bidirectional, readout=readout, single_logit=single_logit)
        assert model(TOKENS, LENGTHS).shape == (3, width)
        states = model.states(TOKENS, LENGTHS)
        assert states.shape == (3, 5, 5 * (2 if bidirectional else 1))
    three = _model(cell=cell, bidirectional=bidirectional, readout=readout, num_classes=3)
    assert three(TOKENS, LENGTHS).shape == (3, 3)


@pytest.mark.parametrize(("cell", "bidirectional", "readout"), list(itertools.product(CELLS, [False, True], READOUTS)))
def test_packed_equals_unpacked_on_equal_length_batches(cell: str, bidirectional: bool, readout: str) -> None:
    model = _model(cell=cell, bidirectional=bidirectional, readout=readout, packed=True)
    tokens = torch.randint(2, 30, (4, 6), generator=torch.Generator().manual_seed(1))
    lengths = torch.full((4,), 6)
    packed = model(tokens, lengths)
    model.packed = False
    assert torch.allclose(model(tokens, lengths), packed, atol=1e-6)


@pytest.mark.parametrize(("cell", "bidirectional", "readout"), list(itertools.product(CELLS, [False, True], READOUTS)))
def test_packed_output_does_not_depend_on_batch_padding(cell: str, bidirectional: bool, readout: str) -> None:
    model = _model(cell=cell, bidirectional=bidirectional, readout=readout, packed=True)
    together = model(TOKENS, LENGTHS)
    for i, n in enumerate(LENGTHS.tolist()):
        alone = model(TOKENS[i : i + 1, :n], LENGTHS[i : i + 1])
        assert torch.allclose(together[i], alone[0], atol=1e-5)


@pytest.mark.parametrize(("cell", "readout"), list(itertools.product(CELLS, READOUTS)))
def test_unidirectional_unpacked_equals_packed_on_unequal_lengths(cell: str, readout: str) -> None:
    """Trailing padding never reaches a forward RNN's states at a text's own steps."""
    model = _model(cell=cell, readout=readout, packed=False)
    unpacked = model(TOKENS, LENGTHS)
    model.packed = True
    assert torch.allclose(unpacked, model(TOKENS, LENGTHS), atol=1e-6)


def test_auto_packs_only_bidirectional_models() -> None:
    assert not _model().packed and _model(bidirectional=True).packed
    assert _model(packed=True).packed and not _model(packed=False, bidirectional=True).packed
    with pytest.raises(ValueError, match="packed"):
        _model(packed="sometimes")


@pytest.mark.parametrize("cell", list(CELLS))
def test_last_readout_is_the_final_hidden_state_of_each_direction(cell: str) -> None:
    """Independent check against the RNN's own h_n (packed: the state after each text's last token)."""
    from torch.nn.utils.rnn import pack_padded_sequence

    model = _model(cell=cell, bidirectional=True, packed=True)
    packed = pack_padded_sequence(model.embedding(TOKENS), LENGTHS, batch_first=True, enforce_sorted=False)
    h_n = model.rnn(packed)[1]
    h_n = h_n[0] if cell == "lstm" else h_n
    expected = torch.cat([h_n[-2], h_n[-1]], dim=1)  # last layer: forward, backward
    states = model.states(TOKENS, LENGTHS)
    read = model.read(states, LENGTHS, torch.arange(5) < LENGTHS.unsqueeze(1))
    assert torch.allclose(read, expected, atol=1e-6)


def test_attention_matches_the_lab_formula_and_ignores_padding() -> None:
    model = _model(readout="attention", bidirectional=True)
    assert model.attention is not None and model.attention.w1.out_features == 5 // 2  # hidden_size / 2
    weights = model.attention_weights(TOKENS, LENGTHS)
    assert weights.shape == (3, 5)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3))
    assert weights[1, 2:].abs().sum() == 0 and weights[2, 1:].abs().sum() == 0
    assert weights[2, 0] == 1.0
    states = model.states(TOKENS, LENGTHS)
    w1, w2 = model.attention.w1.weight, model.attention.w2.weight
    scores = torch.tanh(states[0] @ w1.T) @ w2.T  # a_t = w2^T tanh(W1 h_t) for text 0 (no padding)
    alpha = torch.softmax(scores.squeeze(1), dim=0)
    assert torch.allclose(weights[0], alpha, atol=1e-6)
    pooled = (alpha.unsqueeze(1) * states[0]).sum(0)
    assert torch.allclose(model.read(states, LENGTHS, weights > -1)[0], pooled, atol=1e-6)
    assert _model(readout="attention", attention_size=7).attention.w1.out_features == 7
    assert _model(readout="last").attention_weights(TOKENS, LENGTHS) is None


def test_lab_gru_parameter_count() -> None:
    model = TextRNN(vocab_size=100, num_classes=2, embedding_dim=300, cell="gru", hidden_size=150, num_layers=2,
                    head=[150], single_logit=True)
    gru = 3 * (150 * 300 + 150 * 150 + 2 * 150) + 3 * (150 * 150 + 150 * 150 + 2 * 150)
    head = (150 * 150 + 150) + (150 + 1)
    assert sum(p.numel() for p in model.parameters()) == 100 * 300 + gru + head


def test_dropout_between_layers_only_with_several_layers() -> None:
    assert _model(dropout=0.3, num_layers=2).rnn.dropout == 0.3
    assert _model(dropout=0.3, num_layers=1).rnn.dropout == 0.0


@pytest.mark.parametrize(("kwargs", "message"), [({"cell": "transformer"}, "unknown cell"), ({"readout": "first"}, "unknown readout"),
                                                 ({"hidden_size": 0}, "hidden_size"), ({"dropout": 1.0}, "dropout")])
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _model(**kwargs)
