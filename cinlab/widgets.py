"""Live style mixing in Jupyter: ipywidgets that redraw a photo while a student moves the controls.

:func:`two_style_slider` (Fig 1b, live), :func:`weight_sliders`, :func:`style_pad` (Fig 7 left,
live: click or drag between four paintings) and :func:`spatial_blend` each return a
:class:`LiveMixer`: its ``controls`` by name, its picture, and the headless
:class:`~cinlab.mixer.StyleMixer` that renders it. How a change becomes a picture at once (the
browser keeps pictures rendered ahead; a preview, then the full picture) and how large the
pictures are (:class:`~cinlab.live.Sizing`) is :mod:`cinlab.live`. A cell that shows a widget also
saves a still picture with the line "live widget: run this cell", which is what a reader without
a kernel sees (:meth:`LiveMixer.outputs`).

(Longer than the other modules, on purpose: the live widget and its four factories are one feature.)
"""

from __future__ import annotations

import base64
import io
import math
import threading
import weakref
from typing import Callable, Mapping, Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from .images import ImageSource, painting_thumbnail, to_pil
from .live import (
    FULL_BUDGET_MS,
    MIN_PREVIEW,
    PREVIEW_BUDGET_MS,
    Frame,
    FrameCache,
    LatestOnly,
    RenderCancelled,
    Sizing,
    axis,
    control_state,
    is_selection,
    prefetch_plan,
    render_threads,
    state_key,
    widget_classes,
)
from .mixer import StyleMixer
from .model import TransformerNet

__all__ = [
    "FULL_BUDGET_MS",
    "MIN_PREVIEW",
    "PREVIEW_BUDGET_MS",
    "LatestOnly",
    "LiveMixer",
    "RenderCancelled",
    "StyleMixer",
    "corner_thumbnails",
    "pad_picture",
    "pad_point",
    "pad_uv",
    "snap",
    "spatial_blend",
    "style_pad",
    "two_style_slider",
    "weight_sliders",
]


# ----------------------------------------------------------------------------- the 2-D pad's picture

#: Sizes of the pad picture in px: corner thumbnails, the square between them, and the margin
#: inside the square that keeps the dot (radius ``PAD_DOT``) whole at the corners.
PAD_THUMB, PAD_SQUARE, PAD_MARGIN, PAD_DOT = 64, 160, 9, 7
PAD_SIZE = PAD_THUMB + PAD_SQUARE + PAD_THUMB
#: The pad's grid: clicks snap to it, and all its 11 x 11 points are rendered ahead (previews
#: of all of them take ~5 s on 2 CPU cores; a finer grid would leave clicks waiting for the kernel).
PAD_STEP = 0.1
#: The pad's geometry for the browser (``frame_cache.js``: ``padPoint``, ``padUV``, ``snap``).
PAD_GEOMETRY = {
    "size": PAD_SIZE,
    "square_x": PAD_THUMB + PAD_MARGIN,
    "square_y": PAD_THUMB + PAD_MARGIN,
    "span": PAD_SQUARE - 1 - 2 * PAD_MARGIN,
    "dot": PAD_DOT,
    "step": PAD_STEP,
}


def pad_point(u: float, v: float) -> tuple[float, float]:
    """Where the point (u, v) of the unit square is drawn in the pad picture (x, y in px)."""
    span = PAD_SQUARE - 1 - 2 * PAD_MARGIN
    return PAD_THUMB + PAD_MARGIN + u * span, PAD_THUMB + PAD_MARGIN + v * span


def snap(p: float, step: float = PAD_STEP) -> float:
    """``p`` on the grid of ``step`` (half-way rounds up), to 4 decimals: where a press in the pad
    puts the point (``frame_cache.js`` does the same in the browser)."""
    return round(math.floor(p / step + 0.5) * step, 4)


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
    u: float,
    v: float,
    names: Sequence[str] = ("", "", "", ""),
    thumbnails: Sequence[Image.Image | None] | None = None,
    *,
    dot: bool = True,
) -> Image.Image:
    """The pad: a square with a dot at (u, v) (``dot=False``: none; the browser draws its own),
    the four corner paintings (thumbnails, or grey boxes) diagonally outside its corners, and
    their names (TL, TR, BL, BR) between them."""
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
    if not dot:
        return img
    x, y = pad_point(u, v)
    draw.ellipse([x - PAD_DOT, y - PAD_DOT, x + PAD_DOT, y + PAD_DOT], fill=(200, 40, 40), outline=(255, 255, 255))
    return img


# ----------------------------------------------------------------------------- the live widget

# CSS for every live widget. ipywidgets marks a widget whose kernel connection is gone
# (kernel restarted, or a saved copy) with the class ``jupyter-widgets-disconnected``: the
# hint below the picture is shown only then. ``cinlab-stale`` dims a picture that no longer
# matches the controls.
_CSS = """<style>
.cinlab-offline { display: none !important; }
.cinlab-offline.jupyter-widgets-disconnected { display: block !important; color: #a40000; }
.cinlab-stale { opacity: 0.3; }
</style>"""
OFFLINE_HINT = (
    "<b>This widget is not connected to a running kernel</b> (the kernel restarted, or this is a saved copy): "
    "run this cell again; after a restart, run the cells above it first."
)
STILL_CAPTION = "live widget: run this cell to use it"

# The first of a widget cell's three outputs (:meth:`LiveMixer.outputs`): a style sheet that
# JupyterLab applies where the notebook is trusted (and removes, with the rest of its HTML
# styling, where it is not). It hides itself; it hides the still picture (the second output) once
# the live widget (the third) shows a picture from a kernel (its view has the class
# ``cinlab-live``, ``frame_cache.js``); and it hides the third output while it has none: then it
# is "Error displaying widget: model not found" (a saved notebook whose kernel has gone), "Loading
# widget..." or a widget restored from saved state that no kernel answers.
OUTPUTS_CSS = """<style class="cinlab-outputs">
.jp-OutputArea-child:has(.cinlab-outputs) { display: none; }
.jp-OutputArea-child:has(.cinlab-outputs) + .jp-OutputArea-child:has(+ .jp-OutputArea-child .cinlab-live) { display: none; }
.jp-OutputArea-child:has(.cinlab-outputs) + .jp-OutputArea-child + .jp-OutputArea-child:not(:has(.cinlab-live)) { display: none; }
</style>"""


class LiveMixer:
    """A live style-mixing widget: controls and the picture around a :class:`StyleMixer`.

    Args:
        mixer: renders the picture.
        controls: the ipywidgets (sliders, dropdowns, toggle buttons) whose state picks the
            picture, by name (in the order they are shown); a change of any ``value`` draws a new one.
        apply: ``apply(mixer, values)`` sets ``mixer``'s mixture for the controls' ``values``
            (one per control, in order: a slider's value, a selection's option value) and returns
            a short description for the caption, or raises ``ValueError`` when there is nothing
            to show (the message is shown instead, and the old picture dimmed).
        title: what the widget is (for the still picture).
        panel: an optional widget shown above the controls (the 2-D pad), and ``panel_still``
            a function that draws it for :meth:`still`.
        grids: pairs of controls (names) that move together, like the pad's two coordinates:
            every point of their grid is rendered ahead.
        preview_size: shorter side of the previews in px (default: chosen by ``sizing``, see
            :attr:`preview_size`).
        full_budget_ms: the full picture is the largest, up to ``mixer.size``, that renders in
            this time (default ``FULL_BUDGET_MS``; None: always ``mixer.size``); see
            :class:`~cinlab.live.Sizing`, which ``sizing`` holds.
        settle_s: how long the controls must be still before the full picture is drawn.
        threads: torch threads for the renders (default :func:`~cinlab.live.render_threads`).

    How a change becomes a picture: the browser shows at once any state whose picture it has
    (:mod:`cinlab.live`); the kernel draws the others, a preview and then the full
    picture, and while the controls are still renders ahead the states one step away, then
    whole rows of values (``cache`` holds what it sent).

    ``controls`` (name -> widget), ``panel``, ``image`` (the picture), ``caption``, ``current``
    and ``renderer`` are handles for notebooks and tests. Show it as the last line of a cell (or
    ``display(live)``): the cell gets the widget and its still picture (:meth:`outputs`).
    """

    def __init__(
        self,
        mixer: StyleMixer,
        controls: Mapping[str, object],
        apply: Callable[[StyleMixer, list], str],
        *,
        title: str,
        panel=None,
        panel_still: Callable[[], Image.Image] | None = None,
        grids: Sequence[tuple[str, str]] = (),
        preview_size: int | None = None,
        full_budget_ms: float | None = FULL_BUDGET_MS,
        settle_s: float = 0.08,
        threads: int | None = None,
    ):
        import ipywidgets as W

        self.mixer, self.controls, self.apply, self.title = mixer, dict(controls), apply, title
        self.panel, self.panel_still = panel, panel_still
        self._controls = list(self.controls.values())
        self.fixed_preview = preview_size
        self.sizing = Sizing(full_budget_ms=full_budget_ms)
        self.threads = threads or render_threads()
        self.requested_size = mixer.size
        self.full_ms = float("inf")  # time of the last full render, to size the previews
        self.cache = FrameCache()
        self.axes = [axis(c) for c in self._controls]
        names = list(self.controls)
        self.grids = [(names.index(a), names.index(b)) for a, b in grids]
        self.current: tuple[str, Frame] | None = None  # the kernel's current state and its frame
        self.picture: bytes | None = None  # the last full picture shown (JPEG), for the still
        self.renderer: LatestOnly | None = None
        self._state = self.state()
        self._moved: tuple[int, int] | None = None
        self._plan = None
        self._done_ahead = False  # the prefetch plan of the current state is rendered
        with _threads(self.threads):  # the first picture, before the cell ends (and in the saved still)
            self._fit_size()
            self._draw(preview=False)
        self.ahead = mixer.fork()  # renders ahead without touching ``mixer``'s mixture
        h, w = mixer.content.shape[-2:]
        self.image = widget_classes()["FramePicture"](controls=self._controls, width=w, height=h)
        self.image.on_msg(self._on_browser)
        offline = W.HTML(_CSS + OFFLINE_HINT)
        offline.add_class("cinlab-offline")
        _use(self)  # the newest widget renders ahead first
        self.renderer = LatestOnly(
            self._draw, settle_s=settle_s, threads=self.threads, background=self._render_ahead, start=False
        )
        self.renderer.start()  # (its threads use ``self.renderer``)
        for control in self._controls:
            control.observe(self._changed, names="value")
        left = [panel] if panel is not None else []
        self.widget = W.VBox([W.HBox([W.VBox(left + self._controls), self.image]), offline])

    def _changed(self, _change=None) -> None:
        self._done_ahead = False
        _use(self)
        self.renderer.request()

    @property
    def rendering_ahead(self) -> bool:
        """Whether this widget renders ahead now: one widget at a time, the one used (or made)
        last first, so that it has the cores; once it has rendered its plan the next one does,
        in the order they were used (a first click in a widget not used yet finds its picture
        too). A widget used again takes its turn back at once."""
        return _ahead_turn() is self

    # ------------------------------------------------------------------ states

    def state(self) -> tuple:
        """The controls' state now (see :func:`cinlab.live.control_state`)."""
        return tuple(control_state(c) for c in self._controls)

    def values(self, state: tuple) -> list:
        """What ``apply`` gets for ``state``: a slider's value, a selection's option value."""
        return [c._options_values[x] if is_selection(c) else x for c, x in zip(self._controls, state)]

    @property
    def preview_size(self) -> int | None:
        """The shorter side of the next preview in px, or None for no preview (the full picture
        renders within the preview budget). Follows the last full render's time (``sizing``)."""
        if self.fixed_preview is not None:
            return self.fixed_preview
        return self.sizing.preview(self.mixer.size, self.full_ms)

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

    def _fit_size(self) -> None:
        """Draw the full picture smaller where ``mixer.size`` renders slower than the full budget
        (``sizing``): timed at the asked size, then, if smaller, once more."""
        if self.sizing.full_budget_ms is None:
            return
        for _ in range(2):  # at the asked size, then (if smaller) at the new one
            self.mixer.render()
            ms = self.mixer.last_ms
            if (
                ms < 3 * self.sizing.full_budget_ms
            ):  # the first render of a size also warms up: near the budget, time it again
                self.mixer.render()
                ms = min(ms, self.mixer.last_ms)
            self.full_ms = ms
            side = self.sizing.full(self.mixer.size, self.mixer.size, ms)
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
        self._done_ahead = True
        _hand_over()
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

    def outputs(self) -> list[tuple[dict, dict]]:
        """What a cell that shows this widget outputs, as (data, metadata) pairs, in this order:

        1. :data:`OUTPUTS_CSS` (``text/html``): where the notebook is trusted, it hides itself and
           shows exactly one of the next two: the live widget once a kernel has given it a
           picture, else the still picture;
        2. the still picture (``image/jpeg``, :meth:`still`) with the line "live widget: run this
           cell" as its text: what a saved notebook shows without a kernel (untrusted, reopened
           after the kernel has gone, a static viewer);
        3. the live widget (ipywidgets' ``application/vnd.jupyter.widget-view+json``) with an
           empty text (the still picture already says what it is).
        """
        still = self.still()
        buffer = io.BytesIO()
        still.save(buffer, format="JPEG", quality=80)
        jpeg = base64.b64encode(buffer.getvalue()).decode("ascii")
        live = dict(self.widget._repr_mimebundle_())
        live["text/plain"] = ""
        return [
            ({"text/html": OUTPUTS_CSS}, {}),
            (
                {"image/jpeg": jpeg, "text/plain": f"{STILL_CAPTION} ({self.title}: {self.description})"},
                {"image/jpeg": {"width": still.width, "height": still.height}},
            ),
            (live, {}),
        ]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        for data, metadata in self.outputs():
            display(data, metadata=metadata, raw=True)

    def close(self) -> None:
        """Stop the render thread and remove the widget from the page."""
        self._done_ahead = True
        self.renderer.close()
        self.widget.close()
        _hand_over()


# The live widgets, the one used (or made) last first, as weak references: the first of them with
# work ahead left renders ahead (LiveMixer.rendering_ahead).
_USED: list = []
_USED_LOCK = threading.Lock()


def _use(widget: LiveMixer) -> None:
    with _USED_LOCK:
        _USED[:] = [weakref.ref(widget)] + [r for r in _USED if r() is not None and r() is not widget]


def _ahead_turn() -> LiveMixer | None:
    """The widget whose turn it is to render ahead: the one used last that has work left."""
    with _USED_LOCK:
        widgets = [r() for r in _USED]
    return next((w for w in widgets if w is not None and not w._done_ahead), None)


def _hand_over() -> None:
    """A widget has rendered its plan (or closed): wake the one whose turn it is now."""
    widget = _ahead_turn()
    if widget is not None and widget.renderer is not None:
        widget.renderer.resume_ahead()


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
# Each returns a LiveMixer whose ``controls`` maps names to its ipywidgets; ``options`` go to
# LiveMixer (``preview_size``, ``full_budget_ms``, ``settle_s``, ``threads``).


def _style_options(model: TransformerNet):
    return [(f"{i}: {name}", i) for i, name in enumerate(model.style_names)]


def _percent(weights: torch.Tensor, names: Sequence[str]) -> str:
    return ", ".join(f"{names[i]} {100 * float(weights[i]):.0f} %" for i in weights.nonzero().flatten().tolist())


def two_style_slider(
    model: TransformerNet, content: ImageSource, a: int = 0, b: int = 1, *, size: int = 256, **options
) -> LiveMixer:
    """Two style pickers and an alpha slider: (1 - alpha) A + alpha B. Controls ``"A"``, ``"B"``, ``"alpha"``."""
    import ipywidgets as W

    controls = {
        "A": W.Dropdown(options=_style_options(model), value=a, description="A"),
        "B": W.Dropdown(options=_style_options(model), value=b, description="B"),
        "alpha": W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="alpha"),
    }

    def apply(mixer, values):
        mixer.set_pair(*values)
        return _percent(mixer.weights, model.style_names)

    return LiveMixer(StyleMixer(model, content, size=size), controls, apply, title="two styles", **options)


def weight_sliders(
    model: TransformerNet, content: ImageSource, styles: Sequence[int] | None = None, *, size: int = 256, **options
) -> LiveMixer:
    """One weight slider per style (default: the first six), named by its style; weights
    normalised to sum to 1."""
    import ipywidgets as W

    styles = list(styles) if styles is not None else list(range(min(6, model.num_styles)))
    names = [model.style_names[s] for s in styles]
    names = [n if names.count(n) == 1 else f"{s}: {n}" for s, n in zip(styles, names)]  # unique keys
    controls = {
        name: W.FloatSlider(value=1.0 if i == 0 else 0.0, min=0.0, max=1.0, step=0.05, description=name[:14])
        for i, name in enumerate(names)
    }

    def apply(mixer, values):
        raw = torch.zeros(model.num_styles)
        for s, value in zip(styles, values):
            raw[s] = value
        if raw.sum() <= 0:
            raise ValueError(f"all {len(styles)} weights are 0, so there is no mixture; raise at least one slider.")
        mixer.set_weights(raw)
        return _percent(mixer.weights, model.style_names)

    return LiveMixer(StyleMixer(model, content, size=size), controls, apply, title="weights", **options)


def style_pad(
    model: TransformerNet, content: ImageSource, corners: Sequence[int] = (0, 1, 2, 3), *, size: int = 256, **options
) -> LiveMixer:
    """A 2-D pad: click or drag in it to blend four corner styles bilinearly.

    The pad (``panel``) is a picture with the four paintings at its corners; a press or a drag in
    it moves the two sliders ``"u"`` (left-right) and ``"v"`` (top-bottom) in the browser, which
    shows that point's picture at once where it has it (``frame_cache.js``). The sliders are the
    keyboard's way to move the same point.
    """
    import ipywidgets as W

    names = [model.style_names[c] for c in corners]
    thumbnails = corner_thumbnails(names)
    u = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=PAD_STEP, description="left-right")
    v = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=PAD_STEP, description="top-bottom")
    buffer = io.BytesIO()
    pad_picture(0.5, 0.5, names, thumbnails, dot=False).save(buffer, format="JPEG", quality=90)
    pad = widget_classes()["PointPad"](point=[u, v], background=buffer.getvalue(), geometry=PAD_GEOMETRY)
    pad.add_class("cinlab-pad")
    legend = W.HTML("<small>Click or drag in the square; the sliders move the same point.</small>")

    def apply(mixer, values):
        mixer.set_pad(corners, *values)
        return _percent(mixer.weights, model.style_names)

    return LiveMixer(
        StyleMixer(model, content, size=size),
        {"u": u, "v": v},
        apply,
        title="2-D pad",
        panel=W.VBox([pad, legend]),
        grids=[("u", "v")],
        panel_still=lambda: pad_picture(u.value, v.value, names, thumbnails),
        **options,
    )


def spatial_blend(
    model: TransformerNet, content: ImageSource, a: int = 0, b: int = 1, *, size: int = 256, **options
) -> LiveMixer:
    """Style A in one region, style B in the other, with a movable, softenable boundary.
    Controls ``"A"``, ``"B"``, ``"split"``, ``"position"``, ``"softness"``."""
    import ipywidgets as W

    controls = {
        "A": W.Dropdown(options=_style_options(model), value=a, description="A"),
        "B": W.Dropdown(options=_style_options(model), value=b, description="B"),
        "split": W.ToggleButtons(
            options=["horizontal", "vertical", "circle"],
            value="horizontal",
            description="split",
            style={"button_width": "88px"},
        ),
        "position": W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="position"),
        "softness": W.FloatSlider(value=0.15, min=0.01, max=0.5, step=0.01, description="softness"),
    }

    def apply(mixer, values):
        a, b, split, where, soft = values
        mixer.set_spatial(a, b, split, where, soft)
        sides = {"horizontal": "left | right", "vertical": "top / bottom", "circle": "outside / inside"}[split]
        return f"{model.style_names[a]} {sides} {model.style_names[b]}"

    return LiveMixer(StyleMixer(model, content, size=size), controls, apply, title="spatial blend", **options)
