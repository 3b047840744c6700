"""The evaluation protocol and the Fig 5/6/7 measurements."""

import pytest
import torch

from cinlab.evaluation import eval_curve, interpolation_style_losses, is_monotonic, loss_differences, value_at
from cinlab.model import TransformerNet


def _rows(name, values):
    return [{"step": s, "name": name, "content": c, "style": st} for s, (c, st) in values.items()]


def test_loss_differences_hand_computed():
    n_style = _rows("a", {10: (110.0, 90.0)}) + _rows("b", {10: (105.0, 120.0)})
    singles = {"a": _rows("a", {10: (100.0, 100.0)}), "b": _rows("b", {10: (100.0, 100.0)})}
    result = loss_differences(n_style, singles, step=10)
    assert result["per_style"]["a"] == pytest.approx({"content": 0.10, "style": -0.10})
    assert result["mean"]["content"] == pytest.approx(0.075)
    assert result["mean"]["style"] == pytest.approx(0.05)
    assert result["std"]["style"] == pytest.approx(((0.15**2 + 0.15**2) / 1) ** 0.5)  # sample std
    with pytest.raises(KeyError, match="no evaluation at step 20"):
        value_at(n_style, "a", "style", 20)


def test_eval_curve_sorts_by_step():
    rows = _rows("a", {20: (1.0, 2.0), 10: (3.0, 4.0)})
    assert eval_curve(rows, "a", "style") == ([10, 20], [4.0, 2.0])
    with pytest.raises(KeyError):
        eval_curve(rows, "zzz")


def test_is_monotonic():
    assert is_monotonic([1, 2, 2, 3], increasing=True)
    assert not is_monotonic([1, 3, 2], increasing=True)
    assert is_monotonic([3, 2, 2, 1], increasing=False)


def test_interpolation_endpoints_are_the_pure_styles(vgg19):
    torch.manual_seed(0)
    net = TransformerNet(num_styles=3, width=0.25).eval()
    with torch.no_grad():
        for p in net.style_parameters():
            p.normal_(1.0, 0.5)
    content = torch.rand(2, 3, 32, 32)
    result = interpolation_style_losses(
        net,
        0,
        2,
        [0.0, 0.5, 1.0],
        content,
        "ihc",
        "brick",
        loss_network=vgg19,
        style_size=32,
        style_layers=("relu1_1", "relu2_1"),
    )
    assert len(result["loss_a"]) == len(result["loss_b"]) == 3
    # alpha = 0 renders style 0 exactly, alpha = 1 style 2.
    with torch.no_grad():
        torch.testing.assert_close(net(content, torch.tensor([1.0, 0, 0])), net(content, 0))
        torch.testing.assert_close(net(content, torch.tensor([0, 0, 1.0])), net(content, 2))


def test_equal_images_per_style_compares_different_steps():
    n_style = _rows("a", {10: (110.0, 90.0), 100: (100.0, 50.0)})
    singles = {"a": _rows("a", {10: (100.0, 100.0)})}
    result = loss_differences(n_style, singles, step=100, single_step=10)
    assert result["per_style"]["a"]["style"] == pytest.approx(-0.5)
    assert result["single_step"] == 10 and result["step"] == 100


def test_evaluation_honours_style_multipliers(vgg19):
    """A bug found by reading: evaluate_styles ignored the per-style multipliers training used."""
    from cinlab.evaluation import evaluate_styles
    from cinlab.losses import StyleTransferLoss

    torch.manual_seed(0)
    net = TransformerNet(num_styles=2, width=0.25)
    loss = StyleTransferLoss(vgg19, ("relu2_1",), ("relu1_1",), style_weight=1e-3)
    grams = loss.gram_targets([torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)])
    batches = [torch.rand(2, 3, 24, 24)]
    plain = evaluate_styles(net, loss, grams, [0, 1], batches)
    weighted = evaluate_styles(net, loss, grams, [0, 1], batches, style_multipliers=[1.0, 3.0])
    assert weighted[0]["style"] == pytest.approx(plain[0]["style"])
    assert weighted[1]["style"] == pytest.approx(3 * plain[1]["style"], rel=1e-5)
    assert weighted[1]["style/relu1_1"] == pytest.approx(plain[1]["style/relu1_1"])  # per-layer values stay unweighted


# ----------------------------------------------------------------------------- blobs, and against the paper
