"""Versioned checkpoint files for :class:`~cinlab.model.TransformerNet`.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values, so it
loads with ``torch.load(weights_only=True)`` (no code from the file is ever run):

.. code-block:: text

    format          "cinlab-transformer"
    format_version  1
    cinlab_version  "0.1.0"
    model           {"config": ModelConfig fields, "style_names": [...], "state_dict": {...}}
    metadata        how it was trained: styles and their sha256, style size, loss network,
                    layers and weights, image size, batch size, steps, seed, ...
    training        (optional) optimiser and random-generator states and the step, to resume

Files are written atomically (a temporary file renamed into place), so an interrupted save
never leaves a broken checkpoint behind.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .data import atomic_write_bytes
from .model import ModelConfig, TransformerNet

FORMAT = "cinlab-transformer"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file is not a usable cinlab checkpoint (corrupt, foreign, newer, or mismatched)."""


def save_checkpoint(
    path: str | os.PathLike,
    model: TransformerNet,
    *,
    metadata: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    half: bool = False,
    overwrite: bool = True,
) -> Path:
    """Write ``model`` (and optionally training state) to ``path`` atomically.

    ``half=True`` stores float weights in float16 (small enough for git; loading converts back
    to float32). ``overwrite=False`` refuses to replace an existing file.
    """
    from . import __version__

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (or --overwrite) to replace it.")
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        state[key] = value.half() if half and value.is_floating_point() else value.clone()
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cinlab_version": __version__,
        "model": {"config": asdict(model.config), "style_names": list(model.style_names), "state_dict": state},
        "metadata": dict(metadata or {}),
        "training": training,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a checkpoint (``weights_only=True``); returns its dict.

    Raises :class:`CheckpointError` naming the problem for corrupt or truncated files, files
    that are not cinlab checkpoints, and files from a newer cinlab.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickled code refused by weights_only
        raise CheckpointError(
            f"{path} is corrupt, truncated or not a cinlab checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200] if str(err) else ''}). Re-download or re-train it."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a cinlab checkpoint (no '{FORMAT}' format tag).")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} uses checkpoint format {version!r}, newer than this cinlab understands ({FORMAT_VERSION}); "
            "upgrade cinlab."
        )
    model = payload.get("model")
    if not isinstance(model, dict) or not {"config", "style_names", "state_dict"} <= set(model):
        raise CheckpointError(f"{path} has no complete 'model' entry.")
    return payload


def model_from_checkpoint(payload: dict[str, Any], source: str = "checkpoint") -> TransformerNet:
    """Build the network a checkpoint describes and load its weights (float32)."""
    info = payload["model"]
    try:
        config = ModelConfig(**info["config"])
    except TypeError as err:
        raise CheckpointError(f"{source}: unknown model configuration {info['config']!r} ({err}).") from None
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
        raise CheckpointError(f"{source}: the weights do not match the recorded architecture ({str(err)[:300]}).") from None
    net.metadata = dict(payload.get("metadata") or {})
    return net


def load_model(path: str | os.PathLike, device: torch.device | str | None = None, *, num_styles: int | None = None) -> TransformerNet:
    """Load a trained :class:`TransformerNet` from a checkpoint file, in eval mode.

    ``num_styles``, if given, must match the checkpoint's (a clear error otherwise). The
    training metadata is available as ``model.metadata``.
    """
    payload = load_checkpoint(path)
    net = model_from_checkpoint(payload, str(path))
    if num_styles is not None and net.num_styles != num_styles:
        raise CheckpointError(
            f"{path} holds a network with {net.num_styles} styles, not the {num_styles} expected "
            f"({', '.join(net.style_names[:5])}{', ...' if net.num_styles > 5 else ''})."
        )
    if device is not None:
        net = net.to(device)
    return net.eval()


def load_weights_into(model: TransformerNet, path: str | os.PathLike) -> TransformerNet:
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
