"""Interactive style mixing in Jupyter (ipywidgets), and the logic behind it.

:class:`StyleMixer` holds a network and a photo and renders the photo under any mixture of the
network's styles; it has no UI and is what most tests exercise. The functions below wrap it in
ipywidgets, each returning a :class:`LiveMixer`:

- :func:`two_style_slider`: one slider from style A to style B (Fig 1b, live);
- :func:`weight_sliders`: one slider per style, weights normalised to sum to 1;
- :func:`style_pad`: a pad to click or drag in, whose corners are four paintings (Fig 7 left, live);
- :func:`spatial_blend`: different styles in different regions of one picture.

How a change becomes a picture quickly (measured in ``benchmarks/widget.py`` and, in a real
browser, ``benchmarks/browser/widget_latency.py``):

1. **The browser shows what it already has.** The kernel sends every picture it renders to the
   widget's view, which keeps them keyed by the controls' state (:mod:`cinlab.live`);
   a control moved to a state it has shows that picture at once, with no message to the
   kernel and back (~100 ms on 2 busy cores).
2. **The kernel renders ahead.** While the controls are still, a worker thread renders the
   states a student reaches next: one step of each control (the last one moved, in its
   direction, first), then every value of each control and every point of the 2-D pad, as
   small previews first and then full pictures. Only the widget used last does this.
3. **Anything else is drawn at once, small, then in full.** A control's callback only
   *requests* a picture (:class:`LatestOnly`); the worker renders a **preview** as large as
   fits ``PREVIEW_BUDGET_MS`` (50 ms) at once, and the **full** picture once the controls have
   been still for ``settle_s`` (80 ms). The full picture is the largest, up to ``size``, that
   renders within ``FULL_BUDGET_MS`` (180 ms), so that it settles within 300 ms.
4. The picture is a JPEG shown at its own pixel size (a preview is drawn into the same box), so
   the browser never stretches it.
5. On a CPU the worker uses half the cores (one of two): the browser, the Jupyter server and
   the kernel's own thread need the other one, and two threads fighting for one core are slower
   than one thread alone.

Without a kernel (a saved notebook, untrusted, or on a static viewer) a widget cell shows a
still picture of the widget and the line "live widget: run this cell" (:meth:`LiveMixer.still`);
a widget whose kernel has gone (a restart) says so in red under its picture.

(Longer than the other modules, on purpose: the headless :class:`StyleMixer`, the render
scheduling, the pad's picture and the four widgets are one feature, and a change to how a
picture is scheduled or drawn touches all of them together. The frame cache, which is not
about style, and the render threads are in :mod:`cinlab.live`.)
"""

from __future__ import annotations

import base64
import copy
import io
import time
import weakref
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from . import style as styles
from .hardware import choose_precision, module_device
from .images import ImageSource, encode_image, load_image, painting_thumbnail, resize, to_pil
from .live import (
    Frame,
    FrameCache,
    LatestOnly,
    RenderCancelled,
    axis,
    control_state,
    frame_picture_class,
    full_side,
    is_selection,
    prefetch_plan,
    render_threads,
    state_key,
)
from .model import ConvLayer, TransformerNet
from .style import StyleCondition


class StyleMixer:
    """Render one photo under mixtures of a network's styles.

    Args:
        model: a trained :class:`TransformerNet` with conditional instance norm.
        content: the photo (anything :func:`cinlab.load_image` accepts).
        size: shorter side of the full-quality picture in px.
        precision: "auto" (bfloat16 or float16 where native, see :func:`cinlab.hardware.choose_precision`) or "float32".

    ``weights`` (float [N]) is the current mixture; every ``set_*`` method changes it and
    :meth:`render` returns the image [1, 3, H, W] in [0, 1], at ``size`` or at a smaller
    preview size. ``last_ms`` is the time of the last render (forward pass only); :meth:`encode`
    turns an image into JPEG/PNG bytes for an ``ipywidgets.Image``.

    The mixer renders with its own copy of the network's modules that shares every parameter
    with ``model`` (no memory; ``model`` itself is never changed). One render at a time: a
    mixer belongs to one widget (or one notebook cell).
    """

    def __init__(
        self, model: TransformerNet, content: ImageSource, *, size: int = 256, precision: str | torch.dtype = "auto"
    ):
        if model.config.norm != "cin":
            raise ValueError("Style mixing needs a conditional instance norm network (norm='cin').")
        self.model = model.eval()
        self.device = module_device(model)
        self.precision = choose_precision(self.device, precision)
        self.size = size
        # Contiguous (not channels-last) on CPUs: channels-last made plain mixing 10-15 % faster but
        # spatial mixing 6-10 % slower (2-core AMD EPYC, float32), and it would change the caller's network.
        self.content = load_image(content, size, device=self.device)
        self._contents = {min(self.content.shape[-2:]): self.content}  # the photo per preview size
        shared = {id(t): t for t in [*model.parameters(), *model.buffers()]}
        self._network = copy.deepcopy(model, memo=shared)  # the modules copied, every tensor shared
        for layer in self._network.modules():
            if isinstance(layer, ConvLayer):
                layer.register_forward_pre_hook(self._stop_if_cancelled)
        self._cancel: list[Callable[[], bool] | None] = [None]  # shared with forks: the hooks above read it
        self.num_styles = model.num_styles
        self.weights = styles.mixture_weights({0: 1.0}, self.num_styles)
        self.spatial: torch.Tensor | None = None
        self.last_ms = 0.0

    # ------------------------------------------------------------------ setting the mixture

    def set_weights(self, weights: Sequence[float] | torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Any non-negative weights [N] (normalised to sum to 1 unless ``normalize=False``).

        All-zero weights are no mixture: ``ValueError`` (the widgets show its message).
        """
        w = torch.as_tensor(weights, dtype=torch.float32)
        if w.shape != (self.num_styles,):
            raise ValueError(f"Give {self.num_styles} weights, one per style; got shape {tuple(w.shape)}.")
        self.weights = styles.normalize(w) if normalize else w
        self.spatial = None
        return self.weights

    def set_pair(self, a: int, b: int, alpha: float) -> torch.Tensor:
        """``(1 - alpha) * style a + alpha * style b``."""
        return self.set_weights(
            styles.mixture_weights(styles.interpolate(a, b, alpha), self.num_styles, self.model.style_names),
            normalize=False,
        )

    def set_pad(self, corners: Sequence[int], u: float, v: float) -> torch.Tensor:
        """A point (u, v) of the unit square whose corners are four styles (TL, TR, BL, BR)."""
        return self.set_weights(
            styles.mixture_weights(styles.bilinear(corners, u, v), self.num_styles, self.model.style_names),
            normalize=False,
        )

    def set_spatial(
        self, a: int, b: int, kind: str = "horizontal", position: float = 0.5, softness: float = 0.15
    ) -> torch.Tensor:
        """Style ``a`` on one side, ``b`` on the other: ``kind`` is ``"horizontal"`` (a left),
        ``"vertical"`` (a on top) or ``"circle"`` (b inside a centred disc); ``position`` moves the
        boundary (0-1) and ``softness`` widens the blend. Returns the weights [1, N, H, W]."""
        h, w = self.content.shape[-2:]
        mixture = styles.spatial_split(a, b, h, w, kind, position, softness)
        self.spatial = styles.mixture_weights(mixture, self.num_styles, self.model.style_names)[None]
        return self.spatial

    # ------------------------------------------------------------------ rendering

    def content_at(self, size: int | None = None) -> torch.Tensor:
        """The photo with its shorter side ``size`` px (default: the full size), resized once and kept."""
        size = size or min(self.content.shape[-2:])
        if size not in self._contents:
            self._contents[size] = resize(self.content, size)
        return self._contents[size]

    @torch.inference_mode()
    def render(self, size: int | None = None, *, cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
        """The photo under the current mixture: [1, 3, H, W] float32 in [0, 1] (CPU).

        ``size`` (shorter side in px) renders a preview smaller than the full picture: the
        forward pass costs about in proportion to the pixels. ``cancelled`` is asked before
        every layer; once it returns True the render stops with :class:`RenderCancelled` (a
        live widget drops a full-quality render as soon as the controls move again).
        """
        start = time.perf_counter()
        content = self.content_at(size)
        if self.spatial is None:
            self._use_styles(None)
            condition = StyleCondition("weights", self.weights.to(self.device)[None])
        else:
            condition = self._spatial_condition(content.shape[-2:])
        self._cancel[0] = cancelled
        try:
            with self.precision.autocast():
                out = self._network(content, condition, check=False)
        finally:
            self._cancel[0] = None
        out = out.float().cpu()
        self.last_ms = (time.perf_counter() - start) * 1000
        return out

    def _stop_if_cancelled(self, layer, inputs) -> None:
        cancelled = self._cancel[0]
        if cancelled is not None and cancelled():
            raise RenderCancelled()

    def fork(self) -> "StyleMixer":
        """A second mixer of the same network and photo (the parameters shared, no memory) with
        its own modules and mixture: a live widget renders ahead with it, in another thread,
        while this one draws what is on screen."""
        twin = StyleMixer(self.model, self.content, size=self.size)
        twin.precision = self.precision
        return twin

    def resize(self, size: int) -> None:
        """Make ``size`` (shorter side, px, at most the photo's loaded size) the full picture's size."""
        self.content = self.content_at(size)
        self.size = size

    def _spatial_condition(self, size: tuple[int, int]) -> StyleCondition:
        """The condition for the spatial weights at ``size`` (H, W), on the styles they use.

        Spatial mixing costs, per layer, a multiply-add per style for every channel and pixel
        (``einsum("bnhw,nc->bchw")``). A split uses two of the 32 styles, so the network gets
        only their (gamma, beta) rows; the result is the same (the other weights are zero).
        Measured on 2 CPU cores, one thread: spatial over plain mixing +20-25 % with all 32
        styles, +7-14 % with the two in use (``benchmarks/widget.py``).
        """
        used = (self.spatial.amax(dim=(0, 2, 3)) > 0).nonzero().flatten().tolist()
        self._use_styles(used)
        weights = self.spatial[:, used]
        if tuple(weights.shape[-2:]) != tuple(size):
            weights = F.interpolate(weights, size=tuple(size), mode="bilinear", align_corners=False)
        return StyleCondition("spatial", weights.to(self.device))

    def _use_styles(self, labels: list[int] | None) -> None:
        """Give the mixer's network the model's own (gamma, beta) tables (``labels`` None), or
        only the rows ``labels`` of each."""
        for full, part in zip(self.model.norm_layers(), self._network.norm_layers()):
            if labels is None:
                part.gamma, part.beta = full.gamma, full.beta
            else:
                part.gamma = torch.nn.Parameter(full.gamma.detach()[labels], requires_grad=False)
                part.beta = torch.nn.Parameter(full.beta.detach()[labels], requires_grad=False)

    @staticmethod
    def encode(image: torch.Tensor, fmt: str = "jpeg", quality: int = 90) -> bytes:
        """An image [1, 3, H, W] as JPEG (``quality``, 90 by default) or PNG bytes."""
        return encode_image(image, fmt.upper(), **({"quality": quality} if fmt == "jpeg" else {}))

    def mixed_affine(self, layer: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The (gamma, beta) the current (non-spatial) mixture gives one CIN layer: [C] each."""
        norm = self.model.norm_layers()[layer]
        w = self.weights.to(norm.gamma.device)
        return w @ norm.gamma, w @ norm.beta


# ----------------------------------------------------------------------------- the 2-D pad's picture

#: Sizes of the pad picture in px: corner thumbnails, the square between them, and the margin
#: inside the square that keeps the dot (radius ``PAD_DOT``) whole at the corners.
PAD_THUMB, PAD_SQUARE, PAD_MARGIN, PAD_DOT = 64, 160, 9, 7
PAD_SIZE = PAD_THUMB + PAD_SQUARE + PAD_THUMB
#: The pad's grid: clicks snap to it, and all its 11 x 11 points are rendered ahead (previews
#: of all of them take ~5 s on 2 CPU cores; a finer grid would leave clicks waiting for the kernel).
PAD_STEP = 0.1


def pad_point(u: float, v: float) -> tuple[float, float]:
    """Where the point (u, v) of the unit square is drawn in the pad picture (x, y in px)."""
    span = PAD_SQUARE - 1 - 2 * PAD_MARGIN
    return PAD_THUMB + PAD_MARGIN + u * span, PAD_THUMB + PAD_MARGIN + v * span


def pad_uv(x: float, y: float) -> tuple[float, float]:
    """The point (u, v) for a click at (x, y) px in the pad picture, clamped to the unit square
    (a click on a corner painting goes to that corner)."""
    span = PAD_SQUARE - 1 - 2 * PAD_MARGIN
    u = (x - PAD_THUMB - PAD_MARGIN) / span
    v = (y - PAD_THUMB - PAD_MARGIN) / span
    return min(max(u, 0.0), 1.0), min(max(v, 0.0), 1.0)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def corner_thumbnails(names: Sequence[str], size: int = PAD_THUMB) -> list[Image.Image | None]:
    """Square thumbnails of the paintings ``names`` (registry names); None where a name is not
    a registry image (or it cannot be loaded), and the pad shows the name alone."""
    thumbnails = [painting_thumbnail(name, size) for name in names]
    return [to_pil(t) if t is not None else None for t in thumbnails]


def pad_picture(
    u: float, v: float, names: Sequence[str] = ("", "", "", ""), thumbnails: Sequence[Image.Image | None] | None = None
) -> Image.Image:
    """The pad: a square with a dot at (u, v), the four corner paintings (thumbnails, or grey
    boxes) diagonally outside its corners, and their names (TL, TR, BL, BR) between them."""
    img = Image.new("RGB", (PAD_SIZE, PAD_SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = _font(11)
    thumbnails = list(thumbnails) if thumbnails is not None else [None] * 4
    far = PAD_THUMB + PAD_SQUARE
    for (x, y), thumb in zip([(0, 0), (far, 0), (0, far), (far, far)], thumbnails):
        if thumb is not None:
            img.paste(thumb.resize((PAD_THUMB, PAD_THUMB)), (x, y))
        else:
            draw.rectangle([x, y, x + PAD_THUMB - 1, y + PAD_THUMB - 1], fill=(225, 225, 225))
    # the names in the bands between the thumbnails, each next to its corner
    tl, tr, bl, br = (n[:24] for n in names)
    draw.text((PAD_THUMB + 3, 3), tl, fill=(60, 60, 60), font=font)
    draw.text((far - 3, PAD_THUMB - 4), tr, fill=(60, 60, 60), font=font, anchor="rd")
    draw.text((PAD_THUMB + 3, far + 3), bl, fill=(60, 60, 60), font=font)
    draw.text((far - 3, PAD_SIZE - 4), br, fill=(60, 60, 60), font=font, anchor="rd")
    draw.rectangle([PAD_THUMB, PAD_THUMB, far - 1, far - 1], fill=(245, 245, 245), outline=(120, 120, 120))
    x, y = pad_point(u, v)
    draw.ellipse([x - PAD_DOT, y - PAD_DOT, x + PAD_DOT, y + PAD_DOT], fill=(200, 40, 40), outline=(255, 255, 255))
    return img


# ----------------------------------------------------------------------------- the live widget

#: What a preview render may take (ms): the browser and the transport add about 35 ms, so
#: input-to-picture stays under 100 ms. The cost grows with the pixels, so the preview's side is
#: the full side times sqrt(budget / full render time), in steps of 16 px, at least
#: ``MIN_PREVIEW``; where the full picture fits the budget (a GPU) there is no preview.
#: Measured full renders at 256 px (385x256), float32, one thread: 0.7-1.5 s on the 2-core AMD
#: EPYC (30 GFLOP at ~40 GFLOP/s), so its previews are 48-64 px.
PREVIEW_BUDGET_MS = 50.0
MIN_PREVIEW = 48

#: What a full render may take (ms) for the picture to settle within 300 ms of the last
#: movement: the round trip and the paint add ~100 ms on 2 busy cores. Where the full picture
#: asked for (``size``) renders slower, the widget draws the largest one that fits (a multiple
#: of 16 px): on the 2-core AMD EPYC, 256 px asked takes 600-700 ms, so 128 px (~160 ms) is drawn.
#: ``full_budget_ms=None`` keeps ``size`` whatever it costs.
FULL_BUDGET_MS = 180.0


def preview_side(size: int, full_ms: float) -> int | None:
    """The shorter side of a preview for a ``size`` px picture whose full render takes
    ``full_ms``; None where the full picture fits ``PREVIEW_BUDGET_MS`` (no preview needed)."""
    side = full_side(size, size, full_ms, PREVIEW_BUDGET_MS, smallest=MIN_PREVIEW)
    return side if side < size else None


# CSS for every live widget. ipywidgets marks a widget whose kernel connection is gone
# (kernel restarted, or a saved copy) with the class ``jupyter-widgets-disconnected``: the
# hint below the picture is shown only then. ``cinlab-stale`` dims a picture that no longer
# matches the controls.
_CSS = """<style>
.cinlab-offline { display: none !important; }
.cinlab-offline.jupyter-widgets-disconnected { display: block !important; color: #a40000; }
.cinlab-stale { opacity: 0.3; }
.cinlab-pad { cursor: crosshair; }
</style>"""
OFFLINE_HINT = (
    "<b>This widget is not connected to a running kernel</b> (the kernel restarted, or this is a saved copy): "
    "run this cell again; after a restart, run the cells above it first."
)
STILL_CAPTION = "live widget: run this cell to use it"


class LiveMixer:
    """A live style-mixing widget: controls and the picture around a :class:`StyleMixer`.

    Args:
        mixer: renders the picture.
        controls: the ipywidgets (sliders, dropdowns, toggle buttons) whose state picks the
            picture; a change of any ``value`` draws a new one.
        apply: ``apply(mixer, values)`` sets ``mixer``'s mixture for the controls' ``values``
            (one per control: a slider's value, a selection's option value) and returns a short
            description for the caption, or raises ``ValueError`` when there is nothing to show
            (the message is shown instead, and the old picture dimmed).
        title: what the widget is (for the still picture).
        panel: an optional widget shown above the controls (the 2-D pad), and ``panel_still``
            a function that draws it for :meth:`still`.
        grids: pairs of controls (indices) that move together, like the pad's two coordinates:
            every point of their grid is rendered ahead.
        preview_size: shorter side of the previews in px (default: chosen to fit
            ``PREVIEW_BUDGET_MS``, see :attr:`preview_size`).
        full_budget_ms: the full picture is the largest, up to ``mixer.size``, that renders in
            this time (default ``FULL_BUDGET_MS``; None: always ``mixer.size``).
        settle_s: how long the controls must be still before the full picture is drawn.
        threads: torch threads for the renders (default :func:`render_threads`).

    How a change becomes a picture: the browser shows at once any state whose picture it has
    (:mod:`cinlab.live`); the kernel draws the others, a preview and then the full
    picture, and while the controls are still renders ahead the states one step away, then
    whole rows of values (``cache`` holds what it sent).

    ``widget`` is the ipywidgets box (``display(live.widget)`` or just ``live`` in a cell);
    ``image`` (the picture), ``caption``, ``current`` and ``renderer`` are handles for tests
    and notebooks.
    """

    def __init__(
        self,
        mixer: StyleMixer,
        controls: Sequence,
        apply: Callable[[StyleMixer, list], str],
        *,
        title: str,
        panel=None,
        panel_still: Callable[[], Image.Image] | None = None,
        grids: Sequence[tuple[int, int]] = (),
        preview_size: int | None = None,
        full_budget_ms: float | None = FULL_BUDGET_MS,
        settle_s: float = 0.08,
        threads: int | None = None,
    ):
        import ipywidgets as W

        self.mixer, self.controls, self.apply, self.title = mixer, list(controls), apply, title
        self.panel_still = panel_still
        self.fixed_preview = preview_size
        self.threads = threads or render_threads()
        self.requested_size = mixer.size
        self.full_ms = float("inf")  # time of the last full render, to size the previews
        self.cache = FrameCache()
        self.axes = [axis(c) for c in self.controls]
        self.grids = list(grids)
        self.current: tuple[str, Frame] | None = None  # the kernel's current state and its frame
        self.picture: bytes | None = None  # the last full picture shown (JPEG), for the still
        self.renderer: LatestOnly | None = None
        self._state = self.state()
        self._moved: tuple[int, int] | None = None
        self._plan = None
        with _threads(self.threads):  # the first picture, before the cell ends (and in the saved still)
            if full_budget_ms is not None:
                self._fit_size(full_budget_ms)
            self._draw(preview=False)
        self.ahead = mixer.fork()  # renders ahead without touching ``mixer``'s mixture
        h, w = mixer.content.shape[-2:]
        self.image = frame_picture_class()(controls=self.controls, width=w, height=h)
        self.image.on_msg(self._on_browser)
        offline = W.HTML(_CSS + OFFLINE_HINT)
        offline.add_class("cinlab-offline")
        _LAST_USED[0] = weakref.ref(self)  # the newest widget renders ahead first
        self.renderer = LatestOnly(
            self._draw, settle_s=settle_s, threads=self.threads, background=self._render_ahead, start=False
        )
        self.renderer.start()  # (its threads use ``self.renderer``)
        for control in self.controls:
            control.observe(self._changed, names="value")
        left = [panel] if panel is not None else []
        self.widget = W.VBox([W.HBox([W.VBox(left + self.controls), self.image]), offline])

    def _changed(self, _change=None) -> None:
        _LAST_USED[0] = weakref.ref(self)
        self.renderer.request()

    @property
    def rendering_ahead(self) -> bool:
        """Whether this widget may render ahead: only the one last used (or made) does, so that
        a notebook's other widgets leave the cores to it; the others resume when used."""
        return _LAST_USED[0] is not None and _LAST_USED[0]() is self

    # ------------------------------------------------------------------ states

    def state(self) -> tuple:
        """The controls' state now (see :func:`cinlab.live.control_state`)."""
        return tuple(control_state(c) for c in self.controls)

    def values(self, state: tuple) -> list:
        """What ``apply`` gets for ``state``: a slider's value, a selection's option value."""
        return [c._options_values[x] if is_selection(c) else x for c, x in zip(self.controls, state)]

    @property
    def preview_size(self) -> int | None:
        """The shorter side of the next preview in px, or None for no preview (the full picture
        renders within ``PREVIEW_BUDGET_MS``). Follows the last full render's time."""
        if self.fixed_preview is not None:
            return self.fixed_preview
        return preview_side(self.mixer.size, self.full_ms)

    @property
    def caption(self) -> str:
        """The line under the current picture, or the message shown instead of one."""
        if self.current is None:
            return ""
        frame = self.current[1]
        return f"Nothing to show: {frame.error}" if frame.error else frame.caption

    @property
    def description(self) -> str:
        return self.caption.split(" — ")[0]

    # ------------------------------------------------------------------ drawing

    def _fit_size(self, budget_ms: float) -> None:
        """Draw the full picture smaller where ``mixer.size`` renders slower than ``budget_ms``
        (see ``FULL_BUDGET_MS``): timed at the asked size, then, if smaller, once more."""
        for _ in range(2):  # at the asked size, then (if smaller) at the new one
            self.mixer.render()
            ms = self.mixer.last_ms
            if ms < 3 * budget_ms:  # the first render of a size also warms up: near the budget, time it again
                self.mixer.render()
                ms = min(ms, self.mixer.last_ms)
            self.full_ms = ms
            side = full_side(self.mixer.size, self.mixer.size, ms, budget_ms)
            if side >= self.mixer.size:
                return
            self.mixer.resize(side)

    def _render(
        self, mixer: StyleMixer, state: tuple, *, full: bool, cancelled: Callable[[], bool] | None = None
    ) -> Frame:
        """Render ``state`` with ``mixer``: the full picture or a preview; kept in ``cache``.
        ``cancelled`` may stop the render (:meth:`StyleMixer.render`)."""
        try:
            description = self.apply(mixer, self.values(state))
        except ValueError as error:  # e.g. all weights zero: say so instead of a picture
            frame = Frame(None, True, error=str(error))
        else:
            size = None if full else self.preview_size
            out = mixer.render(size, cancelled=cancelled)
            if size is None:
                self.full_ms = mixer.last_ms
            h, w = out.shape[-2:]
            what = f"{w}×{h} px" if size is None else f"preview {w}×{h} px"
            frame = Frame(
                mixer.encode(out, quality=90 if size is None else 80),
                size is None,
                f"{description} — {what}, {mixer.last_ms:.0f} ms per render",
            )
        self.cache.put(state_key(state), frame)
        return frame

    def _draw(self, preview: bool) -> None:
        """Show the controls' current state: from the cache, else rendered (a preview, or the
        full picture; a preview is skipped where the full picture fits the preview budget)."""
        state = self.state()
        if state != self._state:
            changed = [i for i, (a, b) in enumerate(zip(state, self._state)) if a != b]
            if len(changed) == 1:  # the control that moved, and which way: rendered ahead first
                i = changed[0]
                self._moved = (
                    (i, 1 if self.axes[i].index(state[i]) > self.axes[i].index(self._state[i]) else -1)
                    if state[i] in self.axes[i] and self._state[i] in self.axes[i]
                    else None
                )
            self._state, self._plan = state, None
        key = state_key(state)
        full = not preview or self.preview_size is None
        frame = self.cache.get(key)
        sent = frame is not None  # every frame in the cache has gone to the browser
        if frame is None or (full and not frame.full):
            sent = False
            try:
                # a full render stops as soon as the controls move again (previews are short: they finish)
                cancelled = self.renderer.pending if (self.renderer is not None and not preview) else None
                frame = self._render(self.mixer, state, full=full, cancelled=cancelled)
            except RenderCancelled:
                raise
            except Exception as error:
                self._show(key, Frame(None, True, error=f"the render failed: {error!r}"))
                raise
        self._show(key, frame, sent=sent)

    def _show(self, key: str, frame: Frame, *, sent: bool = False) -> None:
        """Make ``frame`` the current picture; ``sent``: the browser has it already (a name is enough)."""
        if self.current is not None and self.current[0] == key and self.current[1] is frame:
            return  # already on screen
        self.current = (key, frame)
        if frame.jpeg is not None and frame.full:
            self.picture = frame.jpeg  # for the still picture
        if self.renderer is not None:  # (the first picture goes when the browser asks: ``_on_browser``)
            self.image.send_frame(key, frame, live=True, bytes=not sent)

    def _render_ahead(self) -> bool:
        """Render the next state of the prefetch plan that is not in the cache and send it to
        the browser; False when the plan is done or another widget is in use (see
        :func:`cinlab.live.prefetch_plan` and :attr:`rendering_ahead`)."""
        if not self.rendering_ahead:
            return False
        if self._plan is None:
            self._plan = prefetch_plan(
                self._state, self.axes, previews=self.preview_size is not None, moved=self._moved, grids=self.grids
            )
        for state, full in self._plan:
            key = state_key(state)
            if self.cache.has(key, full):
                continue
            frame = self._render(
                self.ahead, state, full=full, cancelled=lambda: self.renderer.pending() or not self.rendering_ahead
            )
            self.image.send_frame(key, frame, live=False)
            return True
        return False

    def _on_browser(self, _widget, content, _buffers) -> None:
        """A view opened in the browser (first display, a page reload): send it every frame. A
        view was named a frame it no longer has: send its bytes."""
        if content.get("kind") == "ready":
            for key, frame in self.cache.items():
                self.image.send_frame(key, frame, live=False)
            if self.current is not None:
                self.image.send_frame(*self.current, live=True)
        elif content.get("kind") == "missing":
            key = content.get("key")
            frame = self.cache.get(key)
            if frame is not None:
                self.image.send_frame(key, frame, live=self.current is not None and self.current[0] == key)
            elif self.renderer is not None:
                self.cache.clear()  # out of step with the browser: start again from the current state
                self.renderer.request()

    # ------------------------------------------------------------------ without a kernel

    def still(self) -> Image.Image:
        """A still picture of the widget for saved notebooks: the panel picture (if any) and the
        current picture, with the line "live widget: run this cell" and the current mixture."""
        h, w = self.mixer.content.shape[-2:]
        picture = (
            Image.open(io.BytesIO(self.picture)).convert("RGB")
            if self.picture
            else Image.new("RGB", (w, h), (230, 230, 230))
        )
        panel = self.panel_still() if self.panel_still is not None else None
        parts = [panel, picture] if panel is not None else [picture]
        width = sum(p.width for p in parts) + 8 * (len(parts) - 1)
        height = max(p.height for p in parts)
        caption = 40
        img = Image.new("RGB", (max(width, 360), height + caption), (255, 255, 255))
        x = 0
        for part in parts:
            img.paste(part, (x, 0))
            x += part.width + 8
        draw = ImageDraw.Draw(img)
        draw.text((2, height + 4), STILL_CAPTION, fill=(164, 0, 0), font=_font(14))
        draw.text((2, height + 23), f"{self.title}: {self.description}"[:110], fill=(60, 60, 60), font=_font(11))
        return img

    def _repr_mimebundle_(self, **kwargs):
        """The live widget where a kernel and a widget manager run; elsewhere (untrusted, static
        viewers, no kernel) a still JPEG and a line of text."""
        data = self.widget._repr_mimebundle_(**kwargs)
        still = self.still()
        buffer = io.BytesIO()
        still.save(buffer, format="JPEG", quality=80)
        data["image/jpeg"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        data["text/plain"] = f"{STILL_CAPTION} ({self.title}: {self.description})"
        return data, {"image/jpeg": {"width": still.width, "height": still.height}}

    def close(self) -> None:
        """Stop the render thread and remove the widget from the page."""
        self.renderer.close()
        self.widget.close()


_LAST_USED: list = [None]  # a weak reference to the live widget last used or made


class _threads:
    """``with _threads(n):`` torch uses ``n`` threads in this thread, then its old number again."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


# ----------------------------------------------------------------------------- the four widgets


def _style_options(model: TransformerNet):
    return [(f"{i}: {name}", i) for i, name in enumerate(model.style_names)]


def _percent(weights: torch.Tensor, names: Sequence[str]) -> str:
    return ", ".join(f"{names[i]} {100 * float(weights[i]):.0f} %" for i in weights.nonzero().flatten().tolist())


def two_style_slider(
    model: TransformerNet, content: ImageSource, a: int = 0, b: int = 1, *, size: int = 256, **options
) -> LiveMixer:
    """Two style pickers and an alpha slider: (1 - alpha) A + alpha B.

    ``options`` go to :class:`LiveMixer` (``preview_size``, ``settle_s``, ``threads``).
    """
    import ipywidgets as W

    mixer = StyleMixer(model, content, size=size)
    pick_a = W.Dropdown(options=_style_options(model), value=a, description="A")
    pick_b = W.Dropdown(options=_style_options(model), value=b, description="B")
    alpha = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="alpha")

    def apply(mixer, values):
        a, b, alpha = values
        mixer.set_pair(a, b, alpha)
        return _percent(mixer.weights, model.style_names)

    live = LiveMixer(mixer, [pick_a, pick_b, alpha], apply, title="two styles", **options)
    live.pick_a, live.pick_b, live.alpha = pick_a, pick_b, alpha
    return live


def weight_sliders(
    model: TransformerNet, content: ImageSource, styles: Sequence[int] | None = None, *, size: int = 256, **options
) -> LiveMixer:
    """One weight slider per style (default: the first six); weights normalised to sum to 1."""
    import ipywidgets as W

    mixer = StyleMixer(model, content, size=size)
    styles = list(styles) if styles is not None else list(range(min(6, model.num_styles)))
    sliders = [
        W.FloatSlider(value=1.0 if i == 0 else 0.0, min=0.0, max=1.0, step=0.05, description=model.style_names[s][:14])
        for i, s in enumerate(styles)
    ]

    def apply(mixer, values):
        raw = torch.zeros(model.num_styles)
        for s, value in zip(styles, values):
            raw[s] = value
        if raw.sum() <= 0:
            raise ValueError(f"all {len(sliders)} weights are 0, so there is no mixture; raise at least one slider.")
        mixer.set_weights(raw)
        return _percent(mixer.weights, model.style_names)

    live = LiveMixer(mixer, sliders, apply, title="weights", **options)
    live.sliders = sliders
    return live


def style_pad(
    model: TransformerNet, content: ImageSource, corners: Sequence[int] = (0, 1, 2, 3), *, size: int = 256, **options
) -> LiveMixer:
    """A 2-D pad: click or drag in it to blend four corner styles bilinearly.

    The pad is a picture with the four paintings at its corners; pointer events come from
    ipyevents. The two sliders under it move the same point and are the keyboard's way.
    """
    import ipywidgets as W
    from ipyevents import Event

    mixer = StyleMixer(model, content, size=size)
    names = [model.style_names[c] for c in corners]
    thumbnails = corner_thumbnails(names)
    u = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=PAD_STEP, description="left-right")
    v = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=PAD_STEP, description="top-bottom")
    pad = W.Image(format="jpeg", layout=W.Layout(width=f"{PAD_SIZE}px", height=f"{PAD_SIZE}px"))
    pad.add_class("cinlab-pad")

    drawing = [True]
    made: list[LiveMixer] = []  # the widget, once made

    def draw_pad(_=None):
        if not drawing[0]:
            return
        buffer = io.BytesIO()
        pad_picture(u.value, v.value, names, thumbnails).save(buffer, format="JPEG", quality=90)
        pad.value = buffer.getvalue()

    def on_pointer(event):  # a press, or a move with the (left) button down: put the point there
        if event["type"] in ("mousedown", "mouseup", "mouseleave"):  # moves are watched only while pressed
            moves.watched_events = ["mousemove"] if event["type"] == "mousedown" else []
        if event["type"] == "mousedown" or (event["type"] == "mousemove" and event.get("buttons", 0) & 1):
            point = [round(round(p / PAD_STEP) * PAD_STEP, 4) for p in pad_uv(event["dataX"], event["dataY"])]
            if point != [u.value, v.value]:
                if made:  # the browser shows the new point's picture now (if it has it), not u's move then v's
                    made[0].image.show_state(state_key(tuple(point)))
                drawing[0] = False  # the pad picture once for both coordinates, after they have gone to the browser
                u.value, v.value = point
                drawing[0] = True
                draw_pad()

    def apply(mixer, values):
        mixer.set_pad(corners, *values)
        return _percent(mixer.weights, model.style_names)

    draw_pad()
    u.observe(draw_pad, names="value")
    v.observe(draw_pad, names="value")
    # Every event is a message the kernel handles (~30-50 ms each on 2 busy cores), in order: so
    # moves are watched only while the button is down (hovering would queue messages before a
    # click) and at most every 50 ms. prevent_default_action: no native image drag, so moves keep
    # coming while the button is down.
    presses = Event(source=pad, watched_events=["mousedown", "mouseup", "mouseleave"], prevent_default_action=True)
    moves = Event(source=pad, watched_events=[], prevent_default_action=True, throttle_or_debounce="throttle", wait=50)
    events = [presses, moves]
    for source in events:
        source.on_dom_event(on_pointer)
    legend = W.HTML("<small>Click or drag in the square; the sliders move the same point.</small>")
    live = LiveMixer(
        mixer,
        [u, v],
        apply,
        title="2-D pad",
        panel=W.VBox([pad, legend]),
        grids=[(0, 1)],
        panel_still=lambda: pad_picture(u.value, v.value, names, thumbnails),
        **options,
    )
    live.u, live.v, live.pad, live.pad_events, live.on_pointer = u, v, pad, events, on_pointer
    made.append(live)
    return live


def spatial_blend(
    model: TransformerNet, content: ImageSource, a: int = 0, b: int = 1, *, size: int = 256, **options
) -> LiveMixer:
    """Style A in one region, style B in the other, with a movable, softenable boundary."""
    import ipywidgets as W

    mixer = StyleMixer(model, content, size=size)
    pick_a = W.Dropdown(options=_style_options(model), value=a, description="A")
    pick_b = W.Dropdown(options=_style_options(model), value=b, description="B")
    kind = W.ToggleButtons(
        options=["horizontal", "vertical", "circle"],
        value="horizontal",
        description="split",
        style={"button_width": "88px"},
    )
    position = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="position")
    softness = W.FloatSlider(value=0.15, min=0.01, max=0.5, step=0.01, description="softness")

    def apply(mixer, values):
        a, b, split, where, soft = values
        mixer.set_spatial(a, b, split, where, soft)
        sides = {"horizontal": "left | right", "vertical": "top / bottom", "circle": "outside / inside"}[split]
        return f"{model.style_names[a]} {sides} {model.style_names[b]}"

    live = LiveMixer(mixer, [pick_a, pick_b, kind, position, softness], apply, title="spatial blend", **options)
    live.pick_a, live.pick_b, live.kind, live.position, live.softness = pick_a, pick_b, kind, position, softness
    return live
