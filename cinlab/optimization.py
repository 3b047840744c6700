"""Gatys, Ecker & Bethge (2016): style transfer by optimising the pixels of the pastiche.

The pastiche ``p`` starts from the content photo (or noise) and is optimised so that

    total = content_weight * mean((F_l(p) - F_l(c))^2)              at the content layer(s)
          + style_weight * sum_l layer_weight_l * mean((G_l(p) - G_l(s))^2)   at the style layers

with ``F_l`` the loss network's feature maps and ``G_l`` their Gram matrices: the loss of
:class:`cinlab.losses.StyleTransferLoss`, the same one training uses. Each iteration is a
forward and backward pass through VGG: hundreds of them per image, which is what the
feed-forward networks of the paper avoid. :func:`gatys` stylises; :func:`synthesize_texture`
and :func:`reconstruct_content` keep one of the two terms (notebooks 1 and 3).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from tqdm.auto import tqdm

from . import color
from .hardware import resolve_device
from .images import ImageSource, check_image_tensor, load_image, resize
from .loss_network import LossNetwork
from .losses import StyleTransferLoss

#: Gatys et al.'s layers for VGG-19: content relu4_2, style relu1_1 ... relu5_1.
GATYS_CONTENT_LAYERS = ("relu4_2",)
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

#: Default loss weights for the embedded VGG-19 (Caffe-scale activations), chosen by eye
#: (tubingen with starry_night and the_scream at 192 px, 100-150 L-BFGS steps): 1e-6 barely
#: changes the photo, 1e-5 is clearly stylised, 2e-5 looks like the classic Gatys results with
#: the scene still readable, 1e-4 loses the scene.
GATYS_CONTENT_WEIGHT = 1.0
GATYS_STYLE_WEIGHT = 2e-5

#: Largest pixel gradient of the (rescaled) loss at L-BFGS's first evaluation; see _optimise.
#: Chosen on six problems (stylisation from photo or noise, texture synthesis, reconstruction):
#: 0.05-0.2 all converge with at most one rise in 40 steps; without rescaling two diverge.
LBFGS_GRADIENT_SCALE = 0.1

Callback = Callable[[int, torch.Tensor, Mapping[str, float]], None]


@dataclass
class GatysResult:
    """What :func:`gatys` returns.

    Attributes:
        image: the pastiche, [1, 3, H, W] in [0, 1], on the CPU.
        history: per-iteration losses: ``"total"``, ``"content"``, ``"style"`` (weighted sums)
            and ``"style/<layer>"`` (unweighted, per style layer). One entry per iteration
            (over all scales of a multi-scale run).
        seconds: wall-clock time of the optimisation.
        steps: iterations run (over all scales).
        final_losses: the loss terms of the returned image (at the last scale). The returned
            image is the best iterate of the last scale, which is almost always the last one.
    """

    image: torch.Tensor
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0
    final_losses: dict[str, float] = field(default_factory=dict)

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, self.steps)


def gatys_loss(
    *,
    content_weight: float = GATYS_CONTENT_WEIGHT,
    style_weight: float = GATYS_STYLE_WEIGHT,
    tv_weight: float = 0.0,
    content_layers: Sequence[str] = GATYS_CONTENT_LAYERS,
    style_layers: Sequence[str] | Mapping[str, float] = GATYS_STYLE_LAYERS,
    loss_network: LossNetwork | None = None,
    pooling: str = "max",
) -> StyleTransferLoss:
    """Gatys et al.'s loss, the one :func:`gatys` uses by default: their layers on the embedded
    VGG-19 and weights chosen for it (see ``GATYS_STYLE_WEIGHT``).

    ``style_layers`` may be a ``{layer: weight}`` dict; ``loss_network`` reuses a
    :class:`LossNetwork` (it must have the layers), ``pooling`` is that of a new one. Pass the
    result as ``gatys(..., loss=...)``.
    """
    layers = tuple(dict.fromkeys((*content_layers, *style_layers)))
    network = loss_network if loss_network is not None else LossNetwork("vgg19", layers=layers, pooling=pooling)
    weights = dict(content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight)
    return StyleTransferLoss(network, content_layers, style_layers, **weights)


def gatys_objective(
    loss: StyleTransferLoss, content: torch.Tensor, styles: Sequence[torch.Tensor], style_blend: Sequence[float]
) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """The function Gatys optimisation minimises: ``objective(image)`` -> loss terms (scalars).

    Targets are computed once: the content image's features, and the style images' Gram
    matrices blended with ``style_blend`` (several paintings at once). ``"total"`` is the value
    to minimise.
    """
    content_features = loss.content_features(content)
    grams = loss.gram_targets(styles, blend=style_blend) if loss.style_layers else {}

    def objective(image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            key: value[0] for key, value in loss(image, content_features=content_features, style_grams=grams).items()
        }

    return objective


def _as_list(style) -> list:
    return list(style) if isinstance(style, (list, tuple)) else [style]


def _normalised_blend(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        weights = [1.0] * count
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise ValueError(f"Got {len(weights)} style_blend weights for {count} style images.")
    if count and (any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0):
        raise ValueError(f"style_blend weights must be non-negative, finite and not all zero; got {weights}.")
    return [w / sum(weights) for w in weights]


def gatys(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource] | None,
    *,
    steps: int = 300,
    optimizer: str = "lbfgs",
    size: int | Sequence[int] | None = None,
    style_scale: float = 1.0,
    style_blend: Sequence[float] | None = None,
    loss: StyleTransferLoss | None = None,
    init: str | torch.Tensor = "content",
    seed: int = 0,
    preserve_color: str | None = None,
    scales: Sequence[int] | None = None,
    lr: float | None = None,
    history_size: int = 50,
    device: torch.device | str | None = None,
    callback: Callback | None = None,
    callback_every: int = 50,
    progress: bool = True,
) -> GatysResult:
    """Stylise ``content`` with ``style`` by optimising pixels (Gatys et al.).

    Args:
        content: the photo (anything :func:`cinlab.load_image` accepts).
        style: one painting, or a list of paintings blended with ``style_blend`` weights; or
            ``None`` for a content-only reconstruction (with a loss without style layers).
        steps: optimiser iterations (per scale for a multi-scale run). For L-BFGS these are real
            iterations, each one forward and backward pass, not function evaluations.
        optimizer: ``"lbfgs"`` (fast convergence) or ``"adam"`` (lower memory).
        size: content size (shorter side, or (H, W)); ``None`` keeps the image's size.
        style_scale: the style image's shorter side relative to the content's. Smaller values
            give finer brush strokes, larger ones coarser.
        style_blend: weights of several style images (normalised to sum to 1).
        loss: the loss to minimise, a :class:`~cinlab.losses.StyleTransferLoss` (layers, weights,
            total variation, loss network); default :func:`gatys_loss` (without its style
            layers when ``style`` is None).
        init: ``"content"``, ``"noise"`` (seeded uniform noise) or an image tensor.
        preserve_color: ``None``, ``"luminance"`` (stylise luminance only, keep the photo's
            colours exactly) or ``"histogram"`` (recolour the style image to the photo's colour
            statistics first).
        scales: coarse-to-fine sizes, e.g. ``(256, 512)``: each scale starts from the
            upsampled result of the previous one. Overrides ``size``.
        lr: step size (L-BFGS default 1; Adam default 0.02 in [0, 1] pixel units).
        history_size: L-BFGS memory (pairs of image-sized vectors).
        callback: called as ``callback(step, image, losses)`` every ``callback_every`` steps.

    Returns:
        :class:`GatysResult` with ``.image`` [1, 3, H, W] in [0, 1] and ``.history``.
    """
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam'; got {optimizer!r}.")
    if steps < 1:
        raise ValueError(f"steps must be at least 1; got {steps}.")
    if preserve_color not in (None, "luminance", "histogram"):
        raise ValueError(f"preserve_color must be None, 'luminance' or 'histogram'; got {preserve_color!r}.")
    if style_scale <= 0:
        raise ValueError(f"style_scale must be positive; got {style_scale}.")
    device = resolve_device(device)
    styles_in = [] if style is None else _as_list(style)
    if loss is None:
        loss = gatys_loss(style_layers=()) if style is None else gatys_loss()
    elif style is None and loss.style_layers:
        raise ValueError(
            "No style image, but the loss has style layers: give a style, or a loss without style layers "
            "(gatys_loss(style_layers=()), as reconstruct_content does)."
        )
    elif style is not None and not loss.style_layers:
        raise ValueError("A style image was given, but the loss has no style layers to match it with.")
    style_blend = _normalised_blend(style_blend, len(styles_in))

    scale_list = list(scales) if scales else [size]
    content_full = load_image(content, scale_list[-1])
    style_full = [load_image(s) for s in styles_in]
    loss.loss_network.to(device)

    history: dict[str, list[float]] = {}
    image = None
    total_steps = 0
    start = time.perf_counter()
    bar = tqdm(total=steps * len(scale_list), desc="gatys", disable=not progress, leave=False)
    for scale in scale_list:
        content_img = resize(content_full, scale).to(device)
        short = min(content_img.shape[-2:])
        styles = [resize(s, max(1, round(short * style_scale))).to(device) for s in style_full]
        if preserve_color == "histogram":
            styles = [color.match_color_histogram(s, content_img) for s in styles]
        target_content = content_img
        if preserve_color == "luminance":
            styles = [color.match_luminance(s, content_img) for s in styles]
            target_content = color.grey_rgb(content_img)
        objective = gatys_objective(loss, target_content, styles, style_blend)
        # Starting point: content, noise, a given image, or the previous scale's result.
        if image is not None:
            x0 = resize(image, tuple(content_img.shape[-2:]))
        elif isinstance(init, torch.Tensor):
            x0 = resize(check_image_tensor(init.float(), "init"), tuple(content_img.shape[-2:])).to(device)
        elif init == "content":
            x0 = target_content.clone()
        elif init == "noise":
            generator = torch.Generator().manual_seed(seed)
            x0 = torch.rand(content_img.shape, generator=generator).to(device)
        else:
            raise ValueError(f"init must be 'content', 'noise' or an image tensor; got {init!r}.")
        image, final_losses, scale_history = _optimise(
            objective, x0, steps, optimizer, lr, history_size, seed, bar, callback, callback_every, total_steps
        )
        for key, values in scale_history.items():
            history.setdefault(key, []).extend(values)
        total_steps += steps
    bar.close()
    if preserve_color == "luminance":
        image = color.transfer_chrominance(image, content_img)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return GatysResult(
        image=image.detach().cpu(), history=history, seconds=seconds, steps=total_steps, final_losses=final_losses
    )


def _optimise(objective, x0, steps, optimizer, lr, history_size, seed, bar, callback, every, offset):
    """Run ``steps`` iterations; return (best image seen, its loss terms, the per-step history).

    Without a line search, L-BFGS on this non-convex loss can overshoot for a step or two, so
    the iterate with the lowest total loss is returned (usually the last one). Each iterate's
    loss comes from the evaluation the optimiser makes anyway; only the final iterate costs one
    extra forward pass. Loss values stay on the device and reach the host every
    ``_HOST_EVERY`` steps (each transfer waits for the GPU).
    """
    torch.manual_seed(seed)
    x = x0.detach().clone().clamp_(0, 1).requires_grad_(True)
    if optimizer == "lbfgs":
        # max_iter=1: each .step() is exactly one L-BFGS iteration with one function evaluation
        # (no line search), so `steps` counts iterations. The curvature history persists
        # across calls in the optimiser state.
        opt = torch.optim.LBFGS(
            [x], lr=lr or 1.0, max_iter=1, history_size=history_size, tolerance_grad=0.0, tolerance_change=0.0
        )
    else:
        opt = torch.optim.Adam([x], lr=lr or 0.02)
    evaluated: dict[str, torch.Tensor] = {}
    # L-BFGS scale: the loss is multiplied by a constant fixed at the first evaluation so the
    # largest pixel gradient is LBFGS_GRADIENT_SCALE. Without it, L-BFGS breaks on large losses:
    # at the photo the style loss has negative curvature along the gradient, the first
    # curvature pair is rejected, and torch's L-BFGS then takes a raw gradient step of length
    # lr * |g| (here tens of thousands of pixel units) and diverges. Adam is scale-invariant.
    scale: list[float] = []

    def closure():
        opt.zero_grad(set_to_none=True)
        terms = objective(x)
        terms["total"].backward()
        evaluated["image"] = x.detach().clone()
        evaluated["terms"] = torch.stack([v.detach().float() for v in terms.values()])
        evaluated["keys"] = list(terms)
        if optimizer != "lbfgs":
            return terms["total"]
        if not scale:
            scale.append(LBFGS_GRADIENT_SCALE / max(x.grad.abs().max().item(), 1e-30))
        x.grad.mul_(scale[0])
        return terms["total"].detach() * scale[0]

    best_total = best_image = best_terms = None
    pending: list[torch.Tensor] = []
    history: dict[str, list[float]] = {}

    def flush(step):
        values = torch.stack(pending).cpu().tolist()  # one device-to-host transfer
        pending.clear()
        keys = evaluated["keys"]
        for row in values:
            if not math.isfinite(row[keys.index("total")]):
                raise FloatingPointError(
                    f"The loss became {row[keys.index('total')]} near step {step}; lower lr or the style weight."
                )
            for key, value in zip(keys, row):
                history.setdefault(key, []).append(value)
        bar.set_postfix(loss=f"{history['total'][-1]:.3g}", refresh=False)

    for i in range(steps):
        if optimizer == "lbfgs":
            opt.step(closure)
        else:
            closure()
            opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)  # keep pixels in [0, 1]: a projection after each step
            terms = evaluated["terms"]
            total = terms[evaluated["keys"].index("total")]
            if best_total is None:
                best_total, best_image, best_terms = total.clone(), evaluated["image"].clone(), terms.clone()
            else:  # keep the best iterate without asking the GPU which one it is
                better = total < best_total
                best_total = torch.where(better, total, best_total)
                best_image = torch.where(better, evaluated["image"], best_image)
                best_terms = torch.where(better, terms, best_terms)
        pending.append(terms)
        bar.update(1)
        step = offset + i + 1
        if len(pending) == _HOST_EVERY or i == steps - 1 or (callback is not None and step % every == 0):
            flush(step)
        if callback is not None and step % every == 0:
            callback(step, x.detach(), dict(zip(evaluated["keys"], (history[k][-1] for k in evaluated["keys"]))))
    with torch.no_grad():
        final_terms = objective(x)
    keys = list(final_terms)
    final = dict(zip(keys, torch.stack([v.detach().float() for v in final_terms.values()]).tolist()))
    best = dict(zip(evaluated["keys"], best_terms.tolist()))
    if final["total"] <= best["total"]:
        bar.set_postfix(loss=f"{final['total']:.3g}")
        return x.detach(), final, history
    bar.set_postfix(loss=f"{best['total']:.3g}")
    return best_image, best, history


#: Loss values are copied to the host in blocks of this many steps.
_HOST_EVERY = 10


def synthesize_texture(
    style: ImageSource,
    size: int | Sequence[int] = 128,
    *,
    layers: Sequence[str] = GATYS_STYLE_LAYERS,
    steps: int = 200,
    seed: int = 0,
    loss_network: LossNetwork | None = None,
    **kwargs,
) -> GatysResult:
    """Texture synthesis (Gatys et al. 2015): match only the Gram matrices of ``layers``.

    Starts from seeded noise of ``size`` (shorter side of a square, or (H, W)) with no content
    loss at all: what comes out is everything the Gram matrices of those layers know about the
    painting. Deeper layers capture larger structures. ``loss_network`` reuses a
    :class:`LossNetwork` with those layers; extra keyword arguments go to :func:`gatys`.
    """
    shape = (size, size) if isinstance(size, int) else tuple(size)
    canvas = torch.full((1, 3, *shape), 0.5)  # only its size is used: no content layers
    loss = gatys_loss(
        content_layers=(), style_layers=tuple(layers), content_weight=0.0, style_weight=1.0, loss_network=loss_network
    )
    return gatys(canvas, style, steps=steps, loss=loss, init="noise", seed=seed, **kwargs)


def reconstruct_content(
    image: ImageSource,
    layer: str,
    *,
    size: int | Sequence[int] | None = None,
    steps: int = 200,
    seed: int = 0,
    loss_network: LossNetwork | None = None,
    **kwargs,
) -> GatysResult:
    """Reconstruct an image from noise using only its feature maps at one ``layer``.

    Shallow layers give the photo back almost exactly; deep layers keep the objects and layout
    but not the exact pixels: this is what the content loss asks a pastiche to preserve.
    """
    loss = gatys_loss(content_layers=(layer,), style_layers=(), loss_network=loss_network)
    return gatys(image, None, size=size, steps=steps, loss=loss, init="noise", seed=seed, **kwargs)
