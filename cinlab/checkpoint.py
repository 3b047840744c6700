"""Versioned checkpoint files of trained networks.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values, so it
loads with ``torch.load(weights_only=True)`` (no code from the file is ever run):

.. code-block:: text

    format             "cinlab-transformer"
    format_version     3
    cinlab_version     "0.3.0"
    model              {"class": "TransformerNet", "config": ModelConfig fields,
                        "style_names": [...], "state_dict": {...}}
    checksum           sha256 of every tensor in model.state_dict (names, dtypes, shapes, bytes)
    metadata           how it was trained: the run's TrainConfig ("config") and run facts
                       (step, seconds, device, precision, style sha256s, ...)
    training           (optional) optimiser, scaler and random-generator states and the step
    training_checksum  sha256 of every tensor and value in training (format 3)

A checkpoint rebuilds its network from the class name and config it stores
(:data:`cinlab.model.ARCHITECTURES`; files without a class name are TransformerNets). Everything
is checked before a network is built: types, that the config is a valid one, that every stored
tensor has exactly the shape the config implies (worked out on PyTorch's "meta" device, which
allocates nothing, so a crafted file cannot make cinlab allocate gigabytes), that the weights are
finite, the checksums (a flipped byte in the weights or the optimiser state is reported, not
loaded), and that style names are distinct. Files are written atomically.

Format 1 (cinlab 0.1) carried no checksum; such a file is refused unless the caller says it
trusts it (``trust_unverified=True``), so declaring format 1 cannot switch verification off.
Format 2 (cinlab 0.2) files load as before; their training state has no checksum of its own.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ._version import __version__
from .files import check_output, write_bytes
from .hardware import resolve_device
from .model import ARCHITECTURES, ModelConfig, TransformerNet, check_style_names
from .shipped import resolve_model

FORMAT = "cinlab-transformer"
FORMAT_VERSION = 3


class CheckpointError(ValueError):
    """A file is not a usable cinlab checkpoint (corrupt, foreign, newer, or mismatched)."""


# ----------------------------------------------------------------------------- checksums


def tensor_checksum(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state dict's names, dtypes, shapes and bytes, in key order."""
    h = hashlib.sha256()
    for key in sorted(state):
        _hash_tensor(h, key, state[key])
    return h.hexdigest()


def _hash_tensor(h, key: str, value: torch.Tensor) -> None:
    value = value.detach().cpu().contiguous()
    h.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
    h.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())


def value_checksum(value: Any) -> str:
    """sha256 of a nest of dicts, lists, tensors and plain values (the training state): every
    tensor's bytes and every number, string and key, in order."""
    h = hashlib.sha256()

    def walk(v, path: str) -> None:
        if isinstance(v, torch.Tensor):
            _hash_tensor(h, path, v)
        elif isinstance(v, dict):
            h.update(f"{path}|dict|{len(v)}|".encode())
            for key in sorted(v, key=repr):
                walk(v[key], f"{path}/{key!r}")
        elif isinstance(v, (list, tuple)):
            h.update(f"{path}|{type(v).__name__}|{len(v)}|".encode())
            for i, item in enumerate(v):
                walk(item, f"{path}/{i}")
        else:
            h.update(f"{path}|{type(v).__name__}|{v!r}|".encode())

    walk(value, "")
    return h.hexdigest()


# ----------------------------------------------------------------------------- writing


def save_checkpoint(
    path, model: TransformerNet, *, metadata=None, training=None, half: bool = False, overwrite: bool = False
) -> Path:
    """Write ``model`` (and optionally training state) to ``path`` atomically.

    ``half=True`` stores float weights in float16 (small enough for git; loading converts back
    to float32). An existing file is replaced only with ``overwrite=True``.
    """
    path = check_output(path, overwrite)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        state[key] = value.half() if half and value.is_floating_point() else value.clone()
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cinlab_version": __version__,
        "model": {
            "class": type(model).__name__,
            "config": asdict(model.config),
            "style_names": list(model.style_names),
            "state_dict": state,
        },
        "checksum": tensor_checksum(state),
        "metadata": dict(metadata or {}),
        "training": training,
        "training_checksum": value_checksum(training) if training is not None else None,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_bytes(path, buffer.getvalue(), overwrite=overwrite)


# ----------------------------------------------------------------------------- reading


def load_checkpoint(path, *, trust_unverified: bool = False) -> dict[str, Any]:
    """Read and validate a checkpoint (``weights_only=True``); returns its dict.

    Raises :class:`CheckpointError` naming the problem for corrupt, truncated, foreign, newer,
    tampered or inconsistent files, before anything is built from them. ``trust_unverified``
    accepts a format-1 file, which has no checksum.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give the checkpoint file inside it (model.pt or checkpoint.pt).")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickled code refused by weights_only
        first = str(err).splitlines()[0][:160] if str(err) else ""
        if "weights_only" in str(err) or "Weights only load failed" in str(err):
            first = "it holds Python objects other than tensors and plain values, which cinlab never loads"
        raise CheckpointError(
            f"{path} is corrupt, truncated or not a cinlab checkpoint ({type(err).__name__}: {first}). "
            "Re-download or re-train it."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a cinlab checkpoint (no '{FORMAT}' format tag).")
    version = payload.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"{path} uses checkpoint format {version!r}, which this cinlab does not understand "
            f"({FORMAT_VERSION}); upgrade cinlab."
        )
    _validate_model_entry(payload.get("model"), path)
    stored = payload.get("checksum")
    if version == 1 and stored is None:
        if not trust_unverified:
            raise CheckpointError(
                f"{path} is an old (format 1) checkpoint without a checksum, so its weights cannot be verified. "
                "If you trust where it came from, load it with trust_unverified=True and save it again."
            )
    elif not isinstance(stored, str) or stored != tensor_checksum(payload["model"]["state_dict"]):
        raise CheckpointError(
            f"{path} is corrupt: its weights do not match the checksum stored with them. Re-download or re-train it."
        )
    for key in ("metadata", "training"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            raise CheckpointError(f"{path}: '{key}' should be a dict; the file is corrupt or not cinlab's.")
    if version >= 3 and payload.get("training") is not None:
        if payload.get("training_checksum") != value_checksum(payload["training"]):
            raise CheckpointError(
                f"{path} is corrupt: its training state (optimiser, generators) does not match the checksum stored "
                "with it. Resume from an earlier copy, or start the run again."
            )
    _check_finite(payload["model"]["state_dict"], path)
    return payload


def _validate_model_entry(model: Any, path: Path) -> None:
    """Types, the config, and every tensor's shape against the config: before any allocation."""
    bad = f"{path} is not a usable cinlab checkpoint:"
    if not isinstance(model, dict) or not {"config", "style_names", "state_dict"} <= set(model):
        raise CheckpointError(f"{bad} it has no complete 'model' entry.")
    config, names, state = model["config"], model["style_names"], model["state_dict"]
    architecture = model.get("class", "TransformerNet")
    if architecture not in ARCHITECTURES:
        raise CheckpointError(
            f"{bad} it holds a {architecture!r}, which this cinlab does not know ({sorted(ARCHITECTURES)})."
        )
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise CheckpointError(f"{bad} the model configuration is not a dict of settings.")
    try:
        parsed = ModelConfig(**config)
    except TypeError as err:
        raise CheckpointError(f"{bad} unknown model settings ({err}).") from None
    except ValueError as err:
        raise CheckpointError(f"{bad} {err}") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{bad} style_names must be a list of strings.")
    try:
        check_style_names(names, parsed.num_styles)
    except ValueError as err:
        raise CheckpointError(f"{bad} {err}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{bad} the weights must be a dict of tensors.")
    expected = expected_shapes(architecture, parsed)
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{bad} its weights do not fit its recorded architecture (missing {missing[:3]}, unexpected {unexpected[:3]})."
        )
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise CheckpointError(
                f"{bad} {key} has shape {tuple(state[key].shape)}, but its configuration ({parsed}) implies {shape}."
            )


def expected_shapes(architecture: str, config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor of a network with this config, worked out without allocating memory."""
    with torch.device("meta"):
        net = ARCHITECTURES[architecture](config)
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


def _check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    for key, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(
                f"{path} holds NaN or infinite weights ({key}): the network cannot draw anything. "
                "Re-download it, or re-train it with a lower learning rate or style weight."
            )


def model_from_checkpoint(payload: dict[str, Any], source: str = "checkpoint") -> TransformerNet:
    """Build the network a (validated) checkpoint describes and load its weights (float32)."""
    info = payload["model"]
    net = ARCHITECTURES[info.get("class", "TransformerNet")](
        ModelConfig(**info["config"]), style_names=info["style_names"]
    )
    state = {k: v.float() if v.is_floating_point() else v for k, v in info["state_dict"].items()}
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(
            f"{source}: the weights do not match the recorded architecture ({str(err)[:300]})."
        ) from None
    net.metadata = dict(payload.get("metadata") or {})
    return net


def load_model(path, device=None, *, num_styles: int | None = None) -> TransformerNet:
    """Load a trained network from a checkpoint file, or a shipped one by name, in eval mode.

    ``path``: a checkpoint file, or the name of a network cinlab ships (``"impressionist10"``,
    see :func:`cinlab.shipped.shipped_models`). ``device``: any spelling (default: the GPU when
    present, as everywhere in cinlab). ``num_styles``, if given, must match the checkpoint's.
    The training metadata is available as ``model.metadata``.
    """
    path = resolve_model(path)  # a network's name ("impressionist10") -> its file (cinlab.shipped)
    device = resolve_device(device)
    net = model_from_checkpoint(load_checkpoint(path), str(path))
    if num_styles is not None and net.num_styles != num_styles:
        raise CheckpointError(
            f"{path} holds a network with {net.num_styles} styles, not the {num_styles} expected "
            f"({', '.join(net.style_names[:5])}{', ...' if net.num_styles > 5 else ''})."
        )
    return net.to(device).eval()
