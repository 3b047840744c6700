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

1. A control's callback only *requests* a picture and returns, so the kernel is free to take
   the next change at once (:class:`LatestOnly`).
2. A worker thread renders the newest state: a small **preview** as soon as it is free, then
   the **full** picture once the controls have been still for ``settle_s`` (80 ms). The
   preview is as large as fits ``PREVIEW_BUDGET_MS`` (50 ms), judged from the last full
   render: the forward pass costs in proportion to the pixels. Changes that arrive during a
   render are merged into the next one; stale pictures are never queued.
3. The picture is a JPEG shown at its own pixel size (a preview is drawn into the same box), so
   the browser never stretches it.
4. On a CPU the worker uses half the cores (one of two): the browser, the Jupyter server and
   the kernel's own thread need the other one, and two threads fighting for one core are slower
   than one thread alone.

Without a kernel (a saved notebook, untrusted, or on a static viewer) a widget cell shows a
still picture of the widget and the line "live widget: run this cell" (:meth:`LiveMixer.still`);
a widget whose kernel has gone (a restart) says so in red under its picture.

(Longer than the other modules, on purpose: the headless :class:`StyleMixer`, the render
scheduling, the pad's picture and the four widgets are one feature, and a change to how a
picture is scheduled or drawn touches all of them together.)
"""

from __future__ import annotations

import base64
import copy
import io
import math
import os
import threading
import time
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from . import style as styles
from .hardware import choose_precision, module_device
from .images import ImageSource, encode_image, load_image, painting_thumbnail, resize, to_pil
from .model import ConvLayer, TransformerNet
from .style import StyleCondition


class RenderCancelled(Exception):
    """A render stopped part-way because its picture was no longer wanted (see :meth:`StyleMixer.render`)."""


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

    def __init__(self, model: TransformerNet, content: ImageSource, *, size: int = 256, precision: str | torch.dtype = "auto"):
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
        self._cancelled: Callable[[], bool] | None = None
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
        return self.set_weights(styles.mixture_weights(styles.interpolate(a, b, alpha), self.num_styles, self.model.style_names), normalize=False)

    def set_pad(self, corners: Sequence[int], u: float, v: float) -> torch.Tensor:
        """A point (u, v) of the unit square whose corners are four styles (TL, TR, BL, BR)."""
        return self.set_weights(styles.mixture_weights(styles.bilinear(corners, u, v), self.num_styles, self.model.style_names), normalize=False)

    def set_spatial(self, a: int, b: int, kind: str = "horizontal", position: float = 0.5, softness: float = 0.15) -> torch.Tensor:
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
        self._cancelled = cancelled
        try:
            with self.precision.autocast():
                out = self._network(content, condition, check=False)
        finally:
            self._cancelled = None
        out = out.float().cpu()
        self.last_ms = (time.perf_counter() - start) * 1000
        return out

    def _stop_if_cancelled(self, layer, inputs) -> None:
        if self._cancelled is not None and self._cancelled():
            raise RenderCancelled()

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


# ----------------------------------------------------------------------------- keeping up with the controls


def render_threads() -> int:
    """Threads for a live render on the CPU: half the cores, at least one
    (``CINLAB_RENDER_THREADS`` overrides it, e.g. to measure).

    On 2 cores the browser, the Jupyter server and the kernel's main thread need one of them
    while the picture renders; a forward pass with 2 threads on a core that is also busy
    waits at every layer for the thread that lost the core (measured: 128 px took 960 ms with
    2 threads against 183 ms with 1 while the browser was busy).
    """
    return int(os.environ.get("CINLAB_RENDER_THREADS") or max(1, (os.cpu_count() or 2) // 2))


class LatestOnly:
    """Draw the newest state in a worker thread, never a stale one.

    Every change of a control calls :meth:`request`, which returns at once. The worker then
    calls ``draw(True)`` (a preview) as soon as it is free, and ``draw(False)`` (the full
    picture) once no request has come for ``settle_s`` seconds. ``draw`` reads the controls
    when it starts, so requests that arrive while it runs are merged into the next draw: during
    a drag the worker draws previews back to back, each of the latest position, and nothing
    queues up behind it. A full draw may stop early with :class:`RenderCancelled` when
    :meth:`pending` says a new request has come (the next preview then starts at once).

    ``threads`` (default :func:`render_threads`) sets ``torch.set_num_threads`` for the worker
    thread (the notebook's own thread keeps its setting; threads started later start with it).
    ``draws`` counts the pictures drawn; :meth:`wait` blocks until the worker has nothing left
    to do (for tests and scripts).
    """

    def __init__(self, draw: Callable[[bool], None], *, settle_s: float = 0.08, threads: int | None = None):
        self.draw = draw
        self.settle_s = settle_s
        self.threads = threads or render_threads()
        self.draws = {"preview": 0, "full": 0, "cancelled": 0}
        self.error: BaseException | None = None  # the last exception ``draw`` raised
        self._cond = threading.Condition()
        self._changed = False
        self._idle = True
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="cinlab-live-render", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """A control changed: draw the new state soon."""
        with self._cond:
            self._changed, self._idle = True, False
            self._cond.notify_all()

    def pending(self) -> bool:
        """Whether a request is waiting (a full picture being drawn is then already stale)."""
        return self._changed

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Block until every request has been drawn at full quality; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._idle or self._closed, timeout)

    def close(self) -> None:
        """Stop the worker (after the draw in progress, if any)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _next_change(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: until there is one) for a request; take it."""
        with self._cond:
            if timeout is None and not self._changed:
                self._idle = True
                self._cond.notify_all()
            self._cond.wait_for(lambda: self._changed or self._closed, timeout)
            changed, self._changed = self._changed, False
            return changed

    def _work(self) -> None:
        torch.set_num_threads(self.threads)
        full_due = False
        while not self._closed:
            if self._next_change(self.settle_s if full_due else None):
                self._draw(preview=True)
                full_due = True
            elif full_due and not self._closed:
                self._draw(preview=False)
                full_due = False

    def _draw(self, preview: bool) -> None:
        try:
            self.draw(preview)
            self.draws["preview" if preview else "full"] += 1
        except RenderCancelled:  # the controls moved again: the next loop draws a preview
            self.draws["cancelled"] += 1
        except Exception as error:  # keep the worker alive; the widget shows its own message
            self.error = error


# ----------------------------------------------------------------------------- the 2-D pad's picture

#: Sizes of the pad picture in px: corner thumbnails, the square between them, and the margin
#: inside the square that keeps the dot (radius ``PAD_DOT``) whole at the corners.
PAD_THUMB, PAD_SQUARE, PAD_MARGIN, PAD_DOT = 64, 160, 9, 7
PAD_SIZE = PAD_THUMB + PAD_SQUARE + PAD_THUMB


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


def pad_picture(u: float, v: float, names: Sequence[str] = ("", "", "", ""), thumbnails: Sequence[Image.Image | None] | None = None) -> Image.Image:
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


def preview_side(size: int, full_ms: float) -> int | None:
    """The shorter side of a preview for a ``size`` px picture whose full render takes
    ``full_ms``; None where the full picture fits ``PREVIEW_BUDGET_MS`` (no preview needed)."""
    if full_ms <= PREVIEW_BUDGET_MS:
        return None
    side = max(MIN_PREVIEW, int(size * math.sqrt(PREVIEW_BUDGET_MS / full_ms)) // 16 * 16)
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
    """A live style-mixing widget: controls, the picture and a status line around a :class:`StyleMixer`.

    Args:
        mixer: renders the picture.
        controls: the ipywidgets whose ``value`` changes trigger a new picture.
        update: reads the controls and sets the mixer's mixture; returns a short description
            for the status line, or raises ``ValueError`` when there is nothing to show (the
            message is shown instead, and the old picture dimmed).
        title: what the widget is (for the status line and the still picture).
        panel: an optional widget shown above the controls (the 2-D pad), and ``panel_still``
            a function that draws it for :meth:`still`.
        preview_size: shorter side of the previews in px (default: chosen to fit
            ``PREVIEW_BUDGET_MS``, see :attr:`preview_size`).
        settle_s: how long the controls must be still before the full picture is drawn.
        threads: torch threads for the renders (default :func:`render_threads`).

    ``widget`` is the ipywidgets box (``display(live.widget)`` or just ``live`` in a cell);
    ``image``, ``status`` and ``renderer`` are handles for tests and notebooks.
    """

    def __init__(self, mixer: StyleMixer, controls: Sequence, update: Callable[[], str], *, title: str,
                 panel=None, panel_still: Callable[[], Image.Image] | None = None,
                 preview_size: int | None = None, settle_s: float = 0.08, threads: int | None = None):
        import ipywidgets as W

        self.mixer, self.controls, self.update, self.title = mixer, list(controls), update, title
        self.panel_still = panel_still
        self.fixed_preview = preview_size
        self.full_ms = float("inf")  # time of the last full render, to size the previews
        self.description = ""
        h, w = mixer.content.shape[-2:]
        # Shown at its own size (a preview is scaled up into the same box); never wider than the page.
        self.image = W.Image(format="jpeg", layout=W.Layout(width=f"{w}px", height=f"{h}px", max_width="100%", object_fit="contain"))
        self.image.add_class("cinlab-picture")
        self.status = W.HTML(layout=W.Layout(max_width=f"{max(w, 320)}px"))
        self.status.add_class("cinlab-status")
        offline = W.HTML(_CSS + OFFLINE_HINT)
        offline.add_class("cinlab-offline")
        self.renderer: LatestOnly | None = None
        self._draw(preview=False)  # the first picture, before the cell ends (and in the saved still)
        self.renderer = LatestOnly(self._draw, settle_s=settle_s, threads=threads)
        for control in self.controls:
            control.observe(lambda _: self.renderer.request(), names="value")
        left = [panel] if panel is not None else []
        self.widget = W.VBox([W.HBox([W.VBox(left + self.controls), W.VBox([self.image, self.status])]), offline])

    # ------------------------------------------------------------------ drawing

    @property
    def preview_size(self) -> int | None:
        """The shorter side of the next preview in px, or None for no preview (the full picture
        renders within ``PREVIEW_BUDGET_MS``). Follows the last full render's time."""
        if self.fixed_preview is not None:
            return self.fixed_preview
        return preview_side(self.mixer.size, self.full_ms)

    def _draw(self, preview: bool) -> None:
        """Read the controls, render (a preview or the full picture) and show it."""
        try:
            self.description = self.update()
        except ValueError as error:  # e.g. all weights zero: say so, and dim the old picture
            self.image.add_class("cinlab-stale")
            self.status.value = f"<span style='color:#a40000'><b>Nothing to show:</b> {error}</span>"
            return
        size = self.preview_size if preview else None
        # a full render stops as soon as the controls move again (previews are short: they finish)
        cancelled = self.renderer.pending if (self.renderer is not None and not preview) else None
        try:
            out = self.mixer.render(size, cancelled=cancelled)
        except RenderCancelled:
            raise
        except Exception as error:
            self.status.value = f"<span style='color:#a40000'><b>Render failed:</b> {error!r}</span>"
            raise
        if size is None:
            self.full_ms = self.mixer.last_ms
        self.image.value = self.mixer.encode(out, quality=80 if size else 90)
        self.image.remove_class("cinlab-stale")
        h, w = out.shape[-2:]
        what = f"preview {w}×{h} px" if size else f"{w}×{h} px"
        self.status.value = f"<small>{self.description} — {what}, {self.mixer.last_ms:.0f} ms per render</small>"

    # ------------------------------------------------------------------ without a kernel

    def still(self) -> Image.Image:
        """A still picture of the widget for saved notebooks: the panel picture (if any) and the
        current picture, with the line "live widget: run this cell" and the current mixture."""
        picture = Image.open(io.BytesIO(self.image.value)).convert("RGB")
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


# ----------------------------------------------------------------------------- the four widgets


def _style_options(model: TransformerNet):
    return [(f"{i}: {name}", i) for i, name in enumerate(model.style_names)]


def _percent(weights: torch.Tensor, names: Sequence[str]) -> str:
    return ", ".join(f"{names[i]} {100 * float(weights[i]):.0f} %" for i in weights.nonzero().flatten().tolist())


def two_style_slider(model: TransformerNet, content: ImageSource, a: int = 0, b: int = 1, *, size: int = 256, **options) -> LiveMixer:
    """Two style pickers and an alpha slider: (1 - alpha) A + alpha B.

    ``options`` go to :class:`LiveMixer` (``preview_size``, ``settle_s``, ``threads``).
    """
    import ipywidgets as W

    mixer = StyleMixer(model, content, size=size)
    pick_a = W.Dropdown(options=_style_options(model), value=a, description="A")
    pick_b = W.Dropdown(options=_style_options(model), value=b, description="B")
    alpha = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="alpha")

    def update():
        mixer.set_pair(pick_a.value, pick_b.value, alpha.value)
        return _percent(mixer.weights, model.style_names)

    live = LiveMixer(mixer, [pick_a, pick_b, alpha], update, title="two styles", **options)
    live.pick_a, live.pick_b, live.alpha = pick_a, pick_b, alpha
    return live


def weight_sliders(model: TransformerNet, content: ImageSource, styles: Sequence[int] | None = None, *, size: int = 256, **options) -> LiveMixer:
    """One weight slider per style (default: the first six); weights normalised to sum to 1."""
    import ipywidgets as W

    mixer = StyleMixer(model, content, size=size)
    styles = list(styles) if styles is not None else list(range(min(6, model.num_styles)))
    sliders = [
        W.FloatSlider(value=1.0 if i == 0 else 0.0, min=0.0, max=1.0, step=0.05, description=model.style_names[s][:14])
        for i, s in enumerate(styles)
    ]

    def update():
        raw = torch.zeros(model.num_styles)
        for s, slider in zip(styles, sliders):
            raw[s] = slider.value
        if raw.sum() <= 0:
            raise ValueError(f"all {len(sliders)} weights are 0, so there is no mixture; raise at least one slider.")
        mixer.set_weights(raw)
        return _percent(mixer.weights, model.style_names)

    live = LiveMixer(mixer, sliders, update, title="weights", **options)
    live.sliders = sliders
    return live


def style_pad(model: TransformerNet, content: ImageSource, corners: Sequence[int] = (0, 1, 2, 3), *, size: int = 256, **options) -> LiveMixer:
    """A 2-D pad: click or drag in it to blend four corner styles bilinearly.

    The pad is a picture with the four paintings at its corners; pointer events come from
    ipyevents. The two sliders under it move the same point and are the keyboard's way.
    """
    import ipywidgets as W
    from ipyevents import Event

    mixer = StyleMixer(model, content, size=size)
    names = [model.style_names[c] for c in corners]
    thumbnails = corner_thumbnails(names)
    u = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.02, description="left-right")
    v = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.02, description="top-bottom")
    pad = W.Image(format="jpeg", layout=W.Layout(width=f"{PAD_SIZE}px", height=f"{PAD_SIZE}px"))
    pad.add_class("cinlab-pad")

    def draw_pad(_=None):
        buffer = io.BytesIO()
        pad_picture(u.value, v.value, names, thumbnails).save(buffer, format="JPEG", quality=90)
        pad.value = buffer.getvalue()

    def on_pointer(event):  # a press, or a move with the (left) button down: put the point there
        if event["type"] == "mousedown" or event.get("buttons", 0) & 1:
            point = pad_uv(event["dataX"], event["dataY"])
            u.value, v.value = (round(p / 0.02) * 0.02 for p in point)

    def update():
        mixer.set_pad(corners, u.value, v.value)
        return _percent(mixer.weights, model.style_names)

    draw_pad()
    u.observe(draw_pad, names="value")
    v.observe(draw_pad, names="value")
    # prevent_default_action: no native image drag, so moves keep coming while the button is down
    events = Event(source=pad, watched_events=["mousedown", "mousemove"], prevent_default_action=True)
    events.on_dom_event(on_pointer)
    legend = W.HTML("<small>Click or drag in the square; the sliders move the same point.</small>")
    live = LiveMixer(mixer, [u, v], update, title="2-D pad", panel=W.VBox([pad, legend]),
                     panel_still=lambda: pad_picture(u.value, v.value, names, thumbnails), **options)
    live.u, live.v, live.pad, live.pad_events, live.on_pointer = u, v, pad, events, on_pointer
    return live


def spatial_blend(model: TransformerNet, content: ImageSource, a: int = 0, b: int = 1, *, size: int = 256, **options) -> LiveMixer:
    """Style A in one region, style B in the other, with a movable, softenable boundary."""
    import ipywidgets as W

    mixer = StyleMixer(model, content, size=size)
    pick_a = W.Dropdown(options=_style_options(model), value=a, description="A")
    pick_b = W.Dropdown(options=_style_options(model), value=b, description="B")
    kind = W.ToggleButtons(options=["horizontal", "vertical", "circle"], value="horizontal", description="split",
                           style={"button_width": "88px"})
    position = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="position")
    softness = W.FloatSlider(value=0.15, min=0.01, max=0.5, step=0.01, description="softness")

    def update():
        mixer.set_spatial(pick_a.value, pick_b.value, kind.value, position.value, softness.value)
        where = {"horizontal": "left | right", "vertical": "top / bottom", "circle": "outside / inside"}[kind.value]
        return f"{model.style_names[pick_a.value]} {where} {model.style_names[pick_b.value]}"

    live = LiveMixer(mixer, [pick_a, pick_b, kind, position, softness], update, title="spatial blend", **options)
    live.pick_a, live.pick_b, live.kind, live.position, live.softness = pick_a, pick_b, kind, position, softness
    return live
