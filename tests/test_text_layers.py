"""Embedding, padding mask and pooling over time for the text models."""

from __future__ import annotations

import pytest
import torch

from dlrun.models.text_layers import make_embedding, num_outputs, padding_mask, pool_over_time

X = torch.tensor([[[1.0, -2.0], [3.0, 4.0], [100.0, 100.0]],
                  [[-1.0, 5.0], [-7.0, -7.0], [-9.0, 9.0]]])  # (B=2, T=3, D=2); text 0 has 2 valid steps
LENGTHS = torch.tensor([2, 3])


def test_padding_mask() -> None:
    assert padding_mask(LENGTHS, 3).tolist() == [[True, True, False], [True, True, True]]


@pytest.mark.parametrize(("mode", "expected"), [
    ("mean", [[2.0, 1.0], [-17 / 3, 7 / 3]]),
    ("max", [[3.0, 4.0], [-1.0, 9.0]]),
    ("sum", [[4.0, 2.0], [-17.0, 7.0]]),
])
def test_pooling_ignores_padding(mode: str, expected: list[list[float]]) -> None:
    pooled = pool_over_time(X, padding_mask(LENGTHS, 3), mode)
    assert torch.allclose(pooled, torch.tensor(expected))


def test_pooling_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown pooling"):
        pool_over_time(X, padding_mask(LENGTHS, 3), "median")


def test_random_embedding_has_zero_untrained_pad_row_and_trains_by_default() -> None:
    embedding = make_embedding(10, 4, None, "auto")
    assert embedding.weight.requires_grad and torch.equal(embedding.weight[0], torch.zeros(4))
    embedding(torch.tensor([[0, 3, 0]])).sum().backward()
    assert torch.equal(embedding.weight.grad[0], torch.zeros(4)) and embedding.weight.grad[3].abs().sum() > 0


def test_pretrained_embedding_is_copied_and_frozen_by_auto() -> None:
    matrix = torch.arange(12.0).reshape(3, 4)
    matrix[0] = 0
    frozen = make_embedding(3, 4, matrix, "auto")
    assert torch.equal(frozen.weight, matrix) and not frozen.weight.requires_grad
    assert make_embedding(3, 4, matrix, False).weight.requires_grad
    assert not make_embedding(3, 4, None, True).weight.requires_grad
    frozen.weight.data += 1
    assert matrix[1, 0] == 4.0  # a copy: the dataset's matrix is not modified


@pytest.mark.parametrize(("args", "message"), [
    ((3, 4, torch.zeros(3, 5), "auto"), "shape"),
    ((3, 4, None, "maybe"), "freeze_embeddings"),
    ((0, 4, None, "auto"), "vocab_size"),
])
def test_embedding_argument_errors(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_embedding(*args)


def test_num_outputs() -> None:
    assert num_outputs(2, True) == 1 and num_outputs(2, False) == 2 and num_outputs(5, False) == 5
    with pytest.raises(ValueError, match="single_logit"):
        num_outputs(3, True)
