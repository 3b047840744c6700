"""Mixing-weight helpers."""

import pytest
import torch

from cinlab import mixing


def test_normalize_weights():
    torch.testing.assert_close(mixing.normalize_weights([1, 3]), torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(mixing.normalize_weights(torch.tensor([[2.0, 2.0], [0.0, 5.0]])), torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    for bad, message in (([0, 0], "all zero"), ([1, -1], "negative"), ([float("nan"), 1], "NaN")):
        with pytest.raises(ValueError, match=message):
            mixing.normalize_weights(bad)


def test_interpolate_endpoints_are_pure_styles():
    w = mixing.interpolate(1, 3, [0.0, 0.25, 1.0], num_styles=4)
    torch.testing.assert_close(w[0], mixing.one_hot(1, 4))
    torch.testing.assert_close(w[2], mixing.one_hot(3, 4))
    torch.testing.assert_close(w[1], torch.tensor([0.0, 0.75, 0.0, 0.25]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mixing.interpolate(0, 1, 1.5, 2)


def test_bilinear_corners_and_grid():
    corners = (0, 1, 2, 3)
    torch.testing.assert_close(mixing.bilinear_corners(corners, 0, 0, 4), mixing.one_hot(0, 4))
    torch.testing.assert_close(mixing.bilinear_corners(corners, 1, 1, 4), mixing.one_hot(3, 4))
    torch.testing.assert_close(mixing.bilinear_corners(corners, 0.5, 0.5, 4), torch.full((4,), 0.25))
    grid = mixing.grid_weights(corners, 3, 3, 4)
    assert grid.shape == (9, 4)
    torch.testing.assert_close(grid.sum(1), torch.ones(9))
    torch.testing.assert_close(grid[2], mixing.one_hot(1, 4))  # top-right


def test_spatial_weights():
    w = mixing.spatial_gradient(0, 2, 4, 5, 3)
    assert w.shape == (1, 3, 4, 5)
    torch.testing.assert_close(w.sum(1), torch.ones(1, 4, 5))
    torch.testing.assert_close(w[0, 0, :, 0], torch.ones(4))  # left edge: style 0
    torch.testing.assert_close(w[0, 2, :, -1], torch.ones(4))  # right edge: style 2
    assert torch.all(w[0, 1] == 0)
    vertical = mixing.spatial_gradient(0, 1, 4, 5, 2, direction="vertical")
    torch.testing.assert_close(vertical[0, 1, -1], torch.ones(5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mixing.spatial_from_mask(torch.full((2, 2), 2.0), 0, 1, 2)
    with pytest.raises(ValueError, match="out of range"):
        mixing.spatial_from_mask(torch.zeros(2, 2), 0, 5, 2)
