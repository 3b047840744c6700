"""cinlab's fast paths compute the same thing as the plain reference the benchmarks time.

float32: cinlab's network and training loss equal benchmarks/reference.py's to float32
rounding. bf16 autocast: within bf16 tolerance of float32 on identical inputs.
"""

import sys
from pathlib import Path

import pytest
import torch

import cinlab
from cinlab.model import TransformerNet
from cinlab.train import TrainConfig, _loss_terms, compute_style_grams

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from reference import PlainNet, PlainVGG, plain_losses  # noqa: E402


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    net = TransformerNet(3)
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.3)
    config = TrainConfig.preset("vgg19", styles=["ihc", "brick", "gravel"], style_size=48)
    loss_net = cinlab.LossNetwork("vgg19", layers=("relu1_2", "relu2_2", "relu3_3", "relu4_3"))
    grams = compute_style_grams(loss_net, config.styles, config.style_layers, config.style_size, "cpu")
    content = torch.cat([cinlab.load_image(n, (40, 40)) for n in ("astronaut", "coffee")])
    labels = torch.tensor([2, 0])
    return net, config, loss_net, grams, content, labels


def test_network_matches_the_plain_reference(setup):
    net, _, _, _, content, labels = setup
    plain = PlainNet(3).copy_from(net)
    with torch.no_grad():
        torch.testing.assert_close(net(content, labels), plain(content, labels), rtol=1e-4, atol=1e-5)


def test_training_loss_matches_the_plain_reference(setup):
    net, config, loss_net, grams, content, labels = setup
    plain = PlainNet(3).copy_from(net)
    with torch.no_grad():
        ours = _loss_terms(net(content, labels), content, loss_net, grams, labels, config, {})
        total, c, s = plain_losses(plain, PlainVGG(), grams, content, labels, config.content_weight, config.style_weight)
    assert ours["content"].mean().item() == pytest.approx(c.item(), rel=1e-4)
    assert ours["style"].mean().item() == pytest.approx(s.item(), rel=1e-4)
    assert ours["total"].mean().item() == pytest.approx(total.item(), rel=1e-4)


def test_bf16_autocast_losses_within_tolerance_of_float32(setup):
    net, config, loss_net, grams, content, labels = setup
    with torch.no_grad():
        fp32 = _loss_terms(net(content, labels), content, loss_net, grams, labels, config, {})
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(content, labels)
            bf16 = _loss_terms(out, content, loss_net, grams, labels, config, {})
    assert out.dtype == torch.bfloat16
    for key in ("content", "style", "total"):
        assert bf16[key].dtype == torch.float32
        torch.testing.assert_close(bf16[key], fp32[key], rtol=0.05, atol=0)
