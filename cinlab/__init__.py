"""cinlab: neural style transfer for teaching, after Dumoulin, Shlens & Kudlur (ICLR 2017).

Three methods side by side: Gatys optimisation, single-style feed-forward networks and the
N-style network with conditional instance normalisation (CIN).
"""

__version__ = "0.1.0"

from .config import by_mode, fast_mode
from .data import center_crop, image_info, image_names, load_image, resize, save_image
from .loss_network import LossNetwork
from .losses import content_loss, gram_matrix, style_loss, total_variation
from .plots import show_images

__all__ = [
    "__version__",
    "by_mode",
    "fast_mode",
    "center_crop",
    "image_info",
    "image_names",
    "load_image",
    "resize",
    "save_image",
    "LossNetwork",
    "content_loss",
    "gram_matrix",
    "style_loss",
    "total_variation",
    "show_images",
]
