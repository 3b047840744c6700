"""Render one photo under any mixture of a network's styles: the headless half of the live widgets.

:class:`StyleMixer` holds a network and a photo; its ``set_*`` methods choose a mixture (two
styles, any weights, a point of the 2-D pad, a spatial split) and :meth:`StyleMixer.render`
draws the photo under it, at full size or as a smaller preview, and can stop part-way when the
picture is no longer wanted. It has no UI: :mod:`cinlab.widgets` wraps it in ipywidgets, and
notebooks and tests use it directly.

A mixture is passed to the network as a :class:`~cinlab.style.StyleCondition` over only the
styles it uses (``rows``), so the network is never modified and a mixture of two of 32 styles
costs two rows.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from . import style as styles
from .hardware import choose_precision, module_device
from .images import ImageSource, encode_image, load_image, resize
from .live import RenderCancelled
from .model import TransformerNet
from .style import StyleCondition


# A render in progress in this thread: the function that says whether to stop (see ``_stop_if_cancelled``).
_RENDERING = threading.local()
_HOOKED: "weakref.WeakSet[torch.nn.Module]" = weakref.WeakSet()
_HOOK_LOCK = threading.Lock()


def _stop_if_cancelled(layer, inputs) -> None:
    cancelled = getattr(_RENDERING, "cancelled", None)
    if cancelled is not None and cancelled():
        raise RenderCancelled()


def _hook_cancellation(net: TransformerNet) -> None:
    """Ask before every conv layer of ``net`` whether the render of this thread is still wanted.

    The hooks do nothing outside :meth:`StyleMixer.render` (they read a thread-local that only a
    render sets), so the network behaves as before everywhere else; they are added once per layer.
    """
    with _HOOK_LOCK:
        for layer in net.conv_layers():  # where a render can stop
            if layer not in _HOOKED:
                layer.register_forward_pre_hook(_stop_if_cancelled)
                _HOOKED.add(layer)


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

    The mixer renders with ``model`` itself and never changes its parameters. One render at a
    time per mixer; :meth:`fork` makes a second one for another thread.
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
        _hook_cancellation(model)
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

    def condition(self, size: tuple[int, int] | None = None) -> StyleCondition:
        """The current mixture as the network's condition, over the styles it uses only (``rows``).

        ``size`` (H, W): the picture's size, to which spatial weights are resized (default: the photo's).

        Spatial mixing costs, per layer, a multiply-add per style for every channel and pixel
        (``einsum("bnhw,nc->bchw")``): a split of two of 32 styles on all 32 rows would cost 16
        times what it needs. Measured on 2 CPU cores, one thread: spatial over plain mixing
        +20-25 % with all 32 styles, +7-14 % with the two in use (``benchmarks/widget.py``).
        """
        if self.spatial is None:
            used = self.weights.nonzero().flatten()
            return StyleCondition("weights", self.weights[used][None].to(self.device), used.to(self.device))
        used = (self.spatial.amax(dim=(0, 2, 3)) > 0).nonzero().flatten()
        weights = self.spatial[:, used]
        if size is not None and tuple(weights.shape[-2:]) != tuple(size):
            weights = F.interpolate(weights, size=tuple(size), mode="bilinear", align_corners=False)
        return StyleCondition("spatial", weights.to(self.device), used.to(self.device))

    @torch.inference_mode()
    def render(self, size: int | None = None, *, cancelled: Callable[[], bool] | None = None) -> torch.Tensor:
        """The photo under the current mixture: [1, 3, H, W] float32 in [0, 1] (CPU).

        ``size`` (shorter side in px) renders a preview smaller than the full picture: the
        forward pass costs about in proportion to the pixels. ``cancelled`` is asked before
        every conv layer; once it returns True the render stops with :class:`RenderCancelled` (a
        live widget drops a full-quality render as soon as the controls move again).
        """
        start = time.perf_counter()
        content = self.content_at(size)
        condition = self.condition(content.shape[-2:])
        outer = getattr(_RENDERING, "cancelled", None)
        _RENDERING.cancelled = cancelled
        try:
            with self.precision.autocast():
                out = self.model(content, condition, check=False)
        finally:
            _RENDERING.cancelled = outer
        out = out.float().cpu()
        self.last_ms = (time.perf_counter() - start) * 1000
        return out

    def fork(self) -> "StyleMixer":
        """A second mixer of the same network and photo with its own mixture (no copy of either):
        a live widget renders ahead with it, in another thread, while this one draws what is on screen."""
        twin = StyleMixer(self.model, self.content, size=self.size)
        twin.precision = self.precision
        return twin

    def resize(self, size: int) -> None:
        """Make ``size`` (shorter side, px, at most the photo's loaded size) the full picture's size."""
        self.content = self.content_at(size)
        self.size = size

    @staticmethod
    def encode(image: torch.Tensor, fmt: str = "jpeg", quality: int = 90) -> bytes:
        """An image [1, 3, H, W] as JPEG (``quality``, 90 by default) or PNG bytes."""
        return encode_image(image, fmt.upper(), **({"quality": quality} if fmt == "jpeg" else {}))
