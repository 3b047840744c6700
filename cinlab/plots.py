"""Figures: image grids and loss curves (matplotlib)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch


def _as_hwc(image: torch.Tensor):
    if image.dim() == 4:
        image = image[0]
    return image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def show_images(
    images: Sequence[torch.Tensor] | torch.Tensor,
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float = 3.0,
    suptitle: str | None = None,
):
    """Show images ([1, 3, H, W] or [3, H, W] each, or one [B, 3, H, W] batch) in a grid.

    Returns the matplotlib figure (notebooks display it; scripts can ``savefig`` it).
    """
    import matplotlib.pyplot as plt

    if isinstance(images, torch.Tensor):
        images = list(images.unbind(0)) if images.dim() == 4 else [images]
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"Got {len(titles)} titles for {len(images)} images.")
    ncols = ncols or min(len(images), 5)
    nrows = math.ceil(len(images) / ncols)
    h, w = images[0].shape[-2:]
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows * h / w + (0.3 if titles else 0)), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, image in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(_as_hwc(image))
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_losses(
    curves: Mapping[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    ax=None,
    log: bool = True,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str | None = None,
):
    """Plot several loss curves (name -> values) on one axis; returns the axis."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for name, values in curves.items():
        values = list(values)
        xs = list(x) if x is not None else list(range(len(values)))
        ax.plot(xs[: len(values)], values, label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def notebook_setup(dpi: int = 80) -> None:
    """Inline figures as JPEG at a modest dpi, so committed notebooks stay small."""
    import matplotlib.pyplot as plt

    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("jpeg")
    except ImportError:  # outside Jupyter
        pass
    plt.rcParams["figure.dpi"] = dpi
    plt.rcParams["savefig.dpi"] = dpi


def plot_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    ax=None,
    log: bool = True,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str | None = None,
    styles: Mapping[str, str] | None = None,
):
    """Plot curves given as ``label -> (xs, ys)``; ``styles`` maps labels to matplotlib line styles."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for label, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), (styles or {}).get(label, "-"), label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return ax
