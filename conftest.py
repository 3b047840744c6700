"""Test settings: fast mode, and the image folder beside the checkout when there is one.

The notebooks run under nbval in the same process environment, so they inherit both.
"""

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("CINLAB_FAST", "1")
if not (os.environ.get("CINLAB_IMAGE_DIR") or os.environ.get("CINLAB_DATA_DIR")) and SHARED_DATA.is_dir():
    os.environ["CINLAB_IMAGE_DIR"] = str(SHARED_DATA)
os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def vgg19():
    """The embedded VGG-19 up to relu5_1 (shared by the tests: loading costs ~0.5 s)."""
    from cinlab import LossNetwork
    from cinlab.optimization import GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS
    from cinlab.paper import PAPER_STYLE_LAYERS

    layers = tuple(dict.fromkeys(GATYS_CONTENT_LAYERS + GATYS_STYLE_LAYERS + PAPER_STYLE_LAYERS))
    return LossNetwork("vgg19", layers=layers)


@pytest.fixture(scope="session")
def has_registry_images():
    from cinlab import registry

    return (registry.image_dir() / "styles" / "starry_night.jpg").exists()
