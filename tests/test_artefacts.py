"""Artefact measures: checkerboards, borders and the bright blob."""

import pytest
import torch

from cinlab.artefacts import blob_fraction, border_contrast, checkerboard_energy
from cinlab.model import TransformerNet


def test_artefact_metrics():
    flat = torch.full((1, 3, 16, 16), 0.5)
    assert checkerboard_energy(flat) == 0 and border_contrast(flat) == 0
    checker = (torch.arange(16)[None, :] + torch.arange(16)[:, None]) % 2
    assert checkerboard_energy(checker.float().expand(1, 3, 16, 16)) == pytest.approx(1.0)
    ramp = torch.linspace(0, 1, 16).expand(1, 3, 16, 16)
    assert checkerboard_energy(ramp) < 1e-6
    framed = flat.clone()
    framed[..., :2, :] = 0
    assert border_contrast(framed, width=2) > 0.1


def test_paper_layers_keep_a_constant_image_constant_unlike_the_variants():
    torch.manual_seed(0)
    constant = torch.full((1, 3, 48, 48), 0.5)
    outputs = {}
    for name, kwargs in {"paper": {}, "transpose": {"upsample": "transpose"}, "zero": {"padding": "zero"}}.items():
        torch.manual_seed(0)
        net = TransformerNet(num_styles=1, width=0.5, **kwargs)
        with torch.no_grad():
            for p in net.style_parameters():
                p.normal_(1.0, 0.5)
            outputs[name] = net(constant)
    paper = outputs["paper"]
    assert torch.allclose(paper, paper[..., :1, :1].expand_as(paper), atol=1e-6)
    assert checkerboard_energy(outputs["transpose"]) > 0.05
    assert border_contrast(outputs["zero"]) > 1e-3


def test_blob_fraction_counts_new_white_pixels_only():
    content = torch.full((1, 3, 4, 4), 0.5)
    content[..., 0, 0] = 1.0  # already white in the photo: not a blob
    output = torch.full((1, 3, 4, 4), 0.5)
    output[..., 0, 0] = 1.0
    output[..., 1, :2] = 0.99  # two saturated pixels on grey input
    output[0, 0, 2, 2] = 1.0  # one channel only: not saturated
    assert blob_fraction(output, content).tolist() == [2 / 16]
    with pytest.raises(ValueError, match="same shape"):
        blob_fraction(output, content[..., :2])


def test_blob_mask_is_what_blob_fraction_counts_and_iou():
    from cinlab.artefacts import blob_mask, mask_iou

    torch.manual_seed(0)
    content, output = torch.rand(2, 3, 8, 8) * 0.8, torch.rand(2, 3, 8, 8)
    output[0, :, :2, :2] = 0.99
    mask = blob_mask(output, content)
    assert mask.shape == (2, 8, 8) and mask[0, :2, :2].all()
    assert mask.float().flatten(1).mean(1).tolist() == blob_fraction(output, content).tolist()
    a = torch.zeros(4, 4, dtype=torch.bool)
    b = a.clone()
    a[0, :2], b[0, 1:3] = True, True  # overlap 1 pixel, union 3
    assert mask_iou(a, b) == pytest.approx(1 / 3)
    assert mask_iou(a, a) == 1.0 and mask_iou(a & False, b & False) == 1.0
    with pytest.raises(ValueError, match="same shape"):
        mask_iou(a, b[:2])


def test_local_contrast_percentile_tells_flat_from_textured():
    from cinlab.artefacts import local_contrast_percentile

    torch.manual_seed(0)
    image = torch.full((1, 3, 64, 64), 0.5)
    image[..., :, 32:] = torch.rand(1, 1, 64, 32)  # right half noisy, left half flat
    flat = torch.zeros(64, 64, dtype=torch.bool)
    flat[20:40, 2:12] = True
    textured = torch.zeros(64, 64, dtype=torch.bool)
    textured[20:40, 50:60] = True
    assert local_contrast_percentile(image, flat, window=5) < 5
    assert local_contrast_percentile(image, textured, window=5) > 50
    with pytest.raises(ValueError, match="empty"):
        local_contrast_percentile(image, flat & False)


def test_activation_outliers_find_a_planted_spike():
    """A bright dot on a flat photo stands out in the first layer; a mask on the flat part does
    not; and the statistics are those of the recorded activations."""
    from cinlab.artefacts import activation_outliers

    torch.manual_seed(0)
    net = TransformerNet(num_styles=2, width=0.25)
    image = 0.4 + 0.02 * torch.rand(1, 3, 30, 34)  # not a multiple of 4: the mask is padded like the image
    image[..., 12:16, 12:16] = 1.0
    dot = torch.zeros(30, 34, dtype=torch.bool)
    dot[6:22, 6:22] = True  # the dot with a margin that covers the 9x9 first layer's reach
    flat = torch.zeros(30, 34, dtype=torch.bool)
    flat[22:28, 26:32] = True
    rows = activation_outliers(net, image, 1, dot)
    assert [r["stage"] for r in rows][:4] == ["conv1", "conv2", "conv3", "residual 0"] and len(rows) == 11
    assert rows[-1]["stage"] == "out (pre-sigmoid)" and rows[-1]["channels"] == 3
    assert rows[0]["size"] == (32, 36) and rows[2]["size"] == (8, 9)
    first = rows[0]
    assert first["max_z_inside"] > first["max_z_outside"]
    assert first["variance_inside"] > 2 * first["area"] and first["channels_dominated"] == first["channels"]
    quiet = activation_outliers(net, image, 1, flat)[0]
    assert quiet["variance_inside"] < quiet["area"] and quiet["channels_dominated"] == 0
    # The arithmetic: with an empty mask, max_z_outside is the largest |z| of the recorded layer.
    recorded = []
    handle = net.conv1.register_forward_hook(lambda m, i, out: recorded.append(out.detach()))
    empty = activation_outliers(net, image, 1, dot & False)[0]
    handle.remove()
    a = recorded[0][0]
    z = (a - a.mean((1, 2), keepdim=True)) / a.std((1, 2), unbiased=False, keepdim=True)
    assert empty["max_z_outside"] == pytest.approx(z.abs().max().item(), rel=1e-5)
    assert empty["area"] == 0 and empty["max_z_inside"] == 0
    assert net.training  # the mode is restored
    with pytest.raises(ValueError, match=r"\[1, 3, H, W\]"):
        activation_outliers(net, image[0], 1, dot)
