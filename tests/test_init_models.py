"""model.init on the text, metric, stereo, residual and recurrent models: each layer's variance against
the scheme's formula (per gate block for RNNs), bias constants, the head's own choice."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from torch import nn

from conftest import compose_config
from dlrun.models.char_rnn import CharRNN
from dlrun.models.resnet import ResNetSmall
from dlrun.models.seq2seq import Seq2Seq
from dlrun.models.simple_metric_embedding import SimpleMetricEmbedding
from dlrun.models.stereo_embed import StereoEmbedding
from dlrun.models.text_baseline import TextBaseline
from dlrun.models.text_cnn import TextCNN
from dlrun.models.text_rnn import TextRNN

TANH_GAIN = 5 / 3


def var(t: torch.Tensor) -> float:
    return t.detach().var().item()


def test_text_cnn_conv_fan_counts_the_kernel_width() -> None:
    torch.manual_seed(0)
    model = TextCNN(50, 3, embedding_dim=400, kernel_sizes=[5], channels=600, init="kaiming_normal", bias_init=0.1)
    assert var(model.convs[0].weight) == pytest.approx(2 / (400 * 5), rel=0.02)  # He: 2 / (E * k)
    assert torch.all(model.convs[0].bias == 0.1) and torch.all(model.out.bias == 0.1)
    assert var(model.embedding.weight[1:]) == pytest.approx(1.0, rel=0.05)  # embedding keeps N(0, 1)
    assert torch.all(model.embedding.weight[0] == 0)  # and its zero <PAD> row


@pytest.mark.parametrize(("cell", "gates"), [("gru", 3), ("lstm", 4), ("rnn", 1)])
def test_recurrent_weights_are_drawn_per_gate_block(cell: str, gates: int) -> None:
    torch.manual_seed(0)
    emb, hidden = 600, 400
    model = TextRNN(50, 2, embedding_dim=emb, cell=cell, hidden_size=hidden, num_layers=1, head=[8],
                    init="xavier_normal", bias_init=0.5)
    w_ih, w_hh = model.rnn.weight_ih_l0, model.rnn.weight_hh_l0
    assert w_ih.shape[0] == gates * hidden
    for block in w_ih.chunk(gates):  # Glorot per gate: N(0, 2 / (n_in + n_out)) with n_out = hidden
        assert var(block) == pytest.approx(2 / (emb + hidden), rel=0.03)
    for block in w_hh.chunk(gates):
        assert var(block) == pytest.approx(2 / (hidden + hidden), rel=0.03)
    assert torch.all(model.rnn.bias_ih_l0 == 0.5) and torch.all(model.rnn.bias_hh_l0 == 0)  # total bias = bias_init


def test_recurrent_gain_is_tanh_and_the_head_keeps_its_default() -> None:
    torch.manual_seed(0)
    model = TextRNN(50, 1000, embedding_dim=300, cell="gru", hidden_size=500, num_layers=1, head=[],
                    init="kaiming_normal", head_init="default")
    for block in model.rnn.weight_hh_l0.chunk(3):
        assert var(block) == pytest.approx(TANH_GAIN**2 / 500, rel=0.03)  # He with tanh's gain, fan_in = hidden
    head = model.head.net[-1]
    assert var(head.weight) == pytest.approx(1 / (3 * 500), rel=0.03)  # PyTorch's U(±1/sqrt(n_in))


def test_text_baseline_passes_init_to_its_mlp() -> None:
    torch.manual_seed(0)
    model = TextBaseline(50, 2, embedding_dim=1000, hidden=[800], init="kaiming_uniform", bias_init=0.1)
    first = model.mlp.net[1]
    assert var(first.weight) == pytest.approx(2 / 1000, rel=0.03)
    assert first.weight.abs().max().item() <= math.sqrt(6 / 1000) + 1e-7  # U(±sqrt(6 / n_in))
    assert torch.all(first.bias == 0.1)


def test_resnet_convs_and_logits() -> None:
    torch.manual_seed(0)
    model = ResNetSmall(3, 10, widths=[64, 256], residual=[False], init="kaiming_normal", init_fan="out")
    conv = model.features[1][0]  # the 64 -> 256 conv
    assert var(conv.weight) == pytest.approx(2 / (256 * 9), rel=0.03)  # fan_out = out channels x 3 x 3
    assert var(model.logits.weight) == pytest.approx(2 / 10, rel=0.15)  # same scheme on the head (fan_out 10)
    assert model.features[0][1].weight.eq(1).all()  # BatchNorm keeps gamma = 1


def test_metric_and_stereo_convs() -> None:
    torch.manual_seed(0)
    metric = SimpleMetricEmbedding(1, emb_size=256, init="xavier_normal", bias_init=0.1)
    conv = metric.features[2][2]  # the 256 -> 256 3x3 conv
    assert var(conv.weight) == pytest.approx(2 / (256 * 9 + 256 * 9), rel=0.03)
    assert torch.all(conv.bias == 0.1)
    stereo = StereoEmbedding(1, channels=256, init="trunc_normal")
    weight = stereo.convs[1].weight
    assert var(weight) == pytest.approx(2 / (256 * 9), rel=0.03)
    assert weight.abs().max().item() <= 2 * math.sqrt(2 / (256 * 9)) / 0.8796256610342398 + 1e-7


def test_char_rnn_keeps_the_lab_init_unless_asked() -> None:
    torch.manual_seed(0)
    lab = CharRNN(300, hidden_size=300, init_std=0.01)
    assert var(lab.rnn.weight_hh_l0) == pytest.approx(0.01**2, rel=0.03) and torch.all(lab.rnn.bias_ih_l0 == 0)
    xavier = CharRNN(300, hidden_size=300, init="xavier_uniform")
    assert xavier.rnn.weight_ih_l0.abs().max().item() <= math.sqrt(6 / 600) + 1e-7
    assert var(xavier.rnn.weight_ih_l0) == pytest.approx(2 / 600, rel=0.03)
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        CharRNN(10, init="glorot")


def test_seq2seq_encoder_decoder_and_head() -> None:
    torch.manual_seed(0)
    model = Seq2Seq(500, embedding_dim=400, hidden_size=400, cell="lstm", init="kaiming_normal", head_init="default")
    for rnn in (model.encoder, model.decoder):
        for block in rnn.weight_ih_l0.chunk(4):
            assert var(block) == pytest.approx(TANH_GAIN**2 / 400, rel=0.03)
    assert var(model.output.weight) == pytest.approx(1 / (3 * 800), rel=0.03)  # PyTorch's default on the head
    assert var(model.src_embedding.weight[1:]) == pytest.approx(1.0, rel=0.05)


def test_default_keeps_pytorch_init_of_a_conv() -> None:
    torch.manual_seed(0)
    model = TextCNN(50, 2, embedding_dim=400, kernel_sizes=[5], channels=600)
    assert var(model.convs[0].weight) == pytest.approx(1 / (3 * 400 * 5), rel=0.03)  # kaiming_uniform(a=sqrt 5)


SIZES = {
    "text_baseline": {"vocab_size": 20, "num_classes": 2, "embedding_dim": 8},
    "text_rnn": {"vocab_size": 20, "num_classes": 2, "embedding_dim": 8},
    "text_cnn": {"vocab_size": 20, "num_classes": 2, "embedding_dim": 8},
    "resnet_small": {"in_channels": 3, "num_classes": 10},
    "seq2seq": {"vocab_size": 20},
    "simple_metric_embedding": {"in_channels": 1},
    "stereo_embed": {"in_channels": 1},
    "char_rnn": {"vocab_size": 20},
}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_every_model_config_takes_the_shared_options(name: str) -> None:
    cfg = compose_config([f"model={name}", "model.init=xavier_normal", "model.init_fan=in", "model.bias_init=0.25"])
    model = instantiate(cfg.model, **SIZES[name])
    biases = [m.bias for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)) and m.bias is not None]
    assert (biases or name == "resnet_small") and all(torch.all(b == 0.25) for b in biases)  # resnet has no biases
    with pytest.raises((ValueError, InstantiationException), match="unknown init_fan"):
        instantiate(compose_config([f"model={name}", "model.init=xavier_normal", "model.init_fan=sideways"]).model, **SIZES[name])


def test_layer_norm_where_batch_norm_is_a_choice() -> None:
    torch.manual_seed(0)
    text = TextRNN(50, 2, embedding_dim=8, hidden_size=8, num_layers=1, head=[16], layer_norm=True)
    assert any(isinstance(m, nn.LayerNorm) for m in text.head.modules())
    baseline = TextBaseline(50, 2, embedding_dim=8, hidden=[16], layer_norm=True)
    assert isinstance(baseline.mlp.net[2], nn.LayerNorm) and baseline.mlp.net[1].bias is None
    metric = SimpleMetricEmbedding(1, emb_size=8, norm="layer")
    x = torch.randn(3, 1, 28, 28) * 5 + 2
    normed = metric.features[0][0](x)  # each sample: zero mean, unit variance over (C, H, W)
    assert normed.flatten(1).mean(1).abs().max() < 1e-5 and normed.flatten(1).var(1, unbiased=False).sub(1).abs().max() < 1e-3
    stereo = StereoEmbedding(1, channels=16, layer_norm=True)
    patch = torch.randn(2, 1, 9, 9)
    image = torch.zeros(2, 1, 20, 20)
    image[:, :, 5:14, 5:14] = patch
    # per-position statistics: the dense output at the patch centre equals the patch's embedding
    assert torch.allclose(stereo(image, dense=True)[:, :, 9, 9], stereo(patch), atol=1e-5)
    with pytest.raises(ValueError, match="batch_norm or layer_norm"):
        StereoEmbedding(1, batch_norm=True, layer_norm=True)
