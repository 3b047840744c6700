"""The normaliser is a parameter of the network: a new one is one class and one table entry.

The test below adds plain instance normalisation (no per-style parameters) the way a user would,
without touching any cinlab module, and takes it through everything a network does: train,
checkpoint, reload, stylise.
"""

import pytest
import torch
import torch.nn.functional as F

import cinlab
from cinlab import norms
from cinlab.checkpoint import load_model
from cinlab.model import ModelConfig, TransformerNet
from cinlab.train import TrainConfig, Trainer


class PlainInstanceNorm(norms.Norm):
    """Instance normalisation with one learned scale and shift per channel, shared by every style."""

    def __init__(self, num_channels: int, num_styles: int = 1):
        super().__init__(num_channels, num_styles)
        self.weight = torch.nn.Parameter(torch.ones(num_channels))
        self.bias = torch.nn.Parameter(torch.zeros(num_channels))

    def forward(self, x, condition):
        return F.instance_norm(x, weight=self.weight, bias=self.bias)


@pytest.fixture()
def plain_in(monkeypatch):
    monkeypatch.setitem(norms.NORMS, "plain_in", PlainInstanceNorm)  # the one table entry (undone after the test)
    return "plain_in"


def test_a_new_normaliser_trains_checkpoints_reloads_and_stylises(plain_in, tmp_path):
    config = TrainConfig.preset("fast", styles=["ihc"], content=["astronaut"], norm=plain_in, steps=3, log_every=1)
    trainer = Trainer(config, out_dir=tmp_path / "run", device="cpu", loss_network=_random_vgg(config))
    trainer.fit(progress=False)
    assert all(isinstance(n, PlainInstanceNorm) for n in trainer.model.norm_layers())
    assert trainer.model.style_parameters() == [] and trainer.history[-1]["step"] == 3
    net = load_model(tmp_path / "run" / "model.pt", "cpu")
    assert net.config.norm == plain_in and isinstance(net.norm_layers()[0], PlainInstanceNorm)
    for mine, theirs in zip(net.state_dict().values(), trainer.model.state_dict().values()):
        torch.testing.assert_close(mine, theirs.cpu(), rtol=0, atol=0)
    photo = cinlab.load_image("astronaut", size=32)
    out = net.stylize(photo, 0, precision="float32")
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    torch.testing.assert_close(out, trainer.model.cpu().stylize(photo, 0, precision="float32"))
    resumed = Trainer.resume(
        tmp_path / "run" / "checkpoint.pt", steps=4, device="cpu", loss_network=_random_vgg(config)
    )
    assert resumed.fit(progress=False).step == 4


def test_a_normaliser_without_style_rows_holds_one_style_and_says_so(plain_in):
    with pytest.raises(ValueError, match="num_styles=1"):
        ModelConfig(num_styles=3, norm=plain_in)
    net = TransformerNet(norm=plain_in, width=0.25)
    with pytest.raises(ValueError, match="per-style rows"):
        net.add_styles(1)
    with pytest.raises(ValueError, match="no embedding"):
        cinlab.embedding.style_vectors(net)


def test_register_norm_takes_only_normalisers():
    assert norms.register_norm("plain_in", PlainInstanceNorm) is PlainInstanceNorm
    try:
        assert ModelConfig(norm="plain_in").norm == "plain_in"
        assert norms.register_norm("plain_in", PlainInstanceNorm) is PlainInstanceNorm  # the same again: fine
    finally:
        del norms.NORMS["plain_in"]
    with pytest.raises(TypeError, match="subclass of cinlab.norms.Norm"):
        norms.register_norm("bn", torch.nn.BatchNorm2d)
    with pytest.raises(ValueError, match="already registered"):
        norms.register_norm("cin", PlainInstanceNorm)


def _random_vgg(config):
    layers = tuple(dict.fromkeys(config.content_layers + config.style_layers))
    return cinlab.LossNetwork("random", layers=layers)
