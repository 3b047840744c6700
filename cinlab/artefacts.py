"""Artefacts of feed-forward style networks, measured: checkerboards, borders and the bright blob.

- :func:`checkerboard_energy`: period-2 (checkerboard) variation, from transposed convolutions;
- :func:`border_contrast`: how much the border differs from the interior, from zero padding;
- :func:`blob_fraction` / :func:`blob_mask`: saturated white pixels where the photo is not white,
  the "bright blob" of under-trained instance-normalised networks; where a blob comes from:
  :func:`mask_iou` (same place across styles?), :func:`local_contrast_percentile` (flat or
  textured photo there?), :func:`activation_outliers` (which layer's statistics it dominates).

Notebook 4 uses the first two, notebook 5 the blob measurements; ``reproduce`` records
:func:`blob_fraction` per network and style in ``data/results/summary.json``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .color import luminance


def checkerboard_energy(image: torch.Tensor) -> float:
    """Share of an image's variation at the highest spatial frequency (period-2 patterns).

    Transposed convolutions with stride 2 leave exactly this kind of checkerboard. Computed as
    the mean absolute response to the 2x2 filter [[1, -1], [-1, 1]] / 2, relative to the mean
    absolute difference of horizontal neighbours (0 for a flat image).
    """
    x = image.detach().float().mean(1, keepdim=True)
    kernel = torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]) / 2  # a pure checkerboard scores 1
    checker = torch.nn.functional.conv2d(x, kernel.to(x.device)).abs().mean()
    scale = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    return float(checker / scale) if scale > 0 else 0.0


def border_contrast(image: torch.Tensor, width: int = 4) -> float:
    """Mean absolute difference between the outer ``width`` pixels and the interior.

    On a constant input an artefact-free network returns a constant image (0 here); zero
    padding makes borders darker or brighter.
    """
    x = image.detach().float()
    mask = torch.zeros(x.shape[-2:], dtype=torch.bool, device=x.device)
    mask[:width], mask[-width:], mask[:, :width], mask[:, -width:] = True, True, True, True
    border = x[..., mask].mean()
    interior = x[..., ~mask].mean()
    return float((border - interior).abs())


def blob_fraction(output: torch.Tensor, content: torch.Tensor, *, high: float = 0.98, low: float = 0.9) -> torch.Tensor:
    """Share of pixels that came out saturated white where the photo was not white.

    A pixel counts when all three output channels exceed ``high`` while the input pixel's
    channels are all below ``low``: the "bright blob" of under-trained instance-normalised
    networks. ``output`` and ``content`` are [B, 3, H, W] in [0, 1]; returns [B].
    """
    return blob_mask(output, content, high=high, low=low).float().flatten(1).mean(1)


def blob_mask(output: torch.Tensor, content: torch.Tensor, *, high: float = 0.98, low: float = 0.9) -> torch.Tensor:
    """The pixels :func:`blob_fraction` counts, as a boolean mask [B, H, W]."""
    if output.shape != content.shape:
        raise ValueError(
            f"output and content must have the same shape; got {tuple(output.shape)} and {tuple(content.shape)}."
        )
    return (output > high).all(1) & (content < low).all(1)


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """Intersection over union of two boolean masks of the same shape (1.0 when both are empty)."""
    if a.shape != b.shape:
        raise ValueError(f"masks must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}.")
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


def local_contrast_percentile(image: torch.Tensor, mask: torch.Tensor, window: int = 15) -> float:
    """How textured the photo is under a mask: the median, over the masked pixels, of the
    percentage of the image's pixels that have less local contrast.

    Local contrast is the standard deviation of the luminance in a ``window`` x ``window``
    neighbourhood (reflect-padded). 50 is typical; near 0 means the mask sits on flat regions
    (a clear sky), near 100 on the most textured ones. ``image`` [1, 3, H, W] or [3, H, W],
    ``mask`` [H, W] (or [1, H, W]) boolean with at least one pixel set.
    """
    x = image.detach().float().reshape(-1, *image.shape[-3:])[:1]
    mask = mask.reshape(image.shape[-2:]).bool()
    if not mask.any():
        raise ValueError("The mask is empty: no pixel to rank.")
    lum = luminance(x)  # [1, 1, H, W]
    pad = (window // 2,) * 4
    mean = F.avg_pool2d(F.pad(lum, pad, mode="reflect"), window, 1)
    mean_sq = F.avg_pool2d(F.pad(lum * lum, pad, mode="reflect"), window, 1)
    contrast = (mean_sq - mean * mean).clamp_min(0).sqrt()[0, 0]
    ordered = contrast.flatten().sort().values
    below = (
        torch.searchsorted(ordered, contrast[mask], side="left").float() / ordered.numel()
    )  # share of pixels with less contrast
    return float(below.median() * 100)


@torch.no_grad()
def activation_outliers(
    model, image: torch.Tensor, style, mask: torch.Tensor, *, share: float = 0.25
) -> list[dict[str, Any]]:
    """Along the network, how far the activations under ``mask`` stand out from the rest.

    ``image`` [1, 3, H, W] is stylised under ``style``; at each stage (the outputs of
    ``conv1``-``conv3``, of each residual block, of ``up1``, ``up2`` and of ``out`` before the
    sigmoid) every channel is standardised over its own H x W (the statistics instance
    normalisation computes: ``z = (x - mean) / std``) and ``mask`` [H, W] is resized to that
    stage's resolution (a cell counts as inside when any of its pixels is). One dict per stage:

    - ``stage``, ``size`` (h, w), ``area``: the share of the stage's pixels inside the mask;
    - ``max_z_inside`` / ``max_z_outside``: the largest ``|z|`` of any channel inside / outside;
    - ``variance_inside``: the median over channels of the share of the channel's variance
      (sum of squared deviations) that lies inside the mask (about ``area`` if nothing stands out);
    - ``channels_dominated``: how many channels have more than ``share`` of their variance
      inside the mask, and ``channels``: how many there are.

    A local spike that dominates its channels' statistics (the StyleGAN2 "droplet" of AdaIN)
    shows up as a large ``max_z_inside`` and many dominated channels on a small ``area``.
    """
    from .model import ConvLayer, ResidualBlock

    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"image must be [1, 3, H, W]; got shape {tuple(image.shape)}.")
    mask = mask.reshape(image.shape[-2:]).bool()
    h, w = image.shape[-2:]
    mask = F.pad(mask[None, None].float(), (0, (-w) % 4, 0, (-h) % 4))  # the network pads to a multiple of 4
    stages = [("conv1", model.conv1), ("conv2", model.conv2), ("conv3", model.conv3)]
    stages += [(f"residual {i}", block) for i, block in enumerate(model.residuals)]
    stages += [("up1", model.up1), ("up2", model.up2), ("out (pre-sigmoid)", model.out)]
    if not all(isinstance(m, (ConvLayer, ResidualBlock)) for _, m in stages):
        raise TypeError("activation_outliers needs a cinlab TransformerNet.")
    recorded: dict[str, torch.Tensor] = {}
    handles = [
        m.register_forward_hook(lambda _m, _i, out, name=name: recorded.__setitem__(name, out.detach().float()))
        for name, m in stages
    ]
    was_training = model.training
    model.eval()
    try:
        model(image.to(next(model.parameters()).device), style)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    rows = []
    for name, _ in stages:
        a = recorded[name][0]  # [C, h, w]
        inside = F.adaptive_max_pool2d(mask, a.shape[-2:])[0, 0].to(a.device) > 0
        deviation = a - a.mean((1, 2), keepdim=True)
        z = deviation / a.std((1, 2), unbiased=False, keepdim=True).clamp_min(1e-12)
        squared = deviation.square()
        shares = squared[:, inside].sum(1) / squared.sum((1, 2)).clamp_min(1e-30)
        rows.append(
            {
                "stage": name,
                "size": tuple(a.shape[-2:]),
                "area": inside.float().mean().item(),
                "max_z_inside": z[:, inside].abs().max().item() if inside.any() else 0.0,
                "max_z_outside": z[:, ~inside].abs().max().item() if (~inside).any() else 0.0,
                "variance_inside": shares.median().item(),
                "channels_dominated": int((shares > share).sum()),
                "channels": a.shape[0],
            }
        )
    return rows
