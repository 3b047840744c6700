"""Interactive style mixing in Jupyter (ipywidgets), and the logic behind it.

:class:`StyleMixer` holds a network and a photo and renders the photo under any mixture of the
network's styles; it has no UI and is what the tests exercise. The functions below wrap it in
ipywidgets:

- :func:`two_style_slider`: one slider from style A to style B (Fig 1b, live);
- :func:`weight_sliders`: one slider per style, weights normalised to sum to 1;
- :func:`style_pad`: a 2-D pad whose corners are four styles (Fig 7 left, live);
- :func:`spatial_blend`: different styles in different regions of one picture.

Each update renders a preview (256 px by default) with one forward pass (see
``benchmarks/widget.py`` for its latency).
"""

from __future__ import annotations

import io
import time
from typing import Callable, Sequence

import torch
from PIL import Image, ImageDraw

from . import style as styles
from .hardware import choose_precision, module_device
from .images import ImageSource, encode_image, load_image
from .model import TransformerNet
from .style import StyleCondition


class StyleMixer:
    """Render one photo under mixtures of a network's styles.

    Args:
        model: a trained :class:`TransformerNet` with conditional instance norm.
        content: the photo (anything :func:`cinlab.load_image` accepts).
        size: shorter side of the preview in px.
        precision: "auto" (bfloat16 or float16 where native, see :func:`cinlab.hardware.choose_precision`) or "float32".

    ``weights`` (float [N]) is the current mixture; every ``set_*`` method changes it and
    :meth:`render` returns the image [1, 3, H, W] in [0, 1]. ``last_ms`` is the time of the
    last render (forward pass only); :meth:`encode` turns an image into JPEG/PNG bytes for an
    ``ipywidgets.Image``.
    """

    def __init__(self, model: TransformerNet, content: ImageSource, *, size: int = 256, precision: str | torch.dtype = "auto"):
        if model.config.norm != "cin":
            raise ValueError("Style mixing needs a conditional instance norm network (norm='cin').")
        self.model = model.eval()
        self.device = module_device(model)
        self.precision = choose_precision(self.device, precision)
        self.content = load_image(content, size, device=self.device)
        if self.device.type == "cpu":
            self.content = self.content.contiguous(memory_format=torch.channels_last)
            self.model = self.model.to(memory_format=torch.channels_last)
        self.num_styles = model.num_styles
        self.weights = styles.mixture_weights({0: 1.0}, self.num_styles)
        self.spatial: torch.Tensor | None = None
        self.last_ms = 0.0

    # ------------------------------------------------------------------ setting the mixture

    def set_weights(self, weights: Sequence[float] | torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Any non-negative weights [N] (normalised to sum to 1 unless ``normalize=False``)."""
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
        boundary (0-1) and ``softness`` widens the blend."""
        h, w = self.content.shape[-2:]
        mixture = styles.spatial_split(a, b, h, w, kind, position, softness)
        self.spatial = styles.mixture_weights(mixture, self.num_styles, self.model.style_names)[None]
        return self.spatial

    # ------------------------------------------------------------------ rendering

    @torch.inference_mode()
    def render(self) -> torch.Tensor:
        """The photo under the current mixture: [1, 3, H, W] float32 in [0, 1] (CPU)."""
        start = time.perf_counter()
        if self.spatial is not None:
            condition = StyleCondition("spatial", self.spatial.to(self.device))
        else:
            condition = StyleCondition("weights", self.weights.to(self.device)[None])
        with self.precision.autocast():
            out = self.model(self.content, condition, check=False)
        out = out.float().cpu()
        self.last_ms = (time.perf_counter() - start) * 1000
        return out

    @staticmethod
    def encode(image: torch.Tensor, fmt: str = "jpeg") -> bytes:
        """An image [1, 3, H, W] as JPEG (quality 90) or PNG bytes."""
        return encode_image(image, fmt.upper(), **({"quality": 90} if fmt == "jpeg" else {}))

    def mixed_affine(self, layer: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The (gamma, beta) the current (non-spatial) mixture gives one CIN layer: [C] each."""
        norm = self.model.norm_layers()[layer]
        w = self.weights.to(norm.gamma.device)
        return w @ norm.gamma, w @ norm.beta


# ----------------------------------------------------------------------------- ipywidgets UIs


def _ui(mixer: StyleMixer, controls, update: Callable[[], None], title: str):
    import ipywidgets as W

    image = W.Image(format="jpeg")
    status = W.HTML()

    def refresh(_=None):
        update()
        out = mixer.render()
        image.value = mixer.encode(out)
        status.value = f"<small>{title}: {mixer.last_ms:.0f} ms per render at {out.shape[-1]}x{out.shape[-2]} px</small>"

    for control in controls:
        control.observe(refresh, names="value")
    refresh()
    box = W.VBox([W.HBox(controls) if len(controls) <= 3 else W.VBox(controls), image, status])
    box.mixer, box.image, box.refresh = mixer, image, refresh  # handles for tests and notebooks
    return box


def _style_options(model: TransformerNet):
    return [(f"{i}: {name}", i) for i, name in enumerate(model.style_names)]


def two_style_slider(model: TransformerNet, content: ImageSource, a: int = 0, b: int = 1, *, size: int = 256):
    """Two style pickers and an alpha slider: (1 - alpha) A + alpha B."""
    import ipywidgets as W

    mixer = StyleMixer(model, content, size=size)
    pick_a = W.Dropdown(options=_style_options(model), value=a, description="A")
    pick_b = W.Dropdown(options=_style_options(model), value=b, description="B")
    alpha = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="alpha", continuous_update=True)
    box = _ui(mixer, [pick_a, pick_b, alpha], lambda: mixer.set_pair(pick_a.value, pick_b.value, alpha.value), "two styles")
    box.alpha = alpha
    return box


def weight_sliders(model: TransformerNet, content: ImageSource, styles: Sequence[int] | None = None, *, size: int = 256):
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
        if raw.sum() <= 0:  # all sliders at zero: keep the previous mixture rather than fail
            return
        mixer.set_weights(raw)

    box = _ui(mixer, sliders, update, "weights")
    box.sliders = sliders
    return box


def pad_picture(u: float, v: float, size: int = 96) -> bytes:
    """A small square with a dot at (u, v): the 2-D pad's indicator (PNG bytes)."""
    img = Image.new("RGB", (size, size), (245, 245, 245))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, size - 1, size - 1], outline=(120, 120, 120))
    x, y = u * (size - 1), v * (size - 1)
    draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=(200, 40, 40))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def style_pad(model: TransformerNet, content: ImageSource, corners: Sequence[int] = (0, 1, 2, 3), *, size: int = 256):
    """A 2-D pad: (u, v) in the unit square blends four corner styles bilinearly."""
    import ipywidgets as W

    mixer = StyleMixer(model, content, size=size)
    u = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="left-right")
    v = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="top-bottom")
    names = [model.style_names[c] for c in corners]
    pad = W.Image(format="png", width=96, height=96)

    def update():
        mixer.set_pad(corners, u.value, v.value)
        pad.value = pad_picture(u.value, v.value)

    box = _ui(mixer, [u, v], update, "2-D pad")
    legend = W.HTML(f"<small>corners: top-left {names[0]}, top-right {names[1]}, bottom-left {names[2]}, bottom-right {names[3]}</small>")
    box.children = (W.HBox([pad, W.VBox([u, v, legend])]),) + box.children[1:]
    box.u, box.v = u, v
    return box


def spatial_blend(model: TransformerNet, content: ImageSource, a: int = 0, b: int = 1, *, size: int = 256):
    """Style A in one region, style B in the other, with a movable, softenable boundary."""
    import ipywidgets as W

    mixer = StyleMixer(model, content, size=size)
    pick_a = W.Dropdown(options=_style_options(model), value=a, description="A")
    pick_b = W.Dropdown(options=_style_options(model), value=b, description="B")
    kind = W.ToggleButtons(options=["horizontal", "vertical", "circle"], value="horizontal", description="split")
    position = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="position")
    softness = W.FloatSlider(value=0.15, min=0.01, max=0.5, step=0.01, description="softness")
    box = _ui(
        mixer,
        [pick_a, pick_b, kind, position, softness],
        lambda: mixer.set_spatial(pick_a.value, pick_b.value, kind.value, position.value, softness.value),
        "spatial blend",
    )
    box.position = position
    return box
