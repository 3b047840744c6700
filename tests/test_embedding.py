"""The style embedding: vectors of (gamma, beta), a 2-D map, nearest styles, layer spread."""

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
