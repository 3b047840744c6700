"""Settings read from the environment, in one place.

Environment variables (all optional):

``CINLAB_FAST``
    ``1`` selects the *fast mode* used by CI and nbval: small images and few steps, so every
    notebook runs in well under a minute on a CPU. Notebooks pick their sizes with
    :func:`by_mode`, so one variable switches all of them.
``CINLAB_IMAGE_DIR``
    The folder of paintings and photos (``styles/``, ``content/``, ``train_photos/``): where
    registry images are looked up and downloaded to. Default: the user cache folder
    (``~/.cache/cinlab`` on Linux). ``CINLAB_DATA_DIR`` is its older name and is still read.
``CINLAB_VGG19_WEIGHTS`` / ``CINLAB_VGG16_WEIGHTS``
    Local weight files for the loss networks, for offline machines.
``CINLAB_ASSETS``
    The project's own ``data/`` folder (image registry, shipped checkpoints, logged results).
    Default: ``data/`` next to the ``cinlab`` package in the source checkout.
``CINLAB_RENDER_THREADS``
    Threads for a live widget's renders on a CPU (default: half the cores), e.g. to measure.

Read here too, though set by ``torchrun`` rather than by users: ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK`` (:func:`torchrun_world_size`, :func:`torchrun_rank`, :func:`torchrun_local_rank`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")

FAST_ENV = "CINLAB_FAST"
IMAGE_DIR_ENV = "CINLAB_IMAGE_DIR"
LEGACY_IMAGE_DIR_ENV = "CINLAB_DATA_DIR"
ASSETS_ENV = "CINLAB_ASSETS"
RENDER_THREADS_ENV = "CINLAB_RENDER_THREADS"


def fast_mode() -> bool:
    """True when ``CINLAB_FAST`` is set to a true value (``1``, ``true``, ``yes``)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


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


def image_dir_from_env() -> Path | None:
    """The image folder named by ``CINLAB_IMAGE_DIR`` (or ``CINLAB_DATA_DIR``), if either is set."""
    value = os.environ.get(IMAGE_DIR_ENV) or os.environ.get(LEGACY_IMAGE_DIR_ENV)
    return Path(value) if value else None


def assets_dir() -> Path:
    """The project's ``data/`` folder: image registry, shipped checkpoints and logged results."""
    env = os.environ.get(ASSETS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data"


def models_dir() -> Path:
    """``data/models/``: the networks cinlab ships."""
    return assets_dir() / "models"


def results_dir() -> Path:
    """``data/results/``: the logs, summary and figures of the shipped networks' training."""
    return assets_dir() / "results"


def render_threads_from_env() -> int | None:
    """``CINLAB_RENDER_THREADS`` as a number of threads, if it is set."""
    value = os.environ.get(RENDER_THREADS_ENV, "").strip()
    return int(value) if value else None


def torchrun_world_size() -> int:
    """How many processes ``torchrun`` started for this job (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def torchrun_rank() -> int:
    """This process's rank in a ``torchrun`` job (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def torchrun_local_rank() -> int | None:
    """This process's GPU index on its machine under ``torchrun`` (None outside torchrun)."""
    value = os.environ.get("LOCAL_RANK")
    return int(value) if value is not None else None
