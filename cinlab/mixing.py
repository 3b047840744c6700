"""Style mixing: weights over the N styles of a conditional instance norm network.

With CIN a style is a set of (gamma, beta) rows, so a convex combination of styles is a convex
combination of rows (Fig 7 of the paper): ``gamma = sum_i w_i gamma_i`` and the same for beta.
These helpers build the weight tensors that ``TransformerNet.__call__`` and ``stylize`` take:

- :func:`normalize_weights`: any non-negative weights -> weights summing to 1;
- :func:`one_hot`, :func:`interpolate`: a pure style, and the path between two;
- :func:`bilinear_corners`: a 2-D pad over four corner styles (Fig 7 left);
- :func:`spatial_gradient`, :func:`spatial_from_mask`: spatial weights [1, N, H, W] so that
  regions of one picture take different styles.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .model import validate_weights


def normalize_weights(weights: Sequence[float] | torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Scale non-negative weights to sum to 1 along ``dim`` (float32).

    Raises ``ValueError`` for NaN, negative or all-zero weights.
    """
    w = torch.as_tensor(weights, dtype=torch.float32)
    validate_weights(w, dim=dim)
    return w / w.sum(dim, keepdim=True)


def one_hot(index: int, num_styles: int) -> torch.Tensor:
    """Weights [N] selecting one style."""
    if not 0 <= index < num_styles:
        raise ValueError(f"Style {index} is out of range for {num_styles} styles (0 to {num_styles - 1}).")
    w = torch.zeros(num_styles)
    w[index] = 1.0
    return w


def interpolate(a: int, b: int, alpha: float | Sequence[float] | torch.Tensor, num_styles: int) -> torch.Tensor:
    """Weights between style ``a`` (alpha = 0) and style ``b`` (alpha = 1).

    ``alpha`` a float gives [N]; a sequence of K alphas gives [K, N] (one row per alpha).
    """
    alphas = torch.as_tensor(alpha, dtype=torch.float32)
    if not torch.isfinite(alphas).all() or (alphas < 0).any() or (alphas > 1).any():
        raise ValueError(f"alpha must lie in [0, 1]; got {alphas.tolist()}.")
    wa, wb = one_hot(a, num_styles), one_hot(b, num_styles)
    return (1 - alphas)[..., None] * wa + alphas[..., None] * wb


def bilinear_corners(corners: Sequence[int], u: float, v: float, num_styles: int) -> torch.Tensor:
    """Weights [N] for a point (u, v) in the unit square whose corners are four styles.

    ``corners`` = (top-left, top-right, bottom-left, bottom-right); u runs left to right, v
    top to bottom, both in [0, 1].
    """
    if len(corners) != 4:
        raise ValueError(f"Give four corner styles (top-left, top-right, bottom-left, bottom-right); got {len(corners)}.")
    if not (0 <= u <= 1 and 0 <= v <= 1):
        raise ValueError(f"u and v must lie in [0, 1]; got ({u}, {v}).")
    tl, tr, bl, br = (one_hot(c, num_styles) for c in corners)
    return (1 - u) * (1 - v) * tl + u * (1 - v) * tr + (1 - u) * v * bl + u * v * br


def grid_weights(corners: Sequence[int], rows: int, cols: int, num_styles: int) -> torch.Tensor:
    """A rows x cols grid of :func:`bilinear_corners` weights: [rows * cols, N], row-major."""
    out = []
    for r in range(rows):
        for c in range(cols):
            u = c / (cols - 1) if cols > 1 else 0.0
            v = r / (rows - 1) if rows > 1 else 0.0
            out.append(bilinear_corners(corners, u, v, num_styles))
    return torch.stack(out)


def spatial_gradient(
    a: int, b: int, height: int, width: int, num_styles: int, *, direction: str = "horizontal", sharpness: float = 1.0
) -> torch.Tensor:
    """Spatial weights [1, N, H, W] going from style ``a`` to style ``b`` across the image.

    ``direction`` is ``"horizontal"`` (a on the left) or ``"vertical"`` (a on top);
    ``sharpness`` > 1 narrows the blended band in the middle.
    """
    if direction not in ("horizontal", "vertical"):
        raise ValueError(f"direction must be 'horizontal' or 'vertical'; got {direction!r}.")
    n = width if direction == "horizontal" else height
    t = torch.linspace(0, 1, n)
    t = torch.sigmoid((t - 0.5) * 12 * sharpness) if sharpness != 1.0 else t
    t = t.view(1, n) if direction == "horizontal" else t.view(n, 1)
    return spatial_from_mask(t.expand(height, width), a, b, num_styles)


def spatial_from_mask(mask: torch.Tensor, a: int, b: int, num_styles: int) -> torch.Tensor:
    """Spatial weights [1, N, H, W] from a mask [H, W] (or [1, 1, H, W]) in [0, 1]:
    style ``a`` where the mask is 0, style ``b`` where it is 1, blends in between."""
    m = mask.float()
    while m.dim() > 2:
        m = m[0]
    if m.dim() != 2:
        raise ValueError(f"mask must be [H, W]; got shape {tuple(mask.shape)}.")
    if (m < 0).any() or (m > 1).any() or not torch.isfinite(m).all():
        raise ValueError("mask values must lie in [0, 1].")
    for s in (a, b):
        one_hot(s, num_styles)  # range check
    weights = torch.zeros(1, num_styles, *m.shape)
    weights[0, a] += 1 - m
    weights[0, b] += m
    return weights
