"""Content, style and total-variation losses, as in the paper and magenta's code.

- Gram matrix: ``G = F F^T / (H W)`` for features ``F`` of shape [C, H*W] (magenta divides by
  H*W only; ``normalize="chw"`` divides by C*H*W as Johnson et al. do).
- Style loss of one layer: the mean over the C x C entries of ``(G(p) - G(s))^2``.
- Content loss: the mean squared difference of feature maps.

Everything here is computed in float32, also under ``torch.autocast``: Gram matrices of
half-precision features overflow (float16) or lose the small differences the loss is made of.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F


def _float32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == torch.float32 else x.float()


def gram_matrix(features: torch.Tensor, normalize: str = "hw") -> torch.Tensor:
    """Gram matrices of a batch of feature maps.

    Args:
        features: [B, C, H, W] (any float dtype).
        normalize: ``"hw"`` divides by H*W (the paper's code), ``"chw"`` by C*H*W.

    Returns:
        [B, C, C] float32: ``G[b, i, j] = sum_k F[b, i, k] F[b, j, k] / (H W)``.
    """
    if features.dim() != 4:
        raise ValueError(f"gram_matrix expects [B, C, H, W] features; got shape {tuple(features.shape)}.")
    b, c, h, w = features.shape
    if normalize == "hw":
        denom = h * w
    elif normalize == "chw":
        denom = c * h * w
    else:
        raise ValueError(f"normalize must be 'hw' or 'chw'; got {normalize!r}.")
    with torch.autocast(features.device.type, enabled=False):
        flat = _float32(features).reshape(b, c, h * w)
        return _Gram.apply(flat, 1.0 / denom)


class _Gram(torch.autograd.Function):
    """``G = scale * F F^T`` with a one-matmul backward.

    Autograd would differentiate ``F F^T`` as two products (one per factor); since G is
    symmetric in F, ``dL/dF = scale * (dG + dG^T) F`` needs one. The scale is fused into the
    matmuls (``baddbmm``'s alpha).
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(flat)
        ctx.scale = scale
        b, c, _ = flat.shape
        out = flat.new_empty(b, c, c)
        return torch.baddbmm(out, flat, flat.transpose(1, 2), beta=0.0, alpha=scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (flat,) = ctx.saved_tensors
        sym = grad + grad.transpose(1, 2)
        return torch.baddbmm(torch.empty_like(flat), sym, flat, beta=0.0, alpha=ctx.scale), None


def content_loss(features: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared difference of feature maps [B, C, H, W], float32.

    ``reduction="none"`` returns one value per example ([B]).
    """
    with torch.autocast(features.device.type, enabled=False):
        diff = _float32(features) - _float32(target)
        per_example = diff.pow(2).flatten(1).mean(1)
    return per_example.mean() if reduction == "mean" else per_example


def style_loss(gram: torch.Tensor, target_gram: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean over the C x C entries of the squared Gram difference, float32.

    ``gram`` is [B, C, C]; ``target_gram`` is [B, C, C] or [1, C, C] (broadcast).
    ``reduction="none"`` returns one value per example ([B]).
    """
    with torch.autocast(gram.device.type, enabled=False):
        diff = _float32(gram) - _float32(target_gram)
        per_example = diff.pow(2).flatten(1).mean(1)
    return per_example.mean() if reduction == "mean" else per_example


def total_variation(images: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of neighbouring pixels.

    ``images`` is [B, C, H, W]; the result is float32, per example with ``reduction="none"``.
    """
    with torch.autocast(images.device.type, enabled=False):
        x = _float32(images)
        dh = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
        dw = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
        per_example = dh + dw
    return per_example.mean() if reduction == "mean" else per_example


def style_losses(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    reduction: str = "mean",
) -> dict[str, torch.Tensor]:
    """:func:`style_loss` for each layer of ``target_grams`` (unweighted)."""
    return {name: style_loss(gram_matrix(features[name]), target, reduction) for name, target in target_grams.items()}


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Plain float32 mean squared error (a convenience for notebooks)."""
    with torch.autocast(a.device.type, enabled=False):
        return F.mse_loss(_float32(a), _float32(b))
