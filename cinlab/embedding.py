"""The style embedding, the idea in the paper's title: a style is a point, its (gamma, beta) rows.

With conditional instance normalisation every style of a network is described by the same
3,206 numbers at full width (gamma and beta of each of 1,603 normalised channels). Stacked
into one vector per style, the N styles are N points in one space, and that space can be
looked at like any embedding:

- :func:`style_vectors`: the [N, D] matrix (gamma, beta or both), with or without the numbers
  that cannot change any picture (:func:`inert_beta_layers`);
- :func:`pca`: a 2-D map of the styles (principal components, with the variance each explains);
- :func:`nearest_styles`: which styles a network considers close;
- :func:`layer_spread`: which normalisation layers differ most between styles, and
  :func:`noise_floor`: how much styles differ in numbers that have no effect (training noise);
- :func:`split_mixture`: a network whose one style takes its gammas from one mixture and its
  betas from another (what does each half of a style do?).

Mixing styles (Fig 7) moves along straight lines in this space.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch

from .hardware import module_device
from .model import ResidualBlock
from .norms import ConditionalInstanceNorm2d
from .style import resolve_style

PARTS = ("both", "gamma", "beta")


def style_vectors(model, part: str = "both", *, drop_inert: bool = False) -> torch.Tensor:
    """One row per style: its gamma and/or beta values of every CIN layer, concatenated: [N, D] float32.

    ``part``: ``"both"`` (D = 3,206 at full width), ``"gamma"`` or ``"beta"`` (half each).
    Per layer (in :meth:`~cinlab.model.TransformerNet.norm_layers` order) gamma comes before beta.
    ``drop_inert``: leave out the beta rows of :func:`inert_beta_layers`, numbers that cannot change
    any picture (640 of the 3,206 at full width), so that distances and maps measure only what
    the network can show.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}; got {part!r}.")
    _check_style_rows(model)
    inert = set(inert_beta_layers(model)) if drop_inert else set()
    tables = []
    for name, layer in zip(norm_layer_names(model), model.norm_layers()):
        if part in ("both", "gamma"):
            tables.append(layer.gamma)
        if part in ("both", "beta") and name not in inert:
            tables.append(layer.beta)
    if not tables:  # part="beta" of a network whose every beta is inert
        return torch.zeros(model.num_styles, 0)
    return torch.cat([t.detach().float().cpu() for t in tables], dim=1)


def inert_beta_layers(model) -> list[str]:
    """The CIN layers whose beta rows cannot change the network's output, found from its structure.

    The second normaliser of a residual block adds its output to the trunk, with no nonlinearity
    after the sum, so its beta adds one constant per channel to the trunk. Up to the next
    normaliser that constant only passes through convolutions: with reflection padding a
    convolution maps a constant map to a constant map, as does nearest-neighbour upsampling, and
    each later residual block passes its input through unchanged. The next normaliser (instance
    statistics: each channel's mean is subtracted) then removes it. So those beta rows have a zero
    gradient and no effect whatever their values (notebook 7, exercise 4, shows it). With zero
    padding (a constant map gets edges) or transposed-convolution upsampling (it makes a constant
    periodic) the argument fails and nothing is inert. Names as :func:`norm_layer_names`, e.g.
    ``["residuals.0.conv2", ..., "residuals.4.conv2"]`` for the paper's network.
    """
    config = model.config
    if config.padding != "reflect" or config.upsample != "nearest":
        return []
    if not all(isinstance(norm, ConditionalInstanceNorm2d) for norm in model.norm_layers()):
        return []  # another normaliser may not subtract each channel's mean
    names = {id(module): name for name, module in model.named_modules()}
    return [names[id(m.conv2)] for m in model.modules() if isinstance(m, ResidualBlock)]


def noise_floor(model, styles: Sequence | None = None) -> float | None:
    """How much the styles differ in numbers that have no effect: the mean over the inert layers
    (:func:`inert_beta_layers`) of their beta spread (as :func:`layer_spread` measures it).

    Training moves those numbers by noise alone (Adam scales even a rounding-sized gradient up to a
    step of about the learning rate), so a layer whose spread is no larger cannot be told from
    noise. ``None`` when the network has no inert rows.
    """
    inert = set(inert_beta_layers(model))
    if not inert:
        return None
    rows = [row for row in layer_spread(model, styles) if row["layer"] in inert]
    return sum(float(row["beta"]) for row in rows) / len(rows)


def pca(vectors: torch.Tensor, k: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal components of rows [N, D]: the coordinates [N, k] and the share of variance each explains [k].

    Rows are centred (not scaled); signs follow torch's SVD and are arbitrary.
    """
    if vectors.dim() != 2 or vectors.shape[0] < 2:
        raise ValueError(f"pca needs at least two rows [N, D]; got shape {tuple(vectors.shape)}.")
    centred = vectors.double() - vectors.double().mean(0, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    k = min(k, s.numel())
    variance = s**2
    total = variance.sum()
    share = variance[:k] / total if total > 0 else torch.zeros(k, dtype=torch.float64)
    return (u[:, :k] * s[:k]).float(), share.float()


def nearest_styles(
    model, style, k: int = 3, part: str = "both", *, drop_inert: bool = False
) -> list[tuple[str, float]]:
    """The ``k`` styles closest to ``style`` (label or name) in the embedding: (name, Euclidean distance).

    ``part`` and ``drop_inert`` choose the coordinates, as in :func:`style_vectors`.
    """
    vectors = style_vectors(model, part, drop_inert=drop_inert)
    index = model.style_index(style)
    distances = (vectors - vectors[index]).norm(dim=1)
    distances[index] = float("inf")
    order = distances.argsort()[: min(k, len(distances) - 1)].tolist()
    return [(model.style_names[i], float(distances[i])) for i in order]


def norm_layer_names(model) -> list[str]:
    """The names of the network's conv layers, whose normalisers hold the styles, in forward order:
    ``conv1``, ..., ``residuals.0.conv1``, ..., ``out``."""
    layers = {id(m) for m in model.conv_layers()}
    return [name for name, module in model.named_modules() if id(module) in layers]


def layer_spread(model, styles: Sequence | None = None) -> list[dict[str, float | str]]:
    """Per CIN layer, how much the styles disagree: the mean over channels of the standard deviation
    across styles of gamma and of beta. Returns one dict per layer (``layer``, ``gamma``, ``beta``),
    in forward order; ``styles`` restricts the comparison to some styles."""
    labels = [model.style_index(s) for s in styles] if styles is not None else list(range(model.num_styles))
    if len(labels) < 2:
        raise ValueError("Comparing styles needs at least two of them.")
    _check_style_rows(model)
    rows = []
    for name, layer in zip(norm_layer_names(model), model.norm_layers()):
        gamma, beta = layer.gamma.detach().float()[labels], layer.beta.detach().float()[labels]
        rows.append(
            {
                "layer": name,
                "gamma": float(gamma.std(0, correction=0).mean()),
                "beta": float(beta.std(0, correction=0).mean()),
            }
        )
    return rows


@torch.no_grad()
def split_mixture(model, gamma, beta):
    """A new network with one style: gamma from the mixture ``gamma``, beta from ``beta``.

    Each is anything :mod:`cinlab.style` accepts as one style or mixture (a label, a name, a
    dict ``{style: weight}``). ``split_mixture(net, "starry_night", "the_scream")`` paints with
    the scales of one painting and the shifts of another. ``model`` is not changed.
    """
    _check_style_rows(model)

    def weights(spec) -> torch.Tensor:
        condition = resolve_style(spec, model.num_styles, model.style_names)
        if condition.count != 1 or condition.kind == "spatial":
            raise ValueError("gamma and beta each take one style or one mixture, not a list or a spatial mixture.")
        if condition.kind == "labels":
            return torch.nn.functional.one_hot(condition.value, model.num_styles).float()[0]
        return condition.value[0].float()

    w_gamma, w_beta = weights(gamma), weights(beta)
    state = model.state_dict()
    for name, norm in zip(norm_layer_names(model), model.norm_layers()):
        state[f"{name}.norm.gamma"] = (w_gamma.to(norm.gamma) @ norm.gamma)[None]
        state[f"{name}.norm.beta"] = (w_beta.to(norm.beta) @ norm.beta)[None]
    single = type(model)(replace(model.config, num_styles=1), style_names=[f"gamma {gamma!r}, beta {beta!r}"])
    single.load_state_dict(state)
    return single.to(module_device(model)).eval()


def _check_style_rows(model) -> None:
    if not model.has_style_rows:
        raise ValueError(
            f"This network's normaliser ({model.config.norm!r}) has no per-style rows: its styles have no embedding."
        )
