"""The measurements behind the paper's Figures 5, 6 and 7.

- Fig 5: per-style final losses of the N-style network against single-style networks trained
  with identical settings: :func:`loss_differences`.
- Fig 6: learning curves of a style added by fine-tuning (gamma, beta) against a network
  trained from scratch: :func:`eval_curve` on the two evaluation logs.
- Fig 7: style loss with respect to two styles along their interpolation:
  :func:`interpolation_style_losses`, :func:`is_monotonic`.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import torch

from .data import ImageSource, load_image
from .loss_network import LossNetwork
from .losses import gram_matrix, style_loss
from .mixing import interpolate
from .model import TransformerNet
from .train import read_log


def eval_curve(rows: Sequence[dict[str, Any]] | str | os.PathLike, name: str, key: str = "style") -> tuple[list[int], list[float]]:
    """(steps, values) of one style's ``key`` in an evaluation log (rows or a CSV path)."""
    if isinstance(rows, (str, os.PathLike)):
        rows = read_log(rows)
    picked = [(int(r["step"]), float(r[key])) for r in rows if r["name"] == name]
    if not picked:
        raise KeyError(f"No evaluation rows for style {name!r}.")
    steps, values = zip(*sorted(picked))
    return list(steps), list(values)


def value_at(rows, name: str, key: str, step: int) -> float:
    """The logged ``key`` of style ``name`` at exactly ``step`` (a clear error if absent)."""
    steps, values = eval_curve(rows, name, key)
    if step not in steps:
        raise KeyError(f"Style {name!r} has no evaluation at step {step}; logged steps: {steps}.")
    return values[steps.index(step)]


def loss_differences(
    n_style_rows, single_rows: dict[str, Any], step: int, keys: Sequence[str] = ("content", "style")
) -> dict[str, Any]:
    """Fig 5: relative difference (N-style - single-style) / single-style of each loss, per style.

    ``single_rows`` maps a style name to that single-style network's evaluation rows (or CSV).
    Returns ``{"per_style": {name: {key: diff}}, "mean": {key: m}, "std": {key: s}}`` with
    differences as fractions (0.087 = +8.7 %); std is the sample standard deviation.
    """
    per_style: dict[str, dict[str, float]] = {}
    for name, rows in single_rows.items():
        per_style[name] = {
            key: value_at(n_style_rows, name, key, step) / value_at(rows, name, key, step) - 1.0 for key in keys
        }
    mean, std = {}, {}
    for key in keys:
        values = [d[key] for d in per_style.values()]
        mean[key] = sum(values) / len(values)
        std[key] = math.sqrt(sum((v - mean[key]) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"per_style": per_style, "mean": mean, "std": std, "step": step}


@torch.no_grad()
def interpolation_style_losses(
    model: TransformerNet,
    a: int,
    b: int,
    alphas: Sequence[float],
    content: torch.Tensor,
    style_a: ImageSource,
    style_b: ImageSource,
    *,
    loss_network: LossNetwork | None = None,
    style_size: int | None = None,
    style_layers: Sequence[str] | None = None,
) -> dict[str, list[float]]:
    """Fig 7 right: style loss w.r.t. style ``a`` and style ``b`` as (gamma, beta) go from a to b.

    ``content`` is a batch [B, 3, H, W]; for each alpha the network renders it with the weights
    ``(1 - alpha) * onehot(a) + alpha * onehot(b)``, and the style loss (summed over the style
    layers, unweighted) is measured against each painting's Gram matrices at ``style_size``
    (defaults: the network's recorded training settings).
    """
    meta = getattr(model, "metadata", {}) or {}
    style_layers = tuple(style_layers or meta.get("style_layers") or ("relu1_2", "relu2_2", "relu3_3", "relu4_3"))
    style_size = style_size or meta.get("style_size") or 256
    device = next(model.parameters()).device
    if loss_network is None:
        loss_network = LossNetwork(meta.get("backend", "vgg19"), layers=style_layers, pooling=meta.get("pooling", "max"))
    loss_network = loss_network.to(device)
    targets = {}
    for key, source in (("a", style_a), ("b", style_b)):
        feats = loss_network(load_image(source, style_size, device=device), style_layers)
        targets[key] = {layer: gram_matrix(feats[layer]) for layer in style_layers}
    content = content.to(device)
    out: dict[str, list[float]] = {"alpha": [float(x) for x in alphas], "loss_a": [], "loss_b": []}
    weights = interpolate(a, b, list(alphas), model.num_styles).to(device)
    for w in weights:
        image = model(content, w)
        feats = loss_network(image, style_layers, check_range=False)
        for key in ("a", "b"):
            total = sum(style_loss(gram_matrix(feats[l]), targets[key][l]).item() for l in style_layers)
            out[f"loss_{key}"].append(total)
    return out


def is_monotonic(values: Sequence[float], increasing: bool) -> bool:
    """True if ``values`` never go down (``increasing``) / never go up (not ``increasing``)."""
    pairs = list(zip(values, values[1:]))
    return all(b >= a for a, b in pairs) if increasing else all(b <= a for a, b in pairs)


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
