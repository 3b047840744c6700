"""cinlab's fast paths compute the same thing as the plain reference the benchmarks time.

float32: cinlab's network and training loss equal benchmarks/reference.py's to float32
rounding. bf16 autocast: within bf16 tolerance of float32 on identical inputs.
"""

import pytest
import torch

import cinlab
from cinlab.losses import StyleTransferLoss
from cinlab.model import TransformerNet
from cinlab.reference import PlainCIN, PlainNet, PlainVGG, plain_gatys, plain_losses, plain_training_step
from cinlab.train import TrainConfig


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    net = TransformerNet(num_styles=3)
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.3)
    config = TrainConfig.preset("vgg19", styles=["ihc", "brick", "gravel"], style_size=48)
    loss_net = cinlab.LossNetwork("vgg19", layers=("relu1_2", "relu2_2", "relu3_3", "relu4_3"))
    loss = StyleTransferLoss(
        loss_net,
        config.content_layers,
        config.style_layers,
        content_weight=config.content_weight,
        style_weight=config.style_weight,
    )
    grams = loss.gram_targets([cinlab.load_image(s, config.style_size) for s in config.styles])
    content = torch.cat([cinlab.load_image(n, (40, 40)) for n in ("astronaut", "coffee")])
    labels = torch.tensor([2, 0])
    return net, config, loss, grams, content, labels


def _terms(loss, out, content, grams, labels):
    return loss(out, content, style_grams={layer: g[labels] for layer, g in grams.items()})


def test_network_matches_the_plain_reference(setup):
    net, _, _, _, content, labels = setup
    plain = PlainNet(3).copy_from(net)
    with torch.no_grad():
        torch.testing.assert_close(net(content, labels), plain(content, labels), rtol=1e-4, atol=1e-5)


def test_plain_cin_is_the_library_cin():
    torch.manual_seed(0)
    plain = PlainCIN(5, 3)
    ours = cinlab.ConditionalInstanceNorm2d(5, 3)
    with torch.no_grad():
        plain.gamma.normal_()
        plain.beta.normal_()
        ours.gamma.copy_(plain.gamma)
        ours.beta.copy_(plain.beta)
    x, labels = torch.randn(4, 5, 7, 6) * 2 + 1, torch.tensor([0, 2, 1, 2])
    torch.testing.assert_close(ours(x, labels), plain(x, labels), rtol=1e-5, atol=1e-5)


def test_plain_training_step_equals_a_library_training_step(setup):
    """The ~dozen lines notebook 5 shows are what the Trainer does: same labels, same update."""
    net, config, loss, grams, content, _ = setup
    torch.manual_seed(1)
    ours, plain = TransformerNet(num_styles=3, width=1.0), PlainNet(3)
    plain.copy_from(ours)
    vgg = PlainVGG()
    plain_opt = torch.optim.Adam(plain.parameters(), lr=1e-3)
    ours_opt = torch.optim.Adam(ours.parameters(), lr=1e-3)
    plain_total = plain_training_step(
        plain, vgg, plain_opt, content, grams, 3, generator=torch.Generator().manual_seed(5)
    )
    labels = torch.randint(3, (content.shape[0],), generator=torch.Generator().manual_seed(5))
    terms = _terms(loss, ours(content, labels), content, grams, labels)
    terms["total"].mean().backward()
    ours_opt.step()
    assert terms["total"].mean().item() == pytest.approx(plain_total, rel=1e-4)
    # Same gradients (Adam's first step is lr * sign(grad), so compare the gradients themselves).
    ours_layers = (
        [ours.conv1, ours.conv2, ours.conv3]
        + [c for b in ours.residuals for c in (b.conv1, b.conv2)]
        + [ours.up1, ours.up2, ours.out]
    )
    plain_layers = (
        [plain.c1, plain.c2, plain.c3] + [c for b in plain.res for c in (b.a, b.b)] + [plain.u1, plain.u2, plain.out]
    )
    for o, p in zip(ours_layers, plain_layers):
        for a, b in ((o.conv.weight.grad, p.conv.weight.grad), (o.norm.gamma.grad, p.norm.gamma.grad)):
            assert ((a - b).norm() / b.norm()).item() < 1e-2  # float32 sums in other orders; a wrong label is O(1)


def test_plain_gatys_lowers_the_same_loss_the_library_measures(setup):
    _, config, loss, _, _, _ = setup
    vgg = PlainVGG()
    content = cinlab.load_image("astronaut", (32, 32))
    style_image = cinlab.load_image("ihc", (32, 32))
    pastiche = plain_gatys(vgg, content, style_image, steps=15, style_weight=config.style_weight)
    grams = loss.gram_targets([style_image])
    before = loss(content, content, style_grams=grams)["total"].item()
    after = loss(pastiche, content, style_grams=grams)["total"].item()
    assert after < 0.7 * before


def test_training_loss_matches_the_plain_reference(setup):
    net, config, loss, grams, content, labels = setup
    plain = PlainNet(3).copy_from(net)
    with torch.no_grad():
        ours = _terms(loss, net(content, labels), content, grams, labels)
        total, c, s = plain_losses(
            plain, PlainVGG(), grams, content, labels, config.content_weight, config.style_weight
        )
    assert ours["content"].mean().item() == pytest.approx(c.item(), rel=1e-4)
    assert ours["style"].mean().item() == pytest.approx(s.item(), rel=1e-4)
    assert ours["total"].mean().item() == pytest.approx(total.item(), rel=1e-4)


def test_bf16_autocast_losses_within_tolerance_of_float32(setup):
    net, config, loss, grams, content, labels = setup
    with torch.no_grad():
        fp32 = _terms(loss, net(content, labels), content, grams, labels)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(content, labels)
            bf16 = _terms(loss, out, content, grams, labels)
    assert out.dtype == torch.bfloat16
    for key in ("content", "style", "total"):
        assert bf16[key].dtype == torch.float32
        torch.testing.assert_close(bf16[key], fp32[key], rtol=0.05, atol=0)


def test_plain_gatys_takes_the_library_gatys_steps_with_adam():
    """Notebook 3 shows plain_gatys beside gatys(): same layers, weights and Adam give the same pastiche."""
    from cinlab.optimization import gatys_loss
    from cinlab.paper import PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS

    content = cinlab.load_image("astronaut", (32, 40))
    style_image = cinlab.load_image("ihc", 32)
    plain = plain_gatys(PlainVGG(), content, style_image, steps=10, style_weight=1e-4)
    ours = cinlab.gatys(
        content,
        style_image,
        steps=10,
        optimizer="adam",
        lr=0.02,
        loss=gatys_loss(style_weight=1e-4, content_layers=PAPER_CONTENT_LAYERS, style_layers=PAPER_STYLE_LAYERS),
        progress=False,
    )
    moved = (plain - content).abs().mean().item()
    difference = (ours.image - plain).abs().mean().item()
    assert moved > 0.01  # the optimisation did something
    assert difference < 1e-3 * moved  # float32 rounding only (measured: 1e-8 against a movement of 0.1)
