"""Versioned checkpoint files for :class:`~cinlab.model.TransformerNet`.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values, so it
loads with ``torch.load(weights_only=True)`` (no code from the file is ever run):

.. code-block:: text

    format          "cinlab-transformer"
    format_version  2
    cinlab_version  "0.2.0"
    model           {"config": ModelConfig fields, "style_names": [...], "state_dict": {...}}
    checksum        sha256 of every tensor in model.state_dict (names, dtypes, shapes, bytes)
    metadata        how it was trained: styles and their sha256, style size, loss network,
                    layers and weights, crop size, batch size, steps, seed, ...
    training        (optional) optimiser, scaler and random-generator states and the step

Everything is checked before a network is built: types, sizes (a crafted file cannot make
cinlab allocate 128 GB), that the weights fit the recorded architecture, and the checksum (a
flipped byte in the weights is reported, not loaded). Files are written atomically.
"""

from __future__ import annotations

import hashlib
import io
import numbers
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch

from .files import check_output, write_bytes
from .hardware import resolve_device
from .model import ModelConfig, TransformerNet
from .shipped import resolve_model

FORMAT = "cinlab-transformer"
FORMAT_VERSION = 2
#: More styles than this in one file is taken for a corrupt or crafted file.
MAX_STYLES = 100_000
MAX_WIDTH = 16.0


class CheckpointError(ValueError):
    """A file is not a usable cinlab checkpoint (corrupt, foreign, newer, or mismatched)."""


def tensor_checksum(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state dict's names, dtypes, shapes and bytes, in key order."""
    h = hashlib.sha256()
    for key in sorted(state):
        value = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
        h.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(
    path, model: TransformerNet, *, metadata=None, training=None, half: bool = False, overwrite: bool = False
) -> Path:
    """Write ``model`` (and optionally training state) to ``path`` atomically.

    ``half=True`` stores float weights in float16 (small enough for git; loading converts back
    to float32). An existing file is replaced only with ``overwrite=True``.
    """
    from . import __version__

    path = check_output(path, overwrite)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        state[key] = value.half() if half and value.is_floating_point() else value.clone()
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cinlab_version": __version__,
        "model": {"config": asdict(model.config), "style_names": list(model.style_names), "state_dict": state},
        "checksum": tensor_checksum(state),
        "metadata": dict(metadata or {}),
        "training": training,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_bytes(path, buffer.getvalue(), overwrite=overwrite)


def load_checkpoint(path) -> dict[str, Any]:
    """Read and validate a checkpoint (``weights_only=True``); returns its dict.

    Raises :class:`CheckpointError` naming the problem for corrupt, truncated, foreign, newer or
    tampered files, before anything is built from them.
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
            f"{path} is corrupt, truncated or not a cinlab checkpoint ({type(err).__name__}: {first}). Re-download or re-train it."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a cinlab checkpoint (no '{FORMAT}' format tag).")
    version = payload.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"{path} uses checkpoint format {version!r}, which this cinlab does not understand ({FORMAT_VERSION}); upgrade cinlab."
        )
    _validate_model_entry(payload.get("model"), path)
    if version >= 2:
        stored = payload.get("checksum")
        if not isinstance(stored, str) or stored != tensor_checksum(payload["model"]["state_dict"]):
            raise CheckpointError(
                f"{path} is corrupt: its weights do not match the checksum stored with them. Re-download or re-train it."
            )
    for key in ("metadata", "training"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            raise CheckpointError(f"{path}: '{key}' should be a dict; the file is corrupt or not cinlab's.")
    return payload


def _validate_model_entry(model: Any, path: Path) -> None:
    """Types and sizes of the 'model' entry, checked before any allocation."""
    bad = f"{path} is not a usable cinlab checkpoint:"
    if not isinstance(model, dict) or not {"config", "style_names", "state_dict"} <= set(model):
        raise CheckpointError(f"{bad} it has no complete 'model' entry.")
    config, names, state = model["config"], model["style_names"], model["state_dict"]
    if not isinstance(config, dict):
        raise CheckpointError(f"{bad} the model configuration is a {type(config).__name__}, not a dict.")
    known = {f.name for f in fields(ModelConfig)}
    if set(config) - known:
        raise CheckpointError(f"{bad} unknown model settings {sorted(set(config) - known)}.")
    num_styles, width = config.get("num_styles", 1), config.get("width", 1.0)
    if not isinstance(num_styles, int) or isinstance(num_styles, bool) or not 1 <= num_styles <= MAX_STYLES:
        raise CheckpointError(f"{bad} num_styles must be an integer from 1 to {MAX_STYLES:,}; got {num_styles!r}.")
    if not isinstance(width, numbers.Real) or isinstance(width, bool) or not 0 < float(width) <= MAX_WIDTH:
        raise CheckpointError(f"{bad} width must be a number in (0, {MAX_WIDTH}]; got {width!r}.")
    choices = {"norm": ("cin", "in", "bn"), "upsample": ("nearest", "transpose"), "padding": ("reflect", "zero")}
    for key, allowed in choices.items():
        if key in config and config[key] not in allowed:
            raise CheckpointError(f"{bad} {key} must be one of {allowed}; got {config[key]!r}.")
    if not isinstance(names, list) or len(names) != num_styles or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{bad} style_names must be a list of {num_styles} strings.")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{bad} the weights must be a dict of tensors.")
    gamma = state.get("conv1.norm.gamma")
    if config.get("norm", "cin") == "cin" and (gamma is None or gamma.dim() != 2 or gamma.shape[0] != num_styles):
        raise CheckpointError(f"{bad} its style tables do not have the {num_styles} rows its configuration records.")


def model_from_checkpoint(payload: dict[str, Any], source: str = "checkpoint") -> TransformerNet:
    """Build the network a (validated) checkpoint describes and load its weights (float32)."""
    info = payload["model"]
    config = ModelConfig(**info["config"])
    net = TransformerNet(
        config.num_styles,
        config.width,
        norm=config.norm,
        upsample=config.upsample,
        padding=config.padding,
        style_names=info["style_names"],
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
    """Load a trained :class:`TransformerNet` from a checkpoint file, in eval mode.

    ``device``: any spelling (default: the GPU when present, as everywhere in cinlab).
    ``num_styles``, if given, must match the checkpoint's. The training metadata is available
    as ``model.metadata``.
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


def load_weights_into(model: TransformerNet, path) -> TransformerNet:
    """Load a checkpoint's weights into an existing network of the same architecture."""
    payload = load_checkpoint(path)
    config = ModelConfig(**payload["model"]["config"])
    if config != model.config:
        what = "number of styles" if config.num_styles != model.config.num_styles else "architecture"
        raise CheckpointError(
            f"{path} does not fit this network: its {what} differs (checkpoint {config}, network {model.config})."
        )
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["model"]["state_dict"].items()}
    model.load_state_dict(state)
    model.style_names = list(payload["model"]["style_names"])
    return model
