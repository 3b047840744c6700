"""Artefacts of feed-forward style networks, measured: checkerboards, borders and the bright blob.

- :func:`checkerboard_energy`: period-2 (checkerboard) variation, from transposed convolutions;
- :func:`border_contrast`: how much the border differs from the interior, from zero padding;
- :func:`bright_blob_fraction` / :func:`bright_blob_mask`: the "bright blob" of under-trained
  instance-normalised networks as a person sees it: flat, near-white regions of the output
  where the photo is not flat and near-white, and white glare where the photo is not white (a
  smear over textured house fronts, white patches at a border, a glow over a sail or a cloudy sky);
- :func:`blob_fraction` / :func:`blob_mask`: the earlier, narrower measure (saturated white,
  > 0.98 in every channel, where every channel of the photo is < 0.9). It misses pale smears
  (the one over Tübingen's house fronts is 0.85-0.97) and blobs over pale photo regions: kept
  for comparison with older results;
- where a blob comes from: :func:`mask_iou` (same place across styles?),
  :func:`local_contrast_percentile` (flat or textured photo there?), :func:`activation_outliers`
  (which layer's statistics it dominates).

Notebook 4 uses the first two, notebook 5 the blob measurements; ``reproduce`` records a blob
measure per network and style in ``data/results/summary.json``.
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


#: An output pixel is "near-white" when every channel is at least this (white, and pale tints of it).
PALE = 0.8
#: ... "flat" when the standard deviation of its neighbourhood (mean over the channels) is at most this,
FLAT = 0.03
#: ... and "glaring" when every channel is at least this.
GLARE = 0.95
#: A photo pixel is "white" when every channel is at least this (glare there is no artefact).
PHOTO_WHITE = 0.9


def _local_std(images: torch.Tensor, window: int) -> torch.Tensor:
    """Standard deviation of each channel in a ``window`` x ``window`` neighbourhood (edges
    replicated), averaged over the channels: [B, C, H, W] -> [B, H, W]."""
    pad = (window // 2,) * 4
    x = F.pad(images.float(), pad, mode="replicate")
    mean = F.avg_pool2d(x, window, 1)
    mean_sq = F.avg_pool2d(x * x, window, 1)
    return (mean_sq - mean * mean).clamp_min(0).sqrt().mean(1)


def _opening(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Morphological opening of a [B, H, W] mask with a ``size`` x ``size`` square: regions
    narrower than ``size`` go (specks, thin highlights); regions touching the image border keep
    their border side (outside the image counts as inside for the erosion)."""
    pad = (size // 2,) * 4
    m = mask.float()[:, None]
    eroded = -F.max_pool2d(F.pad(-m, pad, value=-1.0), size, 1)
    return F.max_pool2d(F.pad(eroded, pad, value=0.0), size, 1)[:, 0] > 0.5


def bright_blob_mask(
    output: torch.Tensor,
    content: torch.Tensor,
    *,
    pale: float = PALE,
    flat: float = FLAT,
    glare: float = GLARE,
    photo_white: float = PHOTO_WHITE,
    window: int | None = None,
    min_width: int | None = None,
) -> torch.Tensor:
    """The bright blobs a person sees, as a boolean mask [B, H, W].

    An output pixel counts when it is near-white (every channel >= ``pale``) and either

    - flat (local standard deviation over ``window`` x ``window``, mean over the channels,
      <= ``flat``) where the photo is not itself flat and near-white: a pale smear over textured
      house fronts, white patches over a grey or pink background; a white sky kept white is not
      counted; or
    - glaring (every channel >= ``glare``) where the photo is not white (some channel <
      ``photo_white``): the white glow over a light-grey house front or a sail, which keeps a
      little structure and so is not flat.

    The mask is then opened with a ``min_width`` square: specks and thin highlights do not count,
    regions touching the border do. ``window`` defaults to about 1/64 of the shorter side (9 px at
    512 px) and ``min_width`` to about 1/100 (5 px), so the measure means the same at every size.
    A style whose own paper is flat near-white counts where the photo had texture: read the mask.

    ``output`` [B, 3, H, W] and ``content`` [B or 1, 3, H, W], both in [0, 1].
    """
    if output.dim() != 4 or content.dim() != 4 or output.shape[1] != 3 or content.shape[1] != 3:
        raise ValueError(
            f"output and content must be [B, 3, H, W]; got {tuple(output.shape)} and {tuple(content.shape)}."
        )
    if output.shape[-2:] != content.shape[-2:] or content.shape[0] not in (1, output.shape[0]):
        raise ValueError(
            f"output and content must have the same size (content: one image or one per output); got "
            f"{tuple(output.shape)} and {tuple(content.shape)}."
        )
    side = min(output.shape[-2:])
    window = window or max(3, (side // 64) | 1)
    min_width = min_width or max(3, (side // 100) | 1)
    output = output.detach().float()
    content = content.detach().float().to(output.device).expand_as(output)
    out_min, photo_min = output.min(1).values, content.min(1).values
    smear = (out_min >= pale) & (_local_std(output, window) <= flat)
    photo_flat_white = (photo_min >= pale) & (_local_std(content, window) <= flat)
    glow = (out_min >= glare) & (photo_min < photo_white)
    return _opening((smear & ~photo_flat_white) | glow, min_width)


def bright_blob_fraction(output: torch.Tensor, content: torch.Tensor, **options) -> torch.Tensor:
    """Share of each output's pixels in a bright blob (:func:`bright_blob_mask`): [B] in [0, 1].

    The call shape of :func:`blob_fraction` (``measure(output, content)``); ``options`` are
    :func:`bright_blob_mask`'s.
    """
    return bright_blob_mask(output, content, **options).float().flatten(1).mean(1)


def blob_fraction(output: torch.Tensor, content: torch.Tensor, *, high: float = 0.98, low: float = 0.9) -> torch.Tensor:
    """Share of pixels that came out saturated white where the photo was not white (the earlier
    measure; :func:`bright_blob_fraction` is the one that matches what a person sees).

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
