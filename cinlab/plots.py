"""Figures (matplotlib): image grids, loss curves, and the paper's figures as recipes.

The recipes (:func:`fig4_styles`, :func:`fig1b_strip`, :func:`fig7_grid`) are shared by the
notebooks and by ``python -m cinlab.reproduce``, so the README's figures and the notebooks'
are drawn by the same code. Every function returns the matplotlib figure (or axis).

Text is shown as written: style names come from files, and a ``$`` in one would otherwise start
matplotlib's math notation (and an invalid formula stops the figure from drawing). Functions
that take titles or labels from the caller escape them too unless ``mathtext=True``.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch


def literal(text) -> str:
    """``text`` for a matplotlib title or label, shown as written (``$`` escaped: no math notation)."""
    return str(text).replace("$", r"\$")


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
    mathtext: bool = False,
):
    """Show images ([1, 3, H, W] or [3, H, W] each, or one [B, 3, H, W] batch) in a grid.

    Each panel is about ``size`` inches wide (times the figure dpi in pixels); rows are as tall as
    the tallest image needs, so images of different shapes keep their own proportions.

    Titles are shown as written; ``mathtext=True`` lets ``$...$`` in them be math notation.
    """
    import matplotlib.pyplot as plt

    text = (lambda t: str(t)) if mathtext else literal
    if isinstance(images, torch.Tensor):
        images = list(images.unbind(0)) if images.dim() == 4 else [images]
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"Got {len(titles)} titles for {len(images)} images.")
    ncols = ncols or min(len(images), 5)
    nrows = math.ceil(len(images) / ncols)
    # Rows as tall as the tallest image needs: a square texture beside a landscape painting keeps its full size.
    aspect = max(image.shape[-2] / image.shape[-1] for image in images)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows * aspect + (0.3 if titles else 0)), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, image in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(_as_hwc(image))
        if titles is not None:
            ax.set_title(text(titles[i]), fontsize=9)
    if suptitle:
        fig.suptitle(text(suptitle))
    fig.tight_layout()
    return fig


def at_scale(image: torch.Tensor, shape: Sequence[int], *, fill: float = 1.0) -> torch.Tensor:
    """``image`` at its own pixel scale on a canvas of ``shape`` (H, W): to compare sizes by eye.

    ``image`` is [1, 3, h, w] (or [3, h, w]). Where it is larger than the canvas its centre is
    cropped; where it is smaller it sits in the middle of a ``fill``-coloured canvas. Shown next
    to images of size ``shape`` with :func:`show_images`, one pixel is the same size in all of
    them (notebook 3 shows each style image as VGG sees it beside the pastiche it gives).
    Returns [1, 3, H, W].
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"at_scale expects one image [1, C, h, w]; got shape {tuple(image.shape)}.")
    height, width = int(shape[-2]), int(shape[-1])
    h, w = image.shape[-2:]
    canvas = image.new_full((1, image.shape[1], height, width), fill)
    # Overlap of the image (centred) and the canvas, in each one's own coordinates.
    crop_h, crop_w = min(h, height), min(w, width)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    at_top, at_left = (height - crop_h) // 2, (width - crop_w) // 2
    canvas[..., at_top : at_top + crop_h, at_left : at_left + crop_w] = image[
        ..., top : top + crop_h, left : left + crop_w
    ]
    return canvas


def plot_curves(
    curves: Mapping[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]],
    *,
    ax=None,
    log: bool = True,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str | None = None,
    styles: Mapping[str, str] | None = None,
    mathtext: bool = False,
):
    """Plot curves on one axis: ``label -> values`` (x = 0, 1, ...) or ``label -> (xs, ys)``.

    ``styles`` maps labels to matplotlib line styles (``"--"``). Labels and titles are shown as
    written unless ``mathtext=True``. Returns the axis.
    """
    import matplotlib.pyplot as plt

    text = (lambda t: str(t)) if mathtext else literal
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for label, curve in curves.items():
        if isinstance(curve, tuple) and len(curve) == 2 and not isinstance(curve[0], (int, float)):
            xs, ys = list(curve[0]), list(curve[1])
        else:
            ys = list(curve)
            xs = list(range(len(ys)))
        shown = text(label)  # matplotlib leaves labels starting with "_" out of legends: a zero-width space keeps them
        ax.plot(xs, ys, (styles or {}).get(label, "-"), label="\u200b" + shown if shown.startswith("_") else shown)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(text(xlabel))
    ax.set_ylabel(text(ylabel))
    if title:
        ax.set_title(text(title), fontsize=10)
    ax.legend(fontsize=7)
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


# ----------------------------------------------------------------------------- the paper's figures


def fig4_styles(model, photo, styles: Sequence | None = None, *, ncols: int = 6, size: float = 2.2):
    """Fig 4: one photo through one network in each of its styles (default: all), photo first."""
    styles = list(styles) if styles is not None else list(range(model.num_styles))
    outputs = model.stylize(photo, styles)
    titles = ["photo"] + [s if isinstance(s, str) else model.style_names[s] for s in styles]
    return show_images([photo.cpu()] + list(outputs), titles, ncols=ncols, size=size)


def fig1b_strip(model, photo, a, b, alphas: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), *, size: float = 2.2):
    """Fig 1b: an interpolation strip from style ``a`` (alpha = 0) to style ``b`` (alpha = 1)."""
    from .style import interpolate

    strip = model.stylize(photo, interpolate(a, b, list(alphas)))
    return show_images(list(strip), [f"alpha = {x:.1f}" for x in alphas], ncols=len(alphas), size=size)


def fig7_grid(model, photo, corners: Sequence, rows: int = 5, cols: int = 5, *, size: float = 1.6, thumbnail: int = 96):
    """Fig 7 left: a rows x cols grid of mixtures of four corner styles, the corner paintings beside it.

    ``corners`` are four styles (labels or names; top-left, top-right, bottom-left,
    bottom-right). The paintings are loaded by name from the registry when the network's style
    names are registry names; otherwise the corners are labelled by name only (a name is never
    opened as a file: it comes from the network's file).
    """
    import matplotlib.pyplot as plt

    from .images import load_image
    from .registry import registry
    from .style import grid

    tiles = model.stylize(photo, grid(corners, rows, cols))
    names = [c if isinstance(c, str) else model.style_names[c] for c in corners]
    aspect = tiles.shape[-2] / tiles.shape[-1]
    fig = plt.figure(figsize=(size * (cols + 2), size * rows * aspect + 0.4))
    # Tiles edge to edge (a thin gap), so the grid reads as one picture; the corner columns hold
    # only the paintings, so their titles have room above them.
    spec = fig.add_gridspec(
        rows,
        cols + 2,
        wspace=0.03,
        hspace=0.03,
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - 0.3 / (size * rows * aspect + 0.4),
    )
    for i, tile in enumerate(tiles):
        ax = fig.add_subplot(spec[i // cols, 1 + i % cols])
        ax.imshow(_as_hwc(tile))
        ax.axis("off")
    positions = [(0, 0), (0, cols + 1), (rows - 1, 0), (rows - 1, cols + 1)]
    for name, (r, c) in zip(names, positions):
        ax = fig.add_subplot(spec[r, c])
        ax.axis("off")
        if isinstance(name, str) and name in registry():
            try:
                ax.imshow(_as_hwc(load_image(name, thumbnail)))
            except (OSError, ValueError):
                pass  # offline, or not an image we can read: the name alone
        ax.set_title(literal(name), fontsize=8)
    return fig


# ----------------------------------------------------------------------------- the style embedding


def style_map(
    model,
    part: str = "both",
    *,
    drop_inert: bool = False,
    thumbnail: int = 48,
    zoom: float = 0.6,
    size: float = 7.0,
    ax=None,
):
    """The styles of a CIN network as points on a 2-D map: the first two principal components of
    their (gamma, beta) vectors (:mod:`cinlab.embedding`), each point drawn as its painting.

    ``part`` is ``"both"``, ``"gamma"`` or ``"beta"``; ``drop_inert`` leaves out the numbers that
    cannot change any picture (:func:`cinlab.embedding.inert_beta_layers`). Paintings are loaded by
    name from the registry (centre-cropped squares of ``thumbnail`` px, shown at ``zoom``); a style
    whose name is not a registry image is a dot. Every point is labelled with its name, placed
    where it overlaps no other label and, where there is room, no painting (a thin line joins a
    label moved away from its point); the axis labels give the share of the variance each
    component explains. Returns the axis.
    """
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    from .embedding import pca, style_vectors
    from .images import painting_thumbnail

    coords, share = pca(style_vectors(model, part, drop_inert=drop_inert), 2)
    if coords.shape[1] < 2:  # two styles: one component
        coords = torch.cat([coords, torch.zeros(coords.shape[0], 1)], dim=1)
        share = torch.cat([share, torch.zeros(1)])
    if ax is None:
        _, ax = plt.subplots(figsize=(size, size * 0.8))
    xs, ys = coords[:, 0].tolist(), coords[:, 1].tolist()
    ax.scatter(xs, ys, s=12, color="0.3", zorder=1)
    boxes = []
    for name, x, y in zip(model.style_names, xs, ys):
        painting = painting_thumbnail(name, thumbnail)  # None for a name that is not a registry painting: a dot
        if painting is not None:
            box = AnnotationBbox(OffsetImage(_as_hwc(painting), zoom=zoom), (x, y), frameon=True, pad=0.1, zorder=2)
            ax.add_artist(box)
            boxes.append(box)
    ax.margins(0.12)
    ax.set_xlabel(f"principal component 1 ({100 * float(share[0]):.0f} % of the variance)")
    ax.set_ylabel(f"principal component 2 ({100 * float(share[1]):.0f} % of the variance)")
    what = part if part != "both" else "gamma and beta"
    ax.set_title(
        f"{model.num_styles} styles, {what}" + (" (inert numbers left out)" if drop_inert else ""), fontsize=10
    )
    half = thumbnail * zoom / 2 + 2 if boxes else 4  # points from a point to the edge of its painting
    place_labels(
        ax, list(zip(xs, ys)), [literal(n) for n in model.style_names], avoid=boxes, clearance=half, fontsize=7
    )
    return ax


def place_labels(
    ax, points: Sequence[tuple[float, float]], labels: Sequence[str], *, avoid=(), clearance=4.0, fontsize=6
):
    """Label each point (data coordinates) with a text that overlaps no other label and stays inside
    the axes, and where there is room, overlaps none of the artists in ``avoid`` (e.g. pictures).

    Each label tries positions around its point in 16 directions, at ``clearance`` points from it and
    then on farther rings, and takes the best: first no overlap with a label, then inside the axes,
    then the least overlap with ``avoid``, then the nearest. A label placed beyond the first ring
    gets a thin line to its point. Returns the text artists, in the order of ``labels``.
    """
    import math

    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    ax.set_xlim(ax.get_xlim())  # freeze the limits: the labels are placed in display coordinates
    ax.set_ylim(ax.get_ylim())
    renderer = ax.figure.canvas.get_renderer()
    obstacles = [artist.get_window_extent(renderer) for artist in avoid]
    frame = ax.get_window_extent(renderer)
    pixels_per_point = renderer.points_to_pixels(1.0)
    angles = [2 * math.pi * k / 16 - math.pi / 2 for k in range(16)]  # starting straight below
    rings = [clearance * 1.3**ring for ring in range(20)]  # out to about 150 times the clearance

    def overlap(a, b):
        w = min(a.x1, b.x1) - max(a.x0, b.x0)
        h = min(a.y1, b.y1) - max(a.y0, b.y0)
        return w * h if w > 0 and h > 0 else 0.0

    placed, texts = [], []
    for (x, y), label in zip(points, labels):
        probe = ax.text(x, y, label, fontsize=fontsize)
        extent = Text.get_window_extent(probe, renderer)
        width, height = extent.width, extent.height
        probe.remove()
        px, py = ax.transData.transform((x, y))
        best = None
        for ring, distance in enumerate(rings):
            for angle in angles:
                dx, dy = math.cos(angle), math.sin(angle)
                # the label's edge nearest the point sits at the given distance: shift by half its size
                cx = px + dx * distance * pixels_per_point + (width / 2) * _sign(dx)
                cy = py + dy * distance * pixels_per_point + (height / 2) * _sign(dy)
                box = Bbox.from_bounds(cx - width / 2, cy - height / 2, width, height)
                inside = overlap(box, frame) >= width * height - 1e-6
                cost = (
                    sum(overlap(box, other) for other in placed) > 0,
                    not inside,
                    round(sum(overlap(box, other) for other in obstacles), 1),
                    ring,
                )
                if best is None or cost < best[0]:
                    best = (cost, ring, cx - px, cy - py)
            if best[0][:3] == (False, False, 0):
                break
        _, ring, ox, oy = best
        line = (
            {"arrowprops": {"arrowstyle": "-", "color": "0.5", "lw": 0.5, "shrinkA": 0, "shrinkB": 2}} if ring else {}
        )
        text = ax.annotate(
            label,
            (x, y),
            xytext=(ox / pixels_per_point, oy / pixels_per_point),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=fontsize,
            zorder=3,
            **line,
        )
        text.update_positions(renderer)  # an annotation finds its place at drawing time; now, to measure it
        placed.append(Text.get_window_extent(text, renderer))
        texts.append(text)
    return texts


def _sign(value: float, dead: float = 0.2) -> int:
    return 0 if abs(value) < dead else (1 if value > 0 else -1)


def plot_layer_spread(rows: Sequence[Mapping], *, ax=None, title: str | None = None, floor: float | None = None):
    """Bars per CIN layer (forward order): how much the styles disagree in gamma and in beta.

    ``rows`` is :func:`cinlab.embedding.layer_spread`'s result. ``floor`` (e.g.
    :func:`cinlab.embedding.noise_floor`) draws a dotted line at the spread of numbers that cannot
    change any picture: bars no higher cannot be told from training noise. Returns the axis.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.2))
    positions = list(range(len(rows)))
    ax.bar([p - 0.2 for p in positions], [row["gamma"] for row in rows], width=0.4, label="gamma")
    ax.bar([p + 0.2 for p in positions], [row["beta"] for row in rows], width=0.4, label="beta")
    if floor is not None:
        ax.axhline(floor, color="0.3", ls=":", lw=1.2, label="noise floor (spread of inert numbers)")
    ax.set_xticks(positions)
    ax.set_xticklabels(
        [literal(row["layer"].replace("residuals.", "res")) for row in rows], rotation=60, ha="right", fontsize=7
    )
    ax.set_ylabel("spread across styles")
    ax.set_xlabel("CIN layer (input → output)")
    if title:
        ax.set_title(literal(title), fontsize=10)
    ax.legend(fontsize=7)
    return ax
