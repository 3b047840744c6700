"""Conditional instance norm and the transformer network."""

import pytest
import torch

from cinlab import style
from cinlab.model import MIN_IMAGE_SIZE, TransformerNet
from cinlab.norms import ConditionalInstanceNorm2d, conditional_instance_norm


def test_parameter_count_matches_the_paper():
    net = TransformerNet(num_styles=10)
    assert net.num_shared_parameters() == 1_674_432
    assert net.num_parameters_per_style() == 3_206
    assert sum(p.numel() for p in net.parameters()) == 1_674_432 + 10 * 3_206
    assert net.num_parameters_per_style() / net.num_shared_parameters() == pytest.approx(0.0019, abs=1e-4)


def test_no_conv_biases_and_magenta_init():
    net = TransformerNet(num_styles=2)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 16 and all(c.bias is None for c in convs)
    weights = torch.cat([c.weight.flatten() for c in convs])
    assert weights.std().item() == pytest.approx(0.01, rel=0.02)
    for layer in net.norm_layers():
        assert torch.all(layer.gamma == 1) and torch.all(layer.beta == 0)


def test_cin_matches_a_float64_reference():
    torch.manual_seed(0)
    norm = ConditionalInstanceNorm2d(4, num_styles=3)
    with torch.no_grad():
        norm.gamma.normal_()
        norm.beta.normal_()
    x = torch.randn(2, 4, 5, 6) * 3 + 1
    labels = torch.tensor([2, 0])
    xd = x.double()
    mean = xd.mean((2, 3), keepdim=True)
    var = xd.var((2, 3), unbiased=False, keepdim=True)
    expected = (xd - mean) / torch.sqrt(var + 1e-5) * norm.gamma.double()[labels][
        :, :, None, None
    ] + norm.beta.double()[labels][:, :, None, None]
    torch.testing.assert_close(norm(x, labels).double(), expected, rtol=1e-5, atol=1e-5)


def test_cin_mixing_weights_mix_gamma_and_beta():
    torch.manual_seed(0)
    norm = ConditionalInstanceNorm2d(4, num_styles=3)
    with torch.no_grad():
        norm.gamma.normal_()
        norm.beta.normal_()
    x = torch.randn(1, 4, 5, 5)
    w = torch.tensor([0.2, 0.0, 0.8])
    gamma = 0.2 * norm.gamma[0] + 0.8 * norm.gamma[2]
    beta = 0.2 * norm.beta[0] + 0.8 * norm.beta[2]
    expected = conditional_instance_norm(x, gamma.view(1, 4, 1, 1), beta.view(1, 4, 1, 1))
    torch.testing.assert_close(norm(x, w), expected)
    # One-hot weights equal the label.
    torch.testing.assert_close(norm(x, torch.tensor([0.0, 0.0, 1.0])), norm(x, 2))
    # Unnormalised, as in the paper: doubling the weights doubles gamma and beta.
    torch.testing.assert_close(norm(x, {1: 2.0}), 2 * norm(x, 1))


def test_cin_spatial_weights_give_each_region_its_style():
    torch.manual_seed(0)
    norm = ConditionalInstanceNorm2d(2, num_styles=2)
    with torch.no_grad():
        norm.gamma.normal_()
        norm.beta.normal_()
    x = torch.randn(1, 2, 4, 6)
    spatial = style.spatial_from_mask((torch.arange(6) >= 3).float().expand(4, 6), 0, 1)
    out = norm(x, spatial)
    torch.testing.assert_close(out[..., :3], norm(x, 0)[..., :3])
    torch.testing.assert_close(out[..., 3:], norm(x, 1)[..., 3:])


def test_train_and_eval_give_identical_outputs():
    net = TransformerNet(num_styles=3)
    x = torch.rand(2, 3, 32, 32)
    net.train()
    a = net(x, torch.tensor([0, 2]))
    net.eval()
    b = net(x, torch.tensor([0, 2]))
    assert torch.equal(a, b)
    assert not any("running" in name for name, _ in net.named_buffers())


@pytest.mark.parametrize("shape", [(16, 16), (37, 50), (64, 30), (101, 99)])
def test_any_size_input_comes_back_the_same_size(shape):
    net = TransformerNet(num_styles=1, width=0.25)
    out = net(torch.rand(1, 3, *shape))
    assert out.shape == (1, 3, *shape)
    assert 0 <= out.min() and out.max() <= 1


def test_odd_sizes_are_reflect_padded_to_a_multiple_of_4_and_cropped_back():
    import torch.nn.functional as F

    net = TransformerNet(num_styles=1, width=0.25)
    x = torch.rand(1, 3, 35, 43)
    padded = F.pad(x, (0, 1, 0, 1), mode="reflect")
    torch.testing.assert_close(net(x), net(padded)[..., :35, :43])


def test_variants_exist_for_teaching():
    x = torch.rand(2, 3, 32, 32)
    for kwargs in ({"upsample": "transpose"}, {"padding": "zero"}):
        assert TransformerNet(num_styles=1, width=0.25, **kwargs)(x).shape == x.shape, kwargs


def test_the_config_is_checked_once_where_it_is_made():
    from cinlab.model import MAX_WIDTH, ModelConfig

    for bad, message in (
        ({"num_styles": 0}, "num_styles"),
        ({"num_styles": 2.5}, "num_styles"),
        ({"width": 1000}, f"width must be a number in \\(0, {MAX_WIDTH:g}\\]"),
        ({"width": -1}, "width"),
        ({"norm": "xyz"}, "norm must be one of"),
        ({"upsample": "bicubic"}, "upsample"),
        ({"padding": "circular"}, "padding"),
    ):
        with pytest.raises(ValueError, match=message):
            ModelConfig(**bad)
        with pytest.raises(ValueError, match=message):
            TransformerNet(**bad)
    with pytest.raises(TypeError, match="ModelConfig"):
        TransformerNet(4)  # a number is not a config: num_styles=4
    config = ModelConfig(num_styles=3, width=0.25)
    assert TransformerNet(config).config == config
    assert TransformerNet(config, width=0.5).config == ModelConfig(num_styles=3, width=0.5)


def test_style_names_are_distinct():
    with pytest.raises(ValueError, match="more than once"):
        TransformerNet(num_styles=2, width=0.25, style_names=["a", "a"])
    net = TransformerNet(num_styles=2, width=0.25, style_names=["a", "b"])
    with pytest.raises(ValueError, match="more than once"):
        net.add_styles(1, names=["a"])
    assert net.num_styles == 2 and net.style_names == ["a", "b"]


def test_conv_layers_are_the_network_s_own_list_in_forward_order():
    net = TransformerNet(num_styles=2, width=0.25)
    layers = net.conv_layers()
    assert len(layers) == 3 + 2 * 5 + 3
    assert layers[0] is net.conv1 and layers[3] is net.residuals[0].conv1 and layers[-1] is net.out
    assert net.norm_layers() == [layer.norm for layer in layers]


def test_width_multiplier_scales_channels():
    small = TransformerNet(num_styles=1, width=0.5)
    assert small.config.channels() == (16, 32, 64)
    assert small.num_shared_parameters() < TransformerNet(num_styles=1).num_shared_parameters() / 3


def test_input_shape_size_and_device_errors():
    net = TransformerNet(num_styles=4, width=0.25)
    with pytest.raises(ValueError, match="at least 16x16"):
        net(torch.rand(1, 3, MIN_IMAGE_SIZE - 1, 40), 0)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        net(torch.rand(3, 16, 16), 0)
    with pytest.raises(ValueError, match="are on meta but the network is on cpu"):
        net(torch.rand(1, 3, 16, 16, device="meta"), 0)


def test_add_styles_grows_the_tables_and_keeps_old_rows():
    net = TransformerNet(num_styles=2, width=0.25)
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_()
    before = [p.detach().clone() for p in net.style_parameters()]
    x = torch.rand(1, 3, 16, 16)
    out_before = net(x, 1)
    labels = net.add_styles(2, names=["new1", "new2"])
    assert labels == [2, 3] and net.num_styles == 4 and net.style_names[2:] == ["new1", "new2"]
    for old, new in zip(before, net.style_parameters()):
        assert torch.equal(new[:2], old)
        torch.testing.assert_close(new[2], old.mean(0))
    assert torch.equal(net(x, 1), out_before)


def test_add_styles_with_identity_rows_appends_exactly_count_rows():
    """A bug found by reading: identity rows were cut from the old table, so count > N gave too few."""
    net = TransformerNet(num_styles=1, width=0.25)
    labels = net.add_styles(3, init="identity")
    assert labels == [1, 2, 3] and net.num_styles == 4
    for layer in net.norm_layers():
        assert layer.gamma.shape[0] == 4 and torch.all(layer.gamma[1:] == 1) and torch.all(layer.beta[1:] == 0)
    assert net(torch.rand(1, 3, 16, 16), 3).shape == (1, 3, 16, 16)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"count": 2, "names": ["only one"]}, "1 names for 2"),
        ({"count": 1, "names": ["a"]}, "ambiguous"),
        ({"count": 2, "names": ["x", "x"]}, "ambiguous"),
        ({"count": 0}, "positive"),
        ({"count": 1, "init": "zeros"}, "init"),
    ],
)
def test_add_styles_checks_everything_before_growing(kwargs, message):
    """A bug found by reading: names were checked after the tables grew, leaving a half-grown network."""
    net = TransformerNet(num_styles=2, width=0.25, style_names=["a", "b"])
    shapes = [p.shape for p in net.style_parameters()]
    with pytest.raises(ValueError, match=message):
        net.add_styles(**kwargs)
    assert net.num_styles == 2 and net.style_names == ["a", "b"]
    assert [p.shape for p in net.style_parameters()] == shapes


def test_stylize_fast_path_is_close_to_float32():
    torch.manual_seed(0)
    net = TransformerNet(num_styles=2, width=0.5)
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.5)
    image = torch.rand(1, 3, 48, 40)
    exact = net.stylize(image, 1, precision="float32")
    torch.testing.assert_close(exact, net(image, 1).detach())
    bf16 = net.stylize(image, 1, precision="bf16")
    assert bf16.dtype == torch.float32
    assert (bf16 - exact).abs().mean() < 2 / 255  # within about one 8-bit level on average


def test_a_mixture_over_some_rows_equals_the_same_mixture_over_all_styles():
    from cinlab.style import StyleCondition

    torch.manual_seed(0)
    net = TransformerNet(num_styles=5, width=0.25).eval()
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.5)
    x = torch.rand(2, 3, 36, 40)
    full = torch.zeros(2, 5)
    full[:, 1], full[:, 3] = torch.tensor([0.3, 0.6]), torch.tensor([0.7, 0.4])
    rows = torch.tensor([1, 3])
    expected = net(x, StyleCondition("weights", full))
    torch.testing.assert_close(net(x, StyleCondition("weights", full[:, rows], rows)), expected)
    spatial = full[:, :, None, None].expand(2, 5, 36, 40)
    torch.testing.assert_close(
        net(x, StyleCondition("spatial", spatial[:, rows].contiguous(), rows)), expected, rtol=1e-5, atol=1e-5
    )
