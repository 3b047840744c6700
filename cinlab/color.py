"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman, "Preserving Color in Neural
Artistic Style Transfer", 2016).

Two ways to keep the content photo's colours while taking a painting's brush strokes:

- **luminance-only transfer**: stylise the luminance (Y of YIQ) alone, then put the content's
  chrominance (I, Q) back: the result's colours are the photo's by construction.
- **colour histogram matching**: before stylising, recolour the style image so the mean and
  covariance of its RGB values equal the content's.

All functions take and return [B, 3, H, W] tensors; RGB images are in [0, 1].
"""

from __future__ import annotations

import torch

# NTSC YIQ: Y is luminance in [0, 1]; I and Q carry the colour.
_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)


def rgb_to_yiq(rgb: torch.Tensor) -> torch.Tensor:
    """RGB [B, 3, H, W] in [0, 1] to YIQ [B, 3, H, W] (Y in [0, 1], I and Q signed)."""
    m = _RGB_TO_YIQ.to(rgb.device, rgb.dtype)
    return torch.einsum("ij,bjhw->bihw", m, rgb)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_yiq` (no clamping)."""
    m = torch.linalg.inv(_RGB_TO_YIQ.double()).to(yiq.device, yiq.dtype)
    return torch.einsum("ij,bjhw->bihw", m, yiq)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """Y channel [B, 1, H, W] of an RGB batch."""
    return rgb_to_yiq(rgb)[:, :1]


def grey_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """The luminance repeated in three channels: a grey RGB image [B, 3, H, W]."""
    return luminance(rgb).expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Grey version of ``style`` whose luminance mean and std equal the content's.

    Gatys et al. do this before luminance-only transfer so the painting's brightness range
    does not override the photo's.
    """
    ys, yc = luminance(style), luminance(content)
    matched = (ys - ys.mean()) / ys.std().clamp_min(1e-6) * yc.std() + yc.mean()
    return matched.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def transfer_chrominance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The luminance of ``stylized`` with the I, Q colour channels of ``content``, in [0, 1].

    The two images must have the same height and width.
    """
    if stylized.shape[-2:] != content.shape[-2:]:
        raise ValueError(
            f"transfer_chrominance needs images of the same size; got {tuple(stylized.shape[-2:])} "
            f"and {tuple(content.shape[-2:])}."
        )
    yiq = torch.cat([luminance(stylized), rgb_to_yiq(content)[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def match_color_histogram(style: torch.Tensor, content: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``style`` so its RGB mean and covariance equal the content's, in [0, 1].

    The linear map ``x -> A (x - mu_s) + mu_c`` with ``A = C_c^(1/2) C_s^(-1/2)`` (symmetric
    matrix square roots, "image analogies" colour transfer in Gatys et al. 2016).
    """

    def stats(x):
        flat = x.double().permute(1, 0, 2, 3).reshape(3, -1)
        mu = flat.mean(1, keepdim=True)
        centred = flat - mu
        cov = centred @ centred.T / centred.shape[1] + eps * torch.eye(3, dtype=torch.float64, device=x.device)
        return flat, mu, cov

    def sqrtm(c, inverse=False):
        values, vectors = torch.linalg.eigh(c)
        values = values.clamp_min(eps)
        power = -0.5 if inverse else 0.5
        return vectors @ torch.diag(values**power) @ vectors.T

    flat_s, mu_s, cov_s = stats(style)
    _, mu_c, cov_c = stats(content)
    a = sqrtm(cov_c) @ sqrtm(cov_s, inverse=True)
    out = a @ (flat_s - mu_s) + mu_c
    b, _, h, w = style.shape
    return out.reshape(3, b, h, w).permute(1, 0, 2, 3).to(style.dtype).clamp(0, 1).contiguous()
