"""1-D convolutional text classifier: shapes, padding invariance, texts shorter than a kernel."""

from __future__ import annotations

import pytest
import torch

from dlrun.models.text_cnn import TextCNN


def test_shapes_and_padding_invariance() -> None:
    torch.manual_seed(0)
    model = TextCNN(vocab_size=30, num_classes=2, embedding_dim=8, kernel_sizes=[2, 5], channels=4, dropout=0.0).eval()
    short = torch.tensor([[3]])  # shorter than the width-5 kernel
    alone = model(short, torch.tensor([1]))
    batch = torch.tensor([[3, 0, 0, 0, 0, 0, 0], [4, 5, 6, 7, 8, 9, 10]])
    together = model(batch, torch.tensor([1, 7]))
    assert together.shape == (2, 2)
    assert torch.allclose(together[0], alone[0], atol=1e-6)
    assert TextCNN(vocab_size=30, num_classes=2, embedding_dim=8, single_logit=True)(batch, torch.tensor([1, 7])).shape == (2, 1)


@pytest.mark.parametrize("kwargs", [{"kernel_sizes": []}, {"kernel_sizes": [0]}, {"channels": 0}, {"dropout": 1.0}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TextCNN(vocab_size=30, num_classes=2, embedding_dim=8, **kwargs)
