"""The style embedding, the idea in the paper's title: a style is a point, its (gamma, beta) rows.

With conditional instance normalisation every style of a network is described by the same
3,206 numbers at full width (gamma and beta of each of 1,603 normalised channels). Stacked
into one vector per style, the N styles are N points in one space, and that space can be
looked at like any embedding:

- :func:`style_vectors`: the [N, D] matrix (gamma, beta or both);
- :func:`pca`: a 2-D map of the styles (principal components, with the variance each explains);
- :func:`nearest_styles`: which styles a network considers close;
- :func:`layer_spread`: which normalisation layers differ most between styles;
- :func:`split_mixture`: a network whose one style takes its gammas from one mixture and its
  betas from another (what does each half of a style do?).

Mixing styles (Fig 7) moves along straight lines in this space.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch

from .hardware import module_device
from .style import resolve_style

PARTS = ("both", "gamma", "beta")


def style_vectors(model, part: str = "both") -> torch.Tensor:
    """One row per style: its gamma and/or beta values of every CIN layer, concatenated: [N, D] float32.

    ``part``: ``"both"`` (D = 3,206 at full width), ``"gamma"`` or ``"beta"`` (half each).
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}; got {part!r}.")
    _check_style_rows(model)
    layers = model.norm_layers()
    tables = []
    for layer in layers:
        if part in ("both", "gamma"):
            tables.append(layer.gamma)
        if part in ("both", "beta"):
            tables.append(layer.beta)
    return torch.cat([t.detach().float().cpu() for t in tables], dim=1)


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


def nearest_styles(model, style, k: int = 3, part: str = "both") -> list[tuple[str, float]]:
    """The ``k`` styles closest to ``style`` (label or name) in the embedding: (name, Euclidean distance)."""
    vectors = style_vectors(model, part)
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
