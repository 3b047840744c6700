"""The style transfer network of the paper: one network, N styles, a normaliser passed in.

:class:`TransformerNet` is magenta's ``image_stylization`` network: 9x9 / 3x3 / 3x3 convs down,
five residual blocks, two (nearest-neighbour upsample + 3x3 conv) up, a 9x9 conv and a
sigmoid; reflection padding, no conv biases, a normaliser after every conv. It is built from a
:class:`ModelConfig` (``TransformerNet(config)``, or ``TransformerNet(num_styles=10)``), which a
checkpoint stores and rebuilds it from. The normaliser is a parameter of every
:class:`ConvLayer` (``norm=``, a factory from :data:`cinlab.norms.NORMS`); the paper's is
conditional instance normalisation (:mod:`cinlab.norms`), where a style is its (gamma, beta) rows.

Which style a picture takes is the second argument of ``net(images, style)`` and
``net.stylize(image, style)``: a label, a name, a mixture or a list of them, as
:mod:`cinlab.style` describes.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .hardware import check_same_device, choose_precision, module_device
from .images import load_image
from .memory import check_stylize_memory
from .norms import NORMS, Norm
from .style import StyleCondition, StyleSpec, resolve_style, style_label

#: Smallest input side the network accepts (its three resolutions must stay > 1 pixel for
#: reflection padding at the 1/4-resolution 3x3 convolutions).
MIN_IMAGE_SIZE = 16
#: Limits of a network (a crafted checkpoint, or a typo on the command line, must not make cinlab
#: try to allocate hundreds of GB): styles per network, channel multiplier.
MAX_STYLES = 100_000
MAX_WIDTH = 16.0


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a :class:`TransformerNet`'s architecture; checked when made, saved in checkpoints."""

    num_styles: int = 1  # N: styles the network holds (rows of each normaliser's tables)
    width: float = 1.0  # channel multiplier (magenta's alpha): 1.0 is the paper's network
    norm: str = "cin"  # a name in cinlab.norms.NORMS; "cin" (conditional instance norm) is the paper's
    upsample: str = "nearest"  # "nearest" + conv (the paper) or "transpose" (checkerboards, notebook 4)
    padding: str = "reflect"  # "reflect" (the paper) or "zero" (border artefacts, notebook 4)

    def __post_init__(self):
        n, width = self.num_styles, self.width
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STYLES:
            raise ValueError(f"num_styles must be an integer from 1 to {MAX_STYLES:,}; got {n!r}.")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= MAX_WIDTH:
            raise ValueError(
                f"width must be a number in (0, {MAX_WIDTH:g}] (1.0 is the paper's network, 0.25 a quarter of its "
                f"channels); got {width!r}."
            )
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {sorted(NORMS)} (cinlab.norms.NORMS); got {self.norm!r}.")
        if n != 1 and not NORMS[self.norm].per_style_rows:
            raise ValueError(
                f"norm={self.norm!r} has no per-style parameters: use num_styles=1, or a normaliser with "
                "per-style rows such as 'cin'."
            )
        if self.upsample not in ("nearest", "transpose"):
            raise ValueError(f"upsample must be 'nearest' or 'transpose'; got {self.upsample!r}.")
        if self.padding not in ("reflect", "zero"):
            raise ValueError(f"padding must be 'reflect' or 'zero'; got {self.padding!r}.")

    def channels(self) -> tuple[int, int, int]:
        """Channels of the three resolutions: (32, 64, 128) times ``width``."""
        return tuple(max(1, int(round(c * self.width))) for c in (32, 64, 128))

    def norm_factory(self) -> Callable[[int], nn.Module]:
        """``factory(channels)`` builds this config's normaliser for a layer of that many channels."""
        return functools.partial(NORMS[self.norm], num_styles=self.num_styles)


# ----------------------------------------------------------------------------- layers


class ConvLayer(nn.Module):
    """(Upsampling) + padding + bias-free conv + a normaliser; the activation is the caller's.

    Args:
        cin, cout, kernel, stride: the convolution.
        norm: ``norm(cout)`` builds the normaliser, which is called as ``norm(x, condition)``.
        upsample: ``None``, ``"nearest"`` (x2, then the conv: the paper) or ``"transpose"`` (a
            stride-2 transposed conv, which leaves checkerboards).
        padding: ``"reflect"`` (the paper) or ``"zero"``.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int,
        *,
        norm: Callable[[int], nn.Module],
        upsample: str | None = None,
        padding: str = "reflect",
    ):
        super().__init__()
        self.upsample = upsample == "nearest"
        self.pad = kernel // 2
        self.padding_mode = "reflect" if padding == "reflect" else "constant"
        if upsample == "transpose":
            self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=1, output_padding=1, bias=False)
            self.pad = 0
        else:
            self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, bias=False)
        nn.init.normal_(self.conv.weight, mean=0.0, std=0.01)  # magenta's initialiser
        self.norm = norm(cout)

    def forward(self, x: torch.Tensor, condition: StyleCondition) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode=self.padding_mode)
        return self.norm(self.conv(x), condition)


class ResidualBlock(nn.Module):
    """conv-norm-ReLU-conv-norm, plus the input (no ReLU after the sum), as in magenta."""

    def __init__(self, channels: int, norm: Callable[[int], nn.Module], padding: str):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, 1, norm=norm, padding=padding)
        self.conv2 = ConvLayer(channels, channels, 3, 1, norm=norm, padding=padding)

    def forward(self, x: torch.Tensor, condition: StyleCondition) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x, condition)), condition)


# ----------------------------------------------------------------------------- network


class TransformerNet(nn.Module):
    """The paper's style transfer network (magenta ``image_stylization`` layout).

    Args:
        config: a :class:`ModelConfig` (default: the paper's network with one style); keyword
            ``overrides`` replace its fields, e.g. ``TransformerNet(num_styles=10, width=0.5)``.
        style_names: the N styles' names (default ``"style 0"``, ...), distinct; used by
            :meth:`stylize` and kept in checkpoints.

    Call ``net(images, style)`` with images [B, 3, H, W] in [0, 1] (any H, W >= 16: the input is
    reflect-padded to a multiple of 4 and the output cropped back) and a style condition; the
    output is [B, 3, H, W] in [0, 1] (sigmoid).
    """

    def __init__(self, config: ModelConfig | None = None, *, style_names: Sequence[str] | None = None, **overrides):
        super().__init__()
        if config is not None and not isinstance(config, ModelConfig):
            raise TypeError(
                f"TransformerNet takes a ModelConfig (or keyword settings such as num_styles=4); got {config!r}."
            )
        self.config = replace(config or ModelConfig(), **overrides)
        cfg = self.config
        norm, pad = cfg.norm_factory(), cfg.padding
        c1, c2, c3 = cfg.channels()
        self.conv1 = ConvLayer(3, c1, 9, 1, norm=norm, padding=pad)
        self.conv2 = ConvLayer(c1, c2, 3, 2, norm=norm, padding=pad)
        self.conv3 = ConvLayer(c2, c3, 3, 2, norm=norm, padding=pad)
        self.residuals = nn.ModuleList([ResidualBlock(c3, norm, pad) for _ in range(5)])
        self.up1 = ConvLayer(c3, c2, 3, 1, norm=norm, upsample=cfg.upsample, padding=pad)
        self.up2 = ConvLayer(c2, c1, 3, 1, norm=norm, upsample=cfg.upsample, padding=pad)
        self.out = ConvLayer(c1, 3, 9, 1, norm=norm, padding=pad)
        self.style_names = check_style_names(style_names, cfg.num_styles)
        self.metadata: dict = {}  # how it was trained (filled by the trainer and by checkpoints)

    # ------------------------------------------------------------------ structure

    @property
    def num_styles(self) -> int:
        return self.config.num_styles

    def conv_layers(self) -> list[ConvLayer]:
        """The conv layers (conv + normaliser), in forward order: conv1 ... conv3, the residual
        blocks' two each, up1, up2, out."""
        return [m for m in self.modules() if isinstance(m, ConvLayer)]

    def norm_layers(self) -> list[nn.Module]:
        """The normalisers of :meth:`conv_layers`, in forward order."""
        return [layer.norm for layer in self.conv_layers()]

    def style_parameters(self) -> list[nn.Parameter]:
        """Every per-style table ([N, C] each: gamma and beta of each CIN layer), in forward order."""
        return [t for norm in self.norm_layers() if isinstance(norm, Norm) for t in norm.style_tables()]

    def shared_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not a per-style table (conv weights; a plain normaliser's affines)."""
        style_ids = {id(p) for p in self.style_parameters()}
        return [p for p in self.parameters() if id(p) not in style_ids]

    def num_shared_parameters(self) -> int:
        """Parameters shared by all styles: 1,674,432 at width 1 with CIN."""
        return sum(p.numel() for p in self.shared_parameters())

    def num_parameters_per_style(self) -> int:
        """Parameters owned by one style: 3,206 at width 1 (2 x 1,603 normalised channels)."""
        return sum(p.shape[1] for p in self.style_parameters())

    @property
    def has_style_rows(self) -> bool:
        """Whether the styles are rows of the normalisers' tables (CIN): needed to mix styles,
        add styles and export with style weights."""
        return NORMS[self.config.norm].per_style_rows

    # ------------------------------------------------------------------ forward

    def forward(
        self, images: torch.Tensor, style: StyleSpec | StyleCondition = 0, *, check: bool = True
    ) -> torch.Tensor:
        """Stylise ``images`` [B, 3, H, W] in [0, 1] under ``style``; returns [B, 3, H, W] in [0, 1].

        ``style`` is one style for all images or one per image (see :mod:`cinlab.style`).
        ``check=False`` skips the label-range and weight checks (a host sync each); trainers
        that make their own labels use it.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, H, W]; got shape {tuple(images.shape)}.")
        h, w = images.shape[-2:]
        if min(h, w) < MIN_IMAGE_SIZE:
            raise ValueError(
                f"The image is {h}x{w} px; the network needs at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} "
                "(it downsamples by 4 and pads by reflection). Upscale it first."
            )
        device = module_device(self)
        check_same_device(images, device)
        condition = resolve_style(style, self.num_styles, self.style_names, check=check)
        condition = condition.broadcast_to(images.shape[0]).to(device)
        # Pad (reflect) to a multiple of 4 so the two stride-2 convs and the two x2 upsamplings
        # give back the input's size exactly; crop back at the end.
        ph, pw = (-h) % 4, (-w) % 4
        x = F.pad(images, (0, pw, 0, ph), mode="reflect") if (ph or pw) else images
        if condition.kind == "spatial" and (ph or pw):
            padded = F.pad(condition.spatial_at(h, w), (0, pw, 0, ph), mode="replicate")
            condition = StyleCondition("spatial", padded, condition.rows)
        x = self.body(x, condition)
        return x[..., :h, :w] if (ph or pw) else x

    def body(self, x: torch.Tensor, condition: StyleCondition) -> torch.Tensor:
        """The layers themselves, for H and W multiples of 4 and a validated condition.

        :meth:`forward` adds input checks and padding around this; exporters trace it directly.
        """
        x = F.relu(self.conv1(x, condition))
        x = F.relu(self.conv2(x, condition))
        x = F.relu(self.conv3(x, condition))
        for block in self.residuals:
            x = block(x, condition)
        x = F.relu(self.up1(x, condition))
        x = F.relu(self.up2(x, condition))
        return torch.sigmoid(self.out(x, condition))

    # ------------------------------------------------------------------ use

    def style_index(self, style: int | str) -> int:
        """The label of a style given by label or by name."""
        return style_label(style, self.num_styles, self.style_names)

    @torch.inference_mode()
    def stylize(self, image, style: StyleSpec = 0, *, size=None, precision: str | torch.dtype = "auto") -> torch.Tensor:
        """Stylise one image (anything :func:`cinlab.load_image` accepts) in one or more styles.

        ``style`` follows :mod:`cinlab.style`: a label or name gives one output, a list gives
        one output per entry (one batched pass), a mixture ``{style: weight}`` or weights [N]
        one output, weights [K, N] K outputs. ``precision="auto"`` runs in bfloat16 (or float16
        on older GPUs) where the hardware does so natively (:func:`cinlab.hardware.choose_precision`;
        pixels differ from float32 by about 1/255); pass ``"float32"`` for exact float32.
        Returns [K, 3, H, W] float32 in [0, 1] on the CPU.
        """
        device = module_device(self)
        x = load_image(image, size, device=device)
        condition = resolve_style(style, self.num_styles, self.style_names).to(device)
        check_stylize_memory(self, x.shape[-2], x.shape[-1], condition.count, device)  # refuse before, not during
        x = x.expand(condition.count, -1, -1, -1)
        if device.type == "cuda":  # tensor cores want NHWC; converting the weights once is cheap
            self.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        was_training = self.training
        self.eval()
        try:
            with choose_precision(device, precision).autocast():
                out = self(x, condition)
        finally:
            self.train(was_training)
        return out.float().cpu()

    # ------------------------------------------------------------------ growing the style table

    @torch.no_grad()
    def add_styles(self, count: int, names: Sequence[str] | None = None, init: str = "mean") -> list[int]:
        """Append ``count`` styles to every normaliser's tables; returns their labels.

        New rows start at the mean of the existing styles' rows (``init="mean"``: an "average
        style", which :func:`cinlab.train.add_styles` then fine-tunes) or at gamma=1, beta=0
        (``init="identity"``, magenta's start). Existing rows are copied unchanged. Everything
        is checked before anything changes: a bad argument leaves the network as it was.
        """
        if not self.has_style_rows:
            raise ValueError(
                f"norm={self.config.norm!r} has no per-style rows: only such networks (e.g. 'cin') can take new styles."
            )
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer; got {count!r}.")
        if init not in ("mean", "identity"):
            raise ValueError(f"init must be 'mean' or 'identity'; got {init!r}.")
        old = self.num_styles
        names = list(names) if names is not None else [f"style {i}" for i in range(old, old + count)]
        if len(names) != count:
            raise ValueError(f"Got {len(names)} names for {count} new styles.")
        grown = replace(self.config, num_styles=old + count)  # checks the new size first
        names = check_style_names(self.style_names + names, old + count)[old:]
        for norm in self.norm_layers():
            norm.add_rows(count, init)
        self.config = grown
        self.style_names += names
        return list(range(old, old + count))


def check_style_names(names: Sequence[str] | None, num_styles: int) -> list[str]:
    """``names`` as a list of ``num_styles`` distinct strings (default ``"style 0"``, ...): a name picks a
    style, so two styles with one name would make a name mean either."""
    if names is None:
        return [f"style {i}" for i in range(num_styles)]
    names = list(names)
    if len(names) != num_styles:
        raise ValueError(f"Got {len(names)} style names for {num_styles} styles.")
    if not all(isinstance(n, str) and n for n in names):
        raise ValueError("Style names must be non-empty strings.")
    repeated = sorted(name for name, count in collections.Counter(names).items() if count > 1)
    if repeated:
        raise ValueError(
            f"Style name(s) {repeated} appear more than once: a name would be ambiguous; give each style its own."
        )
    return names


#: The network classes a checkpoint can name (``"class"``), so it rebuilds the right one.
ARCHITECTURES: dict[str, type[nn.Module]] = {"TransformerNet": TransformerNet}
