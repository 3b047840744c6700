"""The style vocabulary: how to say which style, or which mixture of styles, a picture takes.

With conditional instance normalisation a style is its rows of (gamma, beta), so a mixture of
styles is a weighted sum of rows (the paper's Fig 7): ``gamma = sum_i w_i gamma_i``, and the same
for beta. One rule holds everywhere a style is asked for (``net(images, style)``,
``net.stylize``, the widgets, the evaluation, the command line):

=========================================================  ===================================
you write                                                  it means
=========================================================  ===================================
``3`` or ``"starry_night"``                                one style
``[0, "the_scream", {"udnie": 1.0}]``                      one image per entry, in one batch
``{"starry_night": 0.7, "the_scream": 0.3}``               a mixture
float tensor ``[N]``; ``[K, N]``                           a mixture over all N styles; K of them
``{"starry_night": mask, "the_scream": 1 - mask}``         a spatial mixture (``mask`` [H, W])
float tensor ``[K, N, H, W]``                              K spatial mixtures
integer tensor ``[K]``                                     K style labels
=========================================================  ===================================

Names are accepted wherever labels are. Weights are used as given (the paper's code does not
normalise them; :func:`normalize` scales them to sum to 1); they must be finite, non-negative
and not all zero. A plain float in a list is refused rather than guessed at: write a dict or a
tensor for a mixture.

The helpers below build mixtures without knowing the network: :func:`interpolate` (Fig 1b),
:func:`bilinear` and :func:`grid` (Fig 7 left), :func:`spatial_split` (regions of one picture in
different styles).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

import torch
import torch.nn.functional as F

Style = Union[int, str]
Mixture = Mapping[Style, Any]  # {style: weight} or {style: [H, W] weight map}
StyleSpec = Union[Style, Mixture, torch.Tensor, Sequence[Any]]


# ----------------------------------------------------------------------------- the condition


@dataclass
class StyleCondition:
    """A validated style condition for K images, shared by every normalisation layer.

    ``kind`` is ``"labels"`` (``value``: long [K]), ``"weights"`` (float [K, N]) or
    ``"spatial"`` (float [K, N, H, W]).

    ``rows`` (long [M], optional, for weights): the weights are over these M styles only
    (``value`` is [K, M] or [K, M, H, W]): a mixture of two of 32 styles costs two rows, not 32.
    """

    kind: str
    value: torch.Tensor
    rows: torch.Tensor | None = None
    _resized: dict = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        """How many images this condition describes."""
        return self.value.shape[0]

    def to(self, device: torch.device) -> "StyleCondition":
        if self.value.device == device:
            return self
        rows = self.rows.to(device) if self.rows is not None else None
        return StyleCondition(self.kind, self.value.to(device), rows)

    def broadcast_to(self, batch: int) -> "StyleCondition":
        """The condition for a batch of ``batch`` images: one condition is repeated for all."""
        if self.count == batch:
            return self
        if self.count == 1:
            return StyleCondition(self.kind, self.value.expand(batch, *self.value.shape[1:]), self.rows)
        raise ValueError(f"Got {self.count} styles for a batch of {batch} images: give one style, or one per image.")

    def spatial_at(self, height: int, width: int) -> torch.Tensor:
        """Spatial weights resized (bilinear) to one layer's resolution; cached per resolution."""
        key = (height, width)
        if key not in self._resized:
            w = self.value
            if w.shape[-2:] != key:
                w = F.interpolate(w, size=key, mode="bilinear", align_corners=False)
            self._resized[key] = w
        return self._resized[key]


def resolve_style(
    style: StyleSpec | StyleCondition, num_styles: int, names: Sequence[str] | None = None, *, check: bool = True
) -> StyleCondition:
    """Turn anything in the table of the module docstring into a :class:`StyleCondition`.

    ``names`` are the network's style names (to accept names). With ``check=False`` label
    ranges and weight values are not inspected (it costs a host sync; trainers that make their
    own labels skip it). Bad input raises ``ValueError`` / ``TypeError`` naming the fix.
    """
    if isinstance(style, StyleCondition):
        return style
    if isinstance(style, torch.Tensor):
        return _from_tensor(style, num_styles, check)
    if isinstance(style, Mapping):
        return _from_tensor(mixture_weights(style, num_styles, names), num_styles, check)
    if isinstance(style, (list, tuple)):
        if not style:
            raise ValueError("Empty list of styles: give at least one.")
        if all(_is_label(s) for s in style):
            return _from_tensor(torch.tensor([style_label(s, num_styles, names) for s in style]), num_styles, check)
        rows = [_entry_weights(s, num_styles, names) for s in style]
        shapes = {tuple(r.shape) for r in rows}
        if len(shapes) != 1:
            raise ValueError("A list mixes spatial and plain mixtures (or maps of different sizes): give one kind.")
        return _from_tensor(torch.stack(rows), num_styles, check)
    if _is_label(style):
        return StyleCondition("labels", torch.tensor([style_label(style, num_styles, names)]))
    raise TypeError(_WHAT_A_STYLE_IS + f" Got {type(style).__name__}.")


_WHAT_A_STYLE_IS = (
    "A style is a label (int), a name (str), a mixture {style: weight}, a weight tensor [N] / [K, N] / [K, N, H, W], "
    "or a list of these (one image each)."
)


def _is_label(s: Any) -> bool:
    return isinstance(s, str) or (isinstance(s, numbers.Integral) and not isinstance(s, bool))


def style_label(style: Style, num_styles: int, names: Sequence[str] | None = None) -> int:
    """The integer label of a style given by label or by name."""
    if isinstance(style, bool):
        raise TypeError(_WHAT_A_STYLE_IS + " Got a bool.")
    if isinstance(style, str):
        if names is None or style not in names:
            if names is None:
                raise ValueError(f"No style named {style!r}; names need the network's style names.")
            import difflib

            names = list(names)
            by_case = {n.casefold(): n for n in reversed(names)}  # "Starry_Night" finds "starry_night"
            close = [by_case[c] for c in difflib.get_close_matches(style.casefold(), list(by_case), n=3, cutoff=0.6)]
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            shown = names if len(names) <= 40 else names[:40] + [f"... ({len(names)} in all)"]
            raise ValueError(f"No style named {style!r}.{hint} This network's styles are {shown}.")
        return list(names).index(style)
    if not isinstance(style, numbers.Integral):
        raise TypeError(
            f"A style label must be an int or a name; got {style!r}. For a mixture write {{style: weight}}."
        )
    label = int(style)
    if not 0 <= label < num_styles:
        raise ValueError(
            f"Style label {label} is out of range: this network has {num_styles} style(s), labels 0 to {num_styles - 1}."
        )
    return label


def _entry_weights(entry: Any, num_styles: int, names) -> torch.Tensor:
    """One list entry as weights [N] or a spatial map [N, H, W]."""
    if _is_label(entry):
        weights = torch.zeros(num_styles)
        weights[style_label(entry, num_styles, names)] = 1.0
        return weights
    if isinstance(entry, Mapping):
        return mixture_weights(entry, num_styles, names)
    if isinstance(entry, torch.Tensor) and entry.is_floating_point() and entry.dim() in (1, 3):
        return entry.float()
    if isinstance(entry, numbers.Real):
        raise TypeError(
            f"A list of styles holds labels, names or mixtures, not plain numbers like {entry!r}: "
            "for a mixture write {style: weight, ...} or torch.tensor([w_0, ..., w_N-1])."
        )
    raise TypeError(_WHAT_A_STYLE_IS + f" A list entry is a {type(entry).__name__}.")


def mixture_weights(mixture: Mixture, num_styles: int, names: Sequence[str] | None = None) -> torch.Tensor:
    """A mixture ``{style: weight}`` as weights [N], or [N, H, W] when weights are [H, W] maps."""
    if not mixture:
        raise ValueError("Empty mixture: give at least one {style: weight}.")
    maps = [torch.as_tensor(w, dtype=torch.float32) for w in mixture.values()]
    shapes = {tuple(m.shape) for m in maps if m.dim() > 0}
    if len(shapes) > 1 or any(m.dim() not in (0, 2) for m in maps):
        raise ValueError("Mixture weights must be numbers, or [H, W] maps all of one size (a spatial mixture).")
    spatial = shapes.pop() if shapes else ()
    weights = torch.zeros(num_styles, *spatial)
    for style, w in zip(mixture.keys(), maps):
        weights[style_label(style, num_styles, names)] += w  # a style named twice adds up
    return weights


def _from_tensor(style: torch.Tensor, num_styles: int, check: bool) -> StyleCondition:
    if not style.is_floating_point():
        if style.dtype == torch.bool:
            raise TypeError(_WHAT_A_STYLE_IS + " Got a bool tensor.")
        labels = style.reshape(-1).long()
        if check and labels.numel():
            lo, hi = int(labels.min()), int(labels.max())
            if lo < 0 or hi >= num_styles:
                style_label(lo if lo < 0 else hi, num_styles)  # raises the out-of-range message
        if labels.numel() == 0:
            raise ValueError("Empty tensor of style labels.")
        return StyleCondition("labels", labels)
    weights = style.float()
    if weights.dim() in (1, 3):  # one mixture: [N] or [N, H, W]
        weights = weights.unsqueeze(0)
    if weights.dim() not in (2, 4):
        raise ValueError(f"Mixing weights must be [N], [K, N] or spatial [K, N, H, W]; got shape {tuple(style.shape)}.")
    if weights.shape[1] != num_styles:
        raise ValueError(
            f"Got {weights.shape[1]} mixing weights but this network has {num_styles} styles: give one weight per style."
        )
    if check:
        validate_weights(weights, dim=1)
    return StyleCondition("weights" if weights.dim() == 2 else "spatial", weights)


def validate_weights(weights: torch.Tensor, dim: int = -1) -> None:
    """Raise ``ValueError`` for NaN/infinite, negative or all-zero mixing weights (along ``dim``)."""
    if not torch.isfinite(weights).all():
        raise ValueError("Mixing weights contain NaN or infinite values.")
    if (weights < 0).any():
        raise ValueError(
            f"Mixing weights must not be negative (the paper mixes styles convexly); smallest weight given: {weights.min().item():.4g}."
        )
    if (weights.sum(dim) <= 0).any():
        raise ValueError("Mixing weights are all zero (somewhere): give at least one style a positive weight.")


# ----------------------------------------------------------------------------- building mixtures


def normalize(mixture: Mixture | torch.Tensor) -> Mixture | torch.Tensor:
    """Scale non-negative weights to sum to 1 (a dict per its values; a tensor along dim 1 of
    [K, N] / [K, N, H, W], or dim 0 of [N] / [N, H, W]). Bad weights raise ``ValueError``."""
    if isinstance(mixture, Mapping):
        values = [torch.as_tensor(w, dtype=torch.float32) for w in mixture.values()]
        total = sum(values)
        validate_weights(torch.stack(torch.broadcast_tensors(*values)), dim=0)
        return {k: (v / total if v.dim() else float(v / total)) for k, v in zip(mixture, values)}
    w = torch.as_tensor(mixture, dtype=torch.float32)
    dim = 0 if w.dim() in (1, 3) else 1
    validate_weights(w, dim=dim)
    return w / w.sum(dim, keepdim=True)


def interpolate(a: Style, b: Style, alpha: float | Sequence[float]) -> Mixture | list[Mixture]:
    """The mixture ``(1 - alpha) a + alpha b``; a sequence of alphas gives one mixture each."""
    if isinstance(alpha, (list, tuple, torch.Tensor)):
        return [interpolate(a, b, float(x)) for x in alpha]
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1]; got {alpha}.")
    return _accumulate([(a, 1.0 - alpha), (b, alpha)])


def bilinear(corners: Sequence[Style], u: float, v: float) -> Mixture:
    """The mixture at point (u, v) of the unit square whose corners are four styles.

    ``corners`` = (top-left, top-right, bottom-left, bottom-right); u runs left to right, v top
    to bottom, both in [0, 1].
    """
    if len(corners) != 4:
        raise ValueError(
            f"Give four corner styles (top-left, top-right, bottom-left, bottom-right); got {len(corners)}."
        )
    if not (0 <= u <= 1 and 0 <= v <= 1):
        raise ValueError(f"u and v must lie in [0, 1]; got ({u}, {v}).")
    tl, tr, bl, br = corners
    return _accumulate([(tl, (1 - u) * (1 - v)), (tr, u * (1 - v)), (bl, (1 - u) * v), (br, u * v)])


def grid(corners: Sequence[Style], rows: int, cols: int) -> list[Mixture]:
    """A rows x cols grid of :func:`bilinear` mixtures, row-major (Fig 7 left)."""
    return [
        bilinear(corners, c / (cols - 1) if cols > 1 else 0.0, r / (rows - 1) if rows > 1 else 0.0)
        for r in range(rows)
        for c in range(cols)
    ]


def _accumulate(pairs: Sequence[tuple[Style, float]]) -> dict:
    out: dict = {}
    for style, weight in pairs:
        out[style] = out.get(style, 0.0) + float(weight)
    return out


def spatial_mask(
    height: int, width: int, kind: str = "horizontal", position: float = 0.5, softness: float = 0.1
) -> torch.Tensor:
    """A mask [H, W] in [0, 1] that is 0 on one side of a boundary and 1 on the other.

    ``kind``: ``"horizontal"`` (0 on the left), ``"vertical"`` (0 on top) or ``"circle"`` (1
    inside a centred disc whose radius grows with ``position``). ``position`` (0-1) moves the
    boundary; ``softness`` is the width of the linear blend across it, as a fraction of the
    image (0: a hard edge). The mask changes continuously with both.
    """
    if kind not in ("horizontal", "vertical", "circle"):
        raise ValueError(f"kind must be 'horizontal', 'vertical' or 'circle'; got {kind!r}.")
    if not 0 <= position <= 1 or softness < 0:
        raise ValueError(f"position must lie in [0, 1] and softness be >= 0; got {position}, {softness}.")
    ys = torch.linspace(0, 1, height).view(height, 1).expand(height, width)
    xs = torch.linspace(0, 1, width).view(1, width).expand(height, width)
    if kind == "horizontal":
        signed = xs - position
    elif kind == "vertical":
        signed = ys - position
    else:
        signed = 0.7 * position - ((xs - 0.5) ** 2 + (ys - 0.5) ** 2).sqrt()
    if softness == 0:  # the limit of the ramp: 0.5 exactly on the boundary
        return (signed > 0).float() + 0.5 * (signed == 0).float()
    return (signed / softness + 0.5).clamp(0, 1)


def spatial_split(
    a: Style, b: Style, height: int, width: int, kind: str = "horizontal", position: float = 0.5, softness: float = 0.1
) -> Mixture:
    """Style ``a`` on one side of a boundary, ``b`` on the other (see :func:`spatial_mask`)."""
    return spatial_from_mask(spatial_mask(height, width, kind, position, softness), a, b)


def spatial_from_mask(mask: torch.Tensor, a: Style, b: Style) -> Mixture:
    """A spatial mixture from a mask [H, W] in [0, 1]: style ``a`` where it is 0, ``b`` where it is 1."""
    m = torch.as_tensor(mask, dtype=torch.float32)
    while m.dim() > 2 and m.shape[0] == 1:
        m = m[0]
    if m.dim() != 2:
        raise ValueError(f"mask must be [H, W]; got shape {tuple(mask.shape)}.")
    if not torch.isfinite(m).all() or (m < 0).any() or (m > 1).any():
        raise ValueError("mask values must lie in [0, 1].")
    if a == b:
        return {a: torch.ones_like(m)}
    return {a: 1 - m, b: m}
