"""The VGG loss networks: layer names, weights, preprocessing, truncation and input checks."""

import pytest
import torch
import torchvision

import cinlab
from cinlab.images import ImageError
from cinlab.loss_network import CAFFE_MEAN_RGB, LossNetwork, layer_names, load_vgg19_caffe_state


@pytest.mark.parametrize("backend,factory", [("vgg19", torchvision.models.vgg19), ("vgg16", torchvision.models.vgg16)])
def test_layer_names_map_to_torchvision_indices(backend, factory):
    features = factory(weights=None).features
    names = layer_names(backend)
    assert len(names) == len(features)
    kinds = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}
    for name, module in zip(names, features):
        assert isinstance(module, kinds[name[:4]]), (name, module)


def test_well_known_indices():
    vgg19, vgg16 = layer_names("vgg19"), layer_names("vgg16")
    assert vgg19.index("relu1_1") == 1
    assert vgg19.index("relu4_2") == 22  # Gatys' content layer
    assert vgg19.index("relu5_1") == 29
    assert vgg16.index("relu3_3") == 15  # the paper's content layer
    assert vgg16.index("relu4_3") == 22


def test_truncates_after_the_deepest_requested_layer():
    net = LossNetwork("random", layers=("relu2_1", "relu1_2"))
    assert len(net.features) == layer_names("vgg19").index("relu2_1") + 1
    out = net(torch.rand(1, 3, 16, 16))
    assert set(out) == {"relu1_2", "relu2_1"}
    assert out["relu2_1"].shape == (1, 128, 8, 8)


def test_frozen_and_always_in_eval_mode():
    net = LossNetwork("random", layers=("relu1_1",))
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training


def test_embedded_vgg19_matches_a_plain_caffe_reference(vgg19):
    """Our RGB-input network equals torchvision's VGG-19 fed Caffe's BGR, mean-subtracted input."""
    image = cinlab.load_image("astronaut", size=64)
    reference = torchvision.models.vgg19(weights=None).features[:30].eval()
    state = {k: v for k, v in load_vgg19_caffe_state().items() if int(k.split(".")[0]) < 30}
    reference.load_state_dict(state)
    bgr = image[:, [2, 1, 0]] * 255 - torch.tensor(CAFFE_MEAN_RGB[::-1]).view(1, 3, 1, 1)
    expected = {}
    x = bgr
    names = layer_names("vgg19")
    with torch.no_grad():
        for i, module in enumerate(reference):
            x = module(x)
            expected[names[i]] = x
        ours = vgg19(image)
    for name, value in ours.items():
        # float32 sums in another order (oneDNN picks kernels by CPU): agreement to rounding of the
        # layer's magnitude (activations reach 2e4), not of each value.
        scale = expected[name].abs().max().item()
        torch.testing.assert_close(value, expected[name], rtol=1e-4, atol=1e-6 * scale, msg=name)


def test_embedded_vgg19_reproduces_measured_activation_statistics(vgg19):
    """relu1_1 / relu3_1 / relu4_2 means on astronaut at 128 px, measured once with cinlab 0.1.

    A change of preprocessing (RGB/BGR, scale, mean) or weights moves these by far more than 0.1 %.
    """
    image = cinlab.load_image("astronaut", size=128)
    with torch.no_grad():
        out = vgg19(image)
    assert out["relu1_1"].mean().item() == pytest.approx(28.524, rel=1e-3)
    assert out["relu3_1"].mean().item() == pytest.approx(208.42, rel=1e-3)
    assert out["relu4_2"].mean().item() == pytest.approx(580.77, rel=1e-3)


def test_bgr_mixup_would_be_caught(vgg19):
    """The statistic test has teeth: swapping R and B changes relu1_1's mean by over 1 %."""
    image = cinlab.load_image("astronaut", size=128)
    with torch.no_grad():
        right = vgg19(image, ["relu1_1"])["relu1_1"].mean()
        swapped = vgg19(image.flip(1), ["relu1_1"])["relu1_1"].mean()
    assert abs(swapped / right - 1) > 0.01


def test_caffe_preprocessing_values(vgg19):
    x = torch.rand(2, 3, 5, 7)
    # Caffe: 0-255 scale minus the mean pixel (channels in RGB order here: see loss_network).
    expected = x * 255 - torch.tensor(CAFFE_MEAN_RGB).view(1, 3, 1, 1)
    torch.testing.assert_close(vgg19.preprocess(x), expected, rtol=1e-5, atol=1e-4)


def test_avg_pooling_option():
    net = LossNetwork("random", layers=("relu2_1",), pooling="avg")
    assert isinstance(net.features[4], torch.nn.AvgPool2d)
    with pytest.raises(ValueError, match="pooling"):
        LossNetwork("random", layers=("relu1_1",), pooling="min")


def test_input_checks():
    net = LossNetwork("random", layers=("relu1_1",))
    with pytest.raises(ImageError, match="0-255"):
        net(torch.full((1, 3, 8, 8), 128.0))
    with pytest.raises(ImageError, match=r"\[B, 3, H, W\]"):
        net(torch.rand(1, 4, 8, 8))
    with pytest.raises(ValueError, match="not requested"):
        net(torch.rand(1, 3, 8, 8), layers=["relu2_1"])
    with pytest.raises(ValueError, match="Unknown layer"):
        LossNetwork("random", layers=("relu6_1",))
    with pytest.raises(ValueError, match="backend"):
        LossNetwork("vgg11", layers=("relu1_1",))


def test_random_backend_is_labelled():
    with pytest.warns(UserWarning, match="tests only"):
        net = LossNetwork("random", layers=("relu1_1",))
    assert net.is_random and "RANDOM" in net.describe() and "RANDOM" in repr(net)


def test_vgg16_from_a_local_file(tmp_path):
    """The paper's network from a local file: hash-checked by default, torchvision preprocessing."""
    model = torchvision.models.vgg16(weights=None)
    path = tmp_path / "vgg16-local.pth"
    torch.save(model.state_dict(), path)
    with pytest.raises(ValueError, match="check_hash=False"):
        LossNetwork("vgg16", layers=("relu3_3",), weights=path)
    net = LossNetwork("vgg16", layers=("relu3_3",), weights=path, check_hash=False)
    assert net.preprocessing == "torchvision"
    x = torch.rand(1, 3, 32, 32)
    normalised = torchvision.transforms.functional.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    with torch.no_grad():
        torch.testing.assert_close(net(x)["relu3_3"], model.features[:16](normalised))


def test_requested_conv_outputs_survive_inplace_relus():
    net = LossNetwork("random", layers=("conv1_2", "relu1_2", "relu2_1"))
    out = net(torch.rand(1, 3, 16, 16))
    assert (out["conv1_2"] < 0).any(), "conv1_2 was overwritten by its in-place ReLU"
    torch.testing.assert_close(out["relu1_2"], out["conv1_2"].clamp_min(0))


def test_the_style_weight_of_another_loss_network_keeps_the_balance():
    """torchvision's VGG-16 sees inputs divided by 255 and its std (~0.226): activations ~58x
    smaller than Caffe VGG's, content loss ~58^2 smaller, style loss ~58^4: the style weight must
    grow by ~58^2 for the same balance (the paper preset's rescaling)."""
    from cinlab.loss_network import equivalent_style_weight
    from cinlab.loss_network import TORCHVISION_STD

    scale = 255 * sum(TORCHVISION_STD) / 3
    assert equivalent_style_weight(1e-4, "vgg19") == 1e-4
    assert equivalent_style_weight(1e-4, "vgg16") == pytest.approx(1e-4 * scale**2)
    with pytest.raises(ValueError, match="backend"):
        equivalent_style_weight(1e-4, "vgg11")
