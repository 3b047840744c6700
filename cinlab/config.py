"""Settings read from the environment, in one place.

Environment variables (all optional):

``CINLAB_FAST``
    ``1`` selects the *fast mode* used by CI and nbval: small images and few steps, so every
    notebook runs in well under a minute on a CPU. Notebooks pick their sizes with
    :func:`by_mode`, so one variable switches all of them.
``CINLAB_DATA_DIR``
    A folder that already holds the registry's images (``styles/``, ``content/``), or where
    downloads are cached. Default: the user cache folder (``~/.cache/cinlab`` on Linux).
``CINLAB_VGG19_WEIGHTS`` / ``CINLAB_VGG16_WEIGHTS``
    Local weight files for the loss networks, for offline machines.
``CINLAB_ASSETS``
    The project's own ``data/`` folder (image registry, shipped checkpoints, logged results).
    Default: ``data/`` next to the ``cinlab`` package in the source checkout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")

FAST_ENV = "CINLAB_FAST"
DATA_DIR_ENV = "CINLAB_DATA_DIR"
ASSETS_ENV = "CINLAB_ASSETS"


def fast_mode() -> bool:
    """True when ``CINLAB_FAST`` is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def by_mode(*, fast: T, cpu: T, gpu: T | None = None) -> T:
    """Pick a setting for the current run: fast mode (CI), a CPU, or a GPU.

    Notebooks use this for image sizes and step counts, e.g.
    ``size = by_mode(fast=64, cpu=256, gpu=512)``. ``gpu`` defaults to ``cpu``.
    """
    if fast_mode():
        return fast
    if gpu is not None and torch.cuda.is_available():
        return gpu
    return cpu


def assets_dir() -> Path:
    """The project's ``data/`` folder: image registry, shipped checkpoints and logged results."""
    env = os.environ.get(ASSETS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data"


def native_bf16(device: torch.device | str) -> bool:
    """True where bfloat16 matmuls/convolutions run natively: CUDA, or a CPU with AMX or
    AVX512-BF16 (e.g. Intel Sapphire Rapids). Elsewhere bf16 would be emulated and slow."""
    device = torch.device(device)
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(check is not None and check() for check in checks)
