"""The style embedding: vectors of (gamma, beta), a 2-D map, nearest styles, layer spread."""

import copy

import pytest
import torch

from cinlab import embedding, style
from cinlab.model import TransformerNet


@pytest.fixture()
def net():
    torch.manual_seed(0)
    model = TransformerNet(num_styles=4, width=0.25, style_names=["a", "b", "c", "d"])
    with torch.no_grad():
        for p in model.style_parameters():
            p.normal_(1.0, 0.3)
    return model


def test_a_style_vector_is_its_gamma_and_beta_rows(net):
    vectors = embedding.style_vectors(net)
    assert vectors.shape == (4, net.num_parameters_per_style())
    gammas, betas = embedding.style_vectors(net, "gamma"), embedding.style_vectors(net, "beta")
    assert gammas.shape[1] + betas.shape[1] == vectors.shape[1]
    first = net.norm_layers()[0]
    torch.testing.assert_close(vectors[2, : first.gamma.shape[1]], first.gamma[2].detach())
    with pytest.raises(ValueError, match="part must be"):
        embedding.style_vectors(net, "alpha")


def test_mixing_styles_is_a_straight_line_in_the_embedding(net):
    """Mixing weights mix the rows: the mixture's vector is the same convex combination of vectors."""
    vectors = embedding.style_vectors(net)
    w = style.mixture_weights({"a": 0.3, "c": 0.7}, 4, net.style_names)
    mixed = w @ vectors
    layer = net.norm_layers()[0]
    torch.testing.assert_close(mixed[: layer.gamma.shape[1]], (w @ layer.gamma).detach())


def test_pca_recovers_a_planted_two_dimensional_layout():
    torch.manual_seed(0)
    plane = torch.randn(2, 50)
    coords = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 2.0], [4.0, 2.0], [2.0, 1.0]])
    points = coords @ plane + 1e-4 * torch.randn(5, 50)
    projected, share = embedding.pca(points, 2)
    assert share.sum() > 0.999 and share[0] > share[1]
    # distances between points are kept by a projection onto the plane they lie in
    torch.testing.assert_close(torch.cdist(projected, projected), torch.cdist(points, points), atol=1e-3, rtol=1e-3)


def test_nearest_styles_and_layer_spread(net):
    with torch.no_grad():
        for layer in net.norm_layers():  # make "d" a near copy of "b"
            layer.gamma[3] = layer.gamma[1] + 1e-3
            layer.beta[3] = layer.beta[1]
    assert embedding.nearest_styles(net, "b", k=1)[0][0] == "d"
    assert [name for name, _ in embedding.nearest_styles(net, 0, k=3)] and len(
        embedding.nearest_styles(net, 0, k=10)
    ) == 3
    spread = embedding.layer_spread(net)
    assert [row["layer"] for row in spread][:2] == ["conv1", "conv2"] and spread[-1]["layer"] == "out"
    assert len(spread) == len(net.norm_layers()) and all(row["gamma"] > 0 for row in spread)
    assert embedding.layer_spread(net, ["b", "d"])[0]["beta"] == pytest.approx(0.0, abs=1e-6)


def test_split_mixture_takes_gamma_and_beta_from_different_styles(net):
    x = torch.rand(1, 3, 24, 24)
    same = embedding.split_mixture(net, "c", "c")
    torch.testing.assert_close(same(x, 0), net(x, 2))
    split = embedding.split_mixture(net, "a", {"b": 0.5, "d": 0.5})
    assert split.num_styles == 1
    for mine, theirs in zip(split.norm_layers(), net.norm_layers()):
        torch.testing.assert_close(mine.gamma[0], theirs.gamma[0])
        torch.testing.assert_close(mine.beta[0], 0.5 * theirs.beta[1] + 0.5 * theirs.beta[3])
    assert net.num_styles == 4  # the original is untouched
    with pytest.raises(ValueError, match="one style or one mixture"):
        embedding.split_mixture(net, ["a", "b"], "c")


def _shift_beta(model, layer_name, label=0, shift=0.5):
    layer = dict(zip(embedding.norm_layer_names(model), model.norm_layers()))[layer_name]
    with torch.no_grad():
        layer.beta[label] += shift


def test_inert_beta_rows_are_found_from_the_structure_and_have_no_effect(net):
    """The residual blocks' second beta cannot change the output; every other layer's beta can."""
    inert = embedding.inert_beta_layers(net)
    assert inert == [f"residuals.{k}.conv2" for k in range(5)]
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = net(x, 0)
        for name in embedding.norm_layer_names(net):
            shifted = copy.deepcopy(net)
            _shift_beta(shifted, name)
            change = float((shifted(x, 0) - reference).abs().max())
            if name in inert:
                assert change < 1e-5, f"{name}: an inert beta changed the output by {change}"
            else:
                assert change > 1e-3, f"{name}: a live beta changed the output by only {change}"


@pytest.mark.parametrize("setting", [{"padding": "zero"}, {"upsample": "transpose"}])
def test_no_beta_is_inert_where_the_argument_fails(setting):
    torch.manual_seed(0)
    model = TransformerNet(num_styles=2, width=0.25, **setting)
    assert embedding.inert_beta_layers(model) == []
    assert embedding.noise_floor(model) is None
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    shifted = copy.deepcopy(model)
    _shift_beta(shifted, "residuals.0.conv2")
    with torch.no_grad():
        assert float((shifted(x, 0) - model(x, 0)).abs().max()) > 1e-4  # the zero padding's edges see it


def test_style_vectors_can_leave_out_the_inert_rows(net):
    full, live = embedding.style_vectors(net), embedding.style_vectors(net, drop_inert=True)
    channels = net.residuals[0].conv2.norm.beta.shape[1]
    assert live.shape == (4, full.shape[1] - 5 * channels)
    # the kept coordinates are the full vector's, in order, less each inert layer's beta
    keep = []
    for name, layer in zip(embedding.norm_layer_names(net), net.norm_layers()):
        c = layer.gamma.shape[1]
        keep += [True] * c + [name not in embedding.inert_beta_layers(net)] * c
    torch.testing.assert_close(live, full[:, torch.tensor(keep)])
    assert embedding.style_vectors(net, "gamma", drop_inert=True).shape == embedding.style_vectors(net, "gamma").shape


def test_styles_that_differ_only_in_inert_rows_are_one_point_without_them(net):
    with torch.no_grad():
        for name, layer in zip(embedding.norm_layer_names(net), net.norm_layers()):
            layer.gamma[3] = layer.gamma[1]
            layer.beta[3] = layer.beta[1] + (2.0 if name in embedding.inert_beta_layers(net) else 0.0)
    assert embedding.nearest_styles(net, "b", k=1)[0][1] > 1.0  # far apart with every number
    name, distance = embedding.nearest_styles(net, "b", k=1, drop_inert=True)[0]
    assert name == "d" and distance == pytest.approx(0.0, abs=1e-6)


def test_noise_floor_is_the_mean_beta_spread_of_the_inert_layers(net):
    spread = {row["layer"]: row["beta"] for row in embedding.layer_spread(net)}
    inert = embedding.inert_beta_layers(net)
    assert embedding.noise_floor(net) == pytest.approx(sum(spread[name] for name in inert) / len(inert))
    assert embedding.noise_floor(net, ["a", "b"]) != pytest.approx(embedding.noise_floor(net))
