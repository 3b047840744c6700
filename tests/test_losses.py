"""Gram matrices and losses against hand-computed and float64 references."""

import pytest
import torch

import cinlab
from cinlab.losses import content_loss, gram_matrix, style_loss, total_variation


def test_gram_matrix_hand_computed():
    # C = 2 channels, H = 1, W = 2: rows (1, 2) and (3, 4).
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[1 + 4, 3 + 8], [3 + 8, 9 + 16]]]) / 2.0  # / (H W)
    torch.testing.assert_close(cinlab.gram_matrix(features), expected)
    torch.testing.assert_close(cinlab.gram_matrix(features, normalize="chw"), expected / 2)


def test_gram_matrix_matches_float64_reference():
    torch.manual_seed(0)
    f = torch.randn(3, 5, 6, 7)
    ref = torch.einsum("bchw,bdhw->bcd", f.double(), f.double()) / 42
    torch.testing.assert_close(gram_matrix(f).double(), ref, rtol=1e-5, atol=1e-5)


def test_gram_matrix_ignores_spatial_layout():
    """Texture, not layout: shuffling the spatial positions leaves the Gram matrix unchanged."""
    torch.manual_seed(0)
    f = torch.randn(2, 8, 5, 6)
    perm = torch.randperm(30)
    shuffled = f.flatten(2)[..., perm].reshape_as(f)
    assert not torch.allclose(shuffled, f)
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(f))


def test_float32_under_autocast():
    torch.manual_seed(0)
    f = torch.randn(1, 4, 8, 8) * 100
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram_matrix(f)
        s = style_loss(g, torch.zeros_like(g))
        c = content_loss(f.bfloat16(), torch.zeros_like(f))
    assert g.dtype == s.dtype == c.dtype == torch.float32
    torch.testing.assert_close(g, gram_matrix(f))


def test_style_and_content_loss_values():
    g = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    assert style_loss(g, torch.zeros_like(g)).item() == pytest.approx((1 + 4 + 9 + 16) / 4)
    a, b = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    b[1] = 3
    assert content_loss(a, b).item() == pytest.approx((1 + 9) / 2)
    torch.testing.assert_close(content_loss(a, b, reduction="none"), torch.tensor([1.0, 9.0]))
    # A [1, C, C] target broadcasts over the batch.
    assert style_loss(torch.cat([g, g]), g).item() == 0


def test_total_variation():
    flat = torch.full((1, 3, 4, 4), 0.5)
    assert total_variation(flat).item() == 0
    stripes = torch.zeros(1, 1, 2, 2)
    stripes[..., 1] = 1  # vertical stripes: only horizontal neighbours differ
    assert total_variation(stripes).item() == pytest.approx(1.0)


def test_gram_matrix_gradient_matches_autograd_reference():
    """The one-matmul backward equals autograd's two-matmul one."""
    torch.manual_seed(0)
    f = torch.randn(2, 4, 3, 5, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 4, 4, dtype=torch.float64)
    (gram_matrix(f).double() * weights).sum().backward()
    ours = f.grad.clone()
    f.grad = None
    flat = f.reshape(2, 4, 15)
    ((flat @ flat.transpose(1, 2) / 15) * weights).sum().backward()
    torch.testing.assert_close(ours, f.grad, rtol=1e-5, atol=1e-6)
