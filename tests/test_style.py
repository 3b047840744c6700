"""The style vocabulary: one rule for labels, names, lists, mixtures and spatial mixtures."""

import pytest
import torch

from cinlab import style
from cinlab.model import TransformerNet

NAMES = ["a", "b", "c", "d"]


def resolve(spec, check=True):
    return style.resolve_style(spec, 4, NAMES, check=check)


def test_a_label_or_a_name_is_one_style():
    for spec in (2, "c", torch.tensor(2)):
        condition = resolve(spec)
        assert condition.kind == "labels" and condition.value.tolist() == [2]


def test_a_list_is_one_image_per_entry_whatever_the_entries():
    labels = resolve([0, "b", 3])
    assert labels.kind == "labels" and labels.value.tolist() == [0, 1, 3]
    mixed = resolve([0, {"b": 0.5, "c": 0.5}, torch.tensor([0.0, 0.0, 0.0, 2.0])])
    assert mixed.kind == "weights" and mixed.count == 3
    torch.testing.assert_close(mixed.value, torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 2.0]]))


def test_a_list_of_plain_numbers_is_refused_not_guessed():
    """[1, 0, 0] and [1., 0., 0.] must not mean different things silently."""
    with pytest.raises(TypeError, match=r"\{style: weight"):
        resolve([1.0, 0.0, 0.0, 0.0])


def test_dicts_and_float_tensors_are_mixtures_used_as_given():
    condition = resolve({"a": 0.7, 3: 0.3})
    assert condition.kind == "weights"
    torch.testing.assert_close(condition.value, torch.tensor([[0.7, 0.0, 0.0, 0.3]]))
    assert resolve({"a": 0.5, 0: 0.5}).value[0, 0].item() == 1.0  # a style named twice adds up
    batch = resolve(torch.rand(5, 4) + 0.1)
    assert batch.kind == "weights" and batch.count == 5


def test_spatial_mixtures_from_dicts_of_maps_or_4d_tensors():
    mask = torch.linspace(0, 1, 6).expand(3, 6)
    condition = resolve(style.spatial_from_mask(mask, "a", "d"))
    assert condition.kind == "spatial" and condition.value.shape == (1, 4, 3, 6)
    torch.testing.assert_close(condition.value.sum(1), torch.ones(1, 3, 6))
    assert resolve(torch.rand(2, 4, 5, 5) + 0.1).kind == "spatial"


@pytest.mark.parametrize(
    "spec,error,message",
    [
        (4, ValueError, "out of range.*4 style"),
        (torch.tensor([0, -1]), ValueError, "out of range"),
        ("zebra", ValueError, "No style named 'zebra'"),
        (torch.tensor([0.2, 0.3, 0.5]), ValueError, "3 mixing weights.*4 styles"),
        (torch.tensor([0.5, -0.1, 0.3, 0.3]), ValueError, "negative"),
        (torch.zeros(4), ValueError, "all zero"),
        ({"a": float("nan")}, ValueError, "NaN"),
        ({}, ValueError, "Empty mixture"),
        ([], ValueError, "Empty list"),
        (True, TypeError, "bool"),
        (2.5, TypeError, "A style is"),
        (torch.rand(2, 2, 4), ValueError, "4 mixing weights|mixing weights"),
    ],
)
def test_bad_styles_get_errors_that_name_the_fix(spec, error, message):
    with pytest.raises(error, match=message):
        resolve(spec)


def test_one_condition_serves_a_whole_batch_but_k_conditions_need_k_images():
    assert resolve(1).broadcast_to(3).value.tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="3 styles for a batch of 2"):
        resolve([0, 1, 2]).broadcast_to(2)


def test_normalize_dicts_and_tensors():
    assert style.normalize({"a": 1.0, "b": 3.0}) == {"a": 0.25, "b": 0.75}
    torch.testing.assert_close(
        style.normalize(torch.tensor([[2.0, 2.0], [0.0, 5.0]])), torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    )
    for bad, message in (([0.0, 0.0], "all zero"), ([1.0, -1.0], "negative"), ([float("nan"), 1.0], "NaN")):
        with pytest.raises(ValueError, match=message):
            style.normalize(torch.tensor(bad))


def test_interpolate_bilinear_and_grid_build_mixtures_by_name():
    assert style.interpolate("a", "b", 0.25) == {"a": 0.75, "b": 0.25}
    ends = style.interpolate("a", "b", [0.0, 1.0])
    assert ends == [{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        style.interpolate(0, 1, 1.5)
    corners = ("a", "b", "c", "d")
    assert style.bilinear(corners, 0, 0)["a"] == 1.0 and style.bilinear(corners, 1, 1)["d"] == 1.0
    assert style.bilinear(corners, 0.5, 0.5) == {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}
    grid = style.grid(corners, 3, 3)
    assert len(grid) == 9 and grid[2]["b"] == 1.0  # top-right
    weights = resolve(grid)
    torch.testing.assert_close(weights.value.sum(1), torch.ones(9))


def test_spatial_mask_is_continuous_in_softness():
    """The old spatial_gradient jumped from linear to sigmoid at its default sharpness."""
    hard = style.spatial_mask(4, 11, softness=0.0)
    assert set(hard.unique().tolist()) <= {0.0, 0.5, 1.0}  # 0.5 only exactly on the boundary
    near = [style.spatial_mask(4, 11, softness=s) for s in (1e-4, 0.1, 0.1 + 1e-4)]
    assert (near[0] - hard).abs().max() < 1e-3
    assert (near[2] - near[1]).abs().max() < 1e-2
    left_right = style.spatial_split("a", "b", 4, 11, "horizontal", position=0.5, softness=0.2)
    assert float(left_right["a"][0, 0]) == 1.0 and float(left_right["b"][0, -1]) == 1.0
    vertical = style.spatial_mask(6, 4, "vertical")
    assert float(vertical[0, 0]) == 0.0 and float(vertical[-1, 0]) == 1.0
    circle = style.spatial_mask(21, 21, "circle", position=0.5, softness=0.05)
    assert float(circle[10, 10]) == 1.0 and float(circle[0, 0]) == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        style.spatial_from_mask(torch.full((2, 2), 2.0), "a", "b")


def test_the_network_follows_the_rule_in_forward_and_stylize():
    torch.manual_seed(0)
    net = TransformerNet(num_styles=4, width=0.25, style_names=NAMES)
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.5)
    image = torch.rand(1, 3, 20, 24)
    one = net.stylize(image, "b", precision="float32")
    assert one.shape == (1, 3, 20, 24)
    assert torch.equal(net.stylize(image, 1, precision="float32"), one)
    many = net.stylize(image, [0, "b", {"c": 1.0}], precision="float32")
    assert many.shape == (3, 3, 20, 24)
    torch.testing.assert_close(many[1:2], one)
    strip = net.stylize(image, style.interpolate("a", "b", [0.0, 0.5, 1.0]), precision="float32")
    assert strip.shape == (3, 3, 20, 24)
    torch.testing.assert_close(strip[2:3], one)
    batched = net.stylize(image, torch.eye(4)[:2], precision="float32")  # [K, N] weights: K images in one pass
    torch.testing.assert_close(batched[1:2], one)
    spatial = net.stylize(image, style.spatial_split("a", "d", 20, 24), precision="float32")
    assert spatial.shape == (1, 3, 20, 24)
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match="3 styles for a batch of 2"):
        net(x, [0, 1, 2])


@pytest.mark.parametrize(
    "typed,suggested",
    [("starry_nigth", "starry_night"), ("Starry_Night", "starry_night"), ("the scream", "the_scream")],
)
def test_a_misspelt_style_name_gets_did_you_mean(typed, suggested):
    names = ["starry_night", "the_scream", "udnie", "water_lilies"]
    with pytest.raises(ValueError, match=f"Did you mean '{suggested}'") as info:
        style.style_label(typed, 4, names)
    assert str(info.value).count("\n") == 0
    with pytest.raises(ValueError) as far:  # nothing close: no guess, but the list of names
        style.style_label("zebra", 4, names)
    assert "Did you mean" not in str(far.value) and "water_lilies" in str(far.value)


def test_the_message_for_a_network_with_many_styles_stays_short():
    names = [f"style_{i:05d}" for i in range(5000)]
    with pytest.raises(ValueError) as info:
        style.style_label("style_00042x", 5000, names)
    message = str(info.value)
    assert "'style_00042'" in message and "5000 in all" in message and len(message) < 2000
