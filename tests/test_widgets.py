"""The style-mixing widgets: the logic (StyleMixer) and the ipywidgets wiring."""

import pytest
import torch

from cinlab.model import TransformerNet
from cinlab.widgets import StyleMixer, spatial_blend, style_pad, two_style_slider, weight_sliders


@pytest.fixture()
def model():
    torch.manual_seed(0)
    net = TransformerNet(4, width=0.25, style_names=["a", "b", "c", "d"])
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.5)
    return net


@pytest.fixture()
def photo():
    return torch.rand(1, 3, 40, 48)


def test_slider_value_gives_the_mixed_gamma_beta_and_a_new_image(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    first = mixer.render()
    mixer.set_pair(0, 2, 0.25)
    gamma, beta = mixer.mixed_affine(layer=3)
    norm = model.norm_layers()[3]
    torch.testing.assert_close(gamma, 0.75 * norm.gamma[0] + 0.25 * norm.gamma[2])
    torch.testing.assert_close(beta, 0.75 * norm.beta[0] + 0.25 * norm.beta[2])
    second = mixer.render()
    assert second.shape == (1, 3, 32, 38) and not torch.equal(first, second)
    assert mixer.last_ms > 0


def test_pure_styles_at_the_ends(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    content = mixer.content
    mixer.set_pair(1, 3, 0.0)
    torch.testing.assert_close(mixer.render(), model(content, 1), rtol=1e-5, atol=1e-5)
    mixer.set_pair(1, 3, 1.0)
    torch.testing.assert_close(mixer.render(), model(content, 3), rtol=1e-5, atol=1e-5)


def test_weights_are_normalised_and_checked(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    torch.testing.assert_close(mixer.set_weights([2, 0, 2, 0]), torch.tensor([0.5, 0, 0.5, 0]))
    with pytest.raises(ValueError, match="4 weights"):
        mixer.set_weights([1, 1])
    with pytest.raises(ValueError, match="negative"):
        mixer.set_weights([1, -1, 0, 0])


def test_spatial_split_puts_each_style_on_its_side(model, photo):
    mixer = StyleMixer(model, photo, size=32, precision="float32")
    weights = mixer.set_spatial(0, 1, "horizontal", position=0.5, softness=0.01)
    assert weights[0, 0, :, 0].min() > 0.99 and weights[0, 1, :, -1].min() > 0.99
    assert mixer.render().shape[-2:] == mixer.content.shape[-2:]
    with pytest.raises(ValueError, match="kind"):
        mixer.set_spatial(0, 1, "diagonal")


def test_two_style_slider_widget_updates_the_image(model, photo):
    box = two_style_slider(model, photo, 0, 3, size=32)
    before = box.image.value
    box.alpha.value = 1.0
    assert box.image.value != before
    torch.testing.assert_close(box.mixer.weights, torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert "ms per render" in box.children[-1].value


def test_weight_sliders_normalise(model, photo):
    box = weight_sliders(model, photo, styles=[0, 1, 2], size=32)
    box.sliders[1].value = 1.0
    torch.testing.assert_close(box.mixer.weights, torch.tensor([0.5, 0.5, 0.0, 0.0]))
    for slider in box.sliders:
        slider.value = 0.0  # all zero: the previous mixture is kept, no error
    torch.testing.assert_close(box.mixer.weights.sum(), torch.tensor(1.0))


def test_style_pad_and_spatial_blend_widgets(model, photo):
    pad = style_pad(model, photo, corners=(0, 1, 2, 3), size=32)
    pad.u.value, pad.v.value = 1.0, 0.0
    torch.testing.assert_close(pad.mixer.weights, torch.tensor([0.0, 1.0, 0.0, 0.0]))
    blend = spatial_blend(model, photo, 0, 2, size=32)
    blend.position.value = 0.2
    assert blend.mixer.spatial is not None and blend.mixer.spatial.shape[1] == 4
