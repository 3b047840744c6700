"""The paper's losses: Gram matrices, content and style losses, and the one loss everything uses.

For feature maps ``F_l`` of a loss network (VGG) at layer ``l``, with ``C`` channels and
``H x W`` positions:

- Gram matrix (Eq. 2's statistic): ``G_l = F_l F_l^T / (H W)``, a ``C x C`` matrix (magenta
  divides by ``H W`` only; ``normalize="chw"`` divides by ``C H W`` as Johnson et al. do).
- content loss: ``mean((F_l(p) - F_l(c))^2)`` at the content layer(s);
- style loss of a layer: ``mean((G_l(p) - G_l(s))^2)`` over the ``C x C`` entries;
- total (Eq. 4): ``content_weight * content + style_weight * sum_l w_l * style_l``, plus
  ``tv_weight * total_variation(p)`` where asked for (the paper uses none: mirror padding and
  upsample + conv made it unnecessary; notebook 4 shows what it does).

:class:`StyleTransferLoss` holds a loss network and those weights and scores a batch of
pastiches; Gatys optimisation, training, the evaluation protocol and the benchmarks all call it,
so there is one definition of "the loss" in cinlab. :func:`style_transfer_loss` is its
arithmetic on feature maps.

Everything here is computed in float32, also under ``torch.autocast``: Gram matrices of
half-precision features overflow (float16) or lose the small differences the loss is made of.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch


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
        return _SymmetricGram.apply(flat, 1.0 / denom)


class _SymmetricGram(torch.autograd.Function):
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


def style_transfer_loss(
    features: Mapping[str, torch.Tensor],
    content_targets: Mapping[str, torch.Tensor],
    style_targets: Mapping[str, torch.Tensor],
    *,
    content_weight: float = 1.0,
    style_weight: float = 1.0,
    layer_weights: Mapping[str, float] | None = None,
    style_multipliers: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The paper's loss of a batch of pastiches, per example (all [B], float32).

    Args:
        features: the pastiches' feature maps ``{layer: [B, C, H, W]}`` at every target layer.
        content_targets: ``{layer: [B or 1, C, H, W]}``; content loss is their mean (empty: 0).
        style_targets: Gram targets ``{layer: [B or 1, C, C]}`` (empty: no style loss).
        layer_weights: ``{layer: w_l}`` for the style layers (default 1 each).
        style_multipliers: optional [B] factor on each example's style loss (per-style weights).

    Returns ``{"content", "style/<layer>" (unweighted), "style" (sum of w_l * style_l, times the
    multiplier), "total"}``.
    """
    layer_weights = layer_weights or {}
    batch = next(iter(features.values())).shape[0]
    device = next(iter(features.values())).device
    zero = torch.zeros(batch, device=device)
    content = sum((content_loss(features[l], t, reduction="none") for l, t in content_targets.items()), zero)
    if content_targets:
        content = content / len(content_targets)
    terms: dict[str, torch.Tensor] = {"content": content}
    style = zero
    for layer, target in style_targets.items():
        per_layer = style_loss(gram_matrix(features[layer]), target, reduction="none")
        terms[f"style/{layer}"] = per_layer
        style = style + float(layer_weights.get(layer, 1.0)) * per_layer
    if style_multipliers is not None:
        style = style * style_multipliers
    terms["style"] = style
    terms["total"] = content_weight * content + style_weight * style
    return terms


class StyleTransferLoss:
    """The paper's loss with its loss network, layers and weights fixed.

    Args:
        loss_network: a :class:`cinlab.LossNetwork` built with (at least) these layers.
        content_layers: e.g. ``("relu3_3",)`` (the paper) or ``("relu4_2",)`` (Gatys).
        style_layers: a sequence of layer names (weight 1 each) or a ``{layer: weight}`` dict.
        content_weight, style_weight: the two weights of the total.
        tv_weight: weight of a total-variation term on the pastiche's pixels (0: none, the paper's choice).

    ``loss.gram_targets(images)`` computes style targets once; ``loss(pastiches, ...)`` scores
    pastiches against content images (or precomputed content features) and per-example Gram
    targets, returning :func:`style_transfer_loss`'s terms.
    """

    def __init__(
        self,
        loss_network,
        content_layers: Sequence[str],
        style_layers: Sequence[str] | Mapping[str, float],
        *,
        content_weight: float = 1.0,
        style_weight: float = 1.0,
        tv_weight: float = 0.0,
    ):
        self.loss_network = loss_network
        self.content_layers = tuple(content_layers)
        if isinstance(style_layers, Mapping):
            self.layer_weights = {layer: float(w) for layer, w in style_layers.items()}
        else:
            self.layer_weights = {layer: 1.0 for layer in style_layers}
        self.style_layers = tuple(self.layer_weights)
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.layers = tuple(dict.fromkeys(self.content_layers + self.style_layers))
        if not self.layers:
            raise ValueError("Nothing to measure: no content layers and no style layers.")

    @torch.no_grad()
    def gram_targets(
        self, images: Sequence[torch.Tensor], blend: Sequence[float] | None = None
    ) -> dict[str, torch.Tensor]:
        """Gram targets ``{layer: [N, C, C]}`` of N style images (each [1, 3, H, W]; sizes may differ).

        With ``blend`` (one weight per image) the targets are blended into ``[1, C, C]``: the
        style of several paintings at once (Gatys et al.).
        """
        grams: dict[str, list[torch.Tensor]] = {layer: [] for layer in self.style_layers}
        for image in images:
            feats = self.loss_network(image, self.style_layers)
            for layer in self.style_layers:
                grams[layer].append(gram_matrix(feats[layer]))
        stacked = {layer: torch.cat(g) for layer, g in grams.items()}
        if blend is None:
            return stacked
        w = torch.as_tensor(blend, dtype=torch.float32, device=next(iter(stacked.values())).device)
        return {layer: torch.einsum("n,nij->ij", w, g)[None] for layer, g in stacked.items()}

    @torch.no_grad()
    def content_features(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """Content targets of images [B, 3, H, W]: the feature maps at the content layers."""
        if not self.content_layers:
            return {}
        return self.loss_network(content, self.content_layers, check_range=False)

    def __call__(
        self,
        pastiche: torch.Tensor,
        content: torch.Tensor | None = None,
        *,
        content_features: Mapping[str, torch.Tensor] | None = None,
        style_grams: Mapping[str, torch.Tensor] | None = None,
        style_multipliers: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss terms ([B] each) of ``pastiche`` [B, 3, H, W] in [0, 1].

        Content targets come from ``content`` (computed here, without gradients) or from
        precomputed ``content_features``; ``style_grams`` are ``{layer: [B or 1, C, C]}``.
        With a ``tv_weight``, ``"tv"`` (the pastiche's total variation) is a term too.
        """
        if content_features is None:
            if self.content_layers and content is None:
                raise ValueError("Give the content images (or content_features) to measure the content loss.")
            content_features = self.content_features(content) if content is not None else {}
        if self.style_layers and style_grams is None:
            raise ValueError("Give style_grams (from gram_targets) to measure the style loss.")
        feats = self.loss_network(pastiche, self.layers, check_range=False)
        terms = style_transfer_loss(
            feats,
            {l: content_features[l] for l in self.content_layers},
            {l: style_grams[l] for l in self.style_layers},
            content_weight=self.content_weight,
            style_weight=self.style_weight,
            layer_weights=self.layer_weights,
            style_multipliers=style_multipliers,
        )
        if self.tv_weight:
            terms["tv"] = total_variation(pastiche, reduction="none")
            terms["total"] = terms["total"] + self.tv_weight * terms["tv"]
        return terms
