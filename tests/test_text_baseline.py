"""The lab's pooling baseline: architecture, padding invariance, pooling modes."""

from __future__ import annotations

import pytest
import torch

from dlrun.models.text_baseline import TextBaseline


def test_lab_architecture_parameter_count() -> None:
    model = TextBaseline(vocab_size=100, num_classes=2, embedding_dim=300, single_logit=True)
    lab = 100 * 300 + (300 * 150 + 150) + (150 * 150 + 150) + (150 * 1 + 1)  # E, fc(300,150), fc(150,150), fc(150,1)
    assert sum(p.numel() for p in model.parameters()) == lab


@pytest.mark.parametrize("pooling", ["mean", "max", "sum"])
def test_output_does_not_depend_on_batch_padding(pooling: str) -> None:
    torch.manual_seed(0)
    model = TextBaseline(vocab_size=20, num_classes=3, embedding_dim=8, pooling=pooling, hidden=[6]).eval()
    short = torch.tensor([[4, 5, 6]])
    alone = model(short, torch.tensor([3]))
    batch = torch.tensor([[4, 5, 6, 0, 0, 0], [7, 8, 9, 10, 11, 12]])
    together = model(batch, torch.tensor([3, 6]))
    assert together.shape == (2, 3)
    assert torch.allclose(together[0], alone[0], atol=1e-6)


def test_mean_pooling_matches_a_hand_computation() -> None:
    model = TextBaseline(vocab_size=5, num_classes=2, embedding_dim=2, hidden=[], single_logit=True)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, -4.0], [5.0, 6.0], [0.0, 1.0]]))
        linear = model.mlp.net[-1]
        linear.weight.copy_(torch.tensor([[1.0, 1.0]]))
        linear.bias.zero_()
    logits = model(torch.tensor([[1, 2, 0, 0]]), torch.tensor([2]))
    assert logits.shape == (1, 1) and logits.item() == pytest.approx((1 + 3) / 2 + (2 - 4) / 2)


def test_unknown_pooling() -> None:
    with pytest.raises(ValueError, match="pooling"):
        TextBaseline(vocab_size=5, num_classes=2, pooling="median")
